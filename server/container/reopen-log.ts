// ReopenContainerLog: kubelet rotated the log file; conmon reopens it on a message on its
// control pipe and writes on into the new file without losing a line.
import { stat } from 'node:fs/promises';
import { failedPrecondition, invalidArgument } from '../errors.js';
import { reopenLogMessage, writeCtl } from '../runtime/ctl.js';
import { containerFiles } from '../runtime/files.js';
import type { ContainerDeps } from './deps.js';
import type { ReopenContainerLogRequest__Output } from '../../wire/cri/generated/runtime/v1/ReopenContainerLogRequest.js';
import type { ReopenContainerLogResponse } from '../../wire/cri/generated/runtime/v1/ReopenContainerLogResponse.js';

export async function reopenContainerLog(deps: ContainerDeps, req: ReopenContainerLogRequest__Output): Promise<ReopenContainerLogResponse> {
  if (!req.container_id) throw invalidArgument('container_id must not be empty');
  const id = deps.store.resolve(req.container_id);
  const rec = deps.store.peek(id)!;
  if (rec.state !== 'CONTAINER_RUNNING') throw failedPrecondition(`container ${id} is not running`);
  await writeCtl(containerFiles(rec).ctl, reopenLogMessage());
  // conmon creates the new file when it handles the message.
  for (let i = 0; i < 100; i++) {
    try {
      await stat(rec.monitorLogPath);
      return {};
    } catch {
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  throw failedPrecondition(`the container's monitor did not reopen ${rec.monitorLogPath}`);
}
