// ExecSync: `runtime exec` of a command in a running container with the container's own
// process settings (user, env, cwd, capabilities), stdout and stderr captured up to a cap,
// and a timeout that kills the exec'd process and is reported as DEADLINE_EXCEEDED. When
// the runtime cannot start the command at all (no such executable…), its typed error.
import { readFile } from 'node:fs/promises';
import { failedPrecondition, invalidArgument } from '../errors.js';
import { execCaptured } from '../runtime/oci-runtime.js';
import { containerFiles } from '../runtime/files.js';
import type { ContainerDeps } from './deps.js';
import type { OciSpec } from '../oci/types.js';
import type { ExecSyncRequest__Output } from '../../wire/cri/generated/runtime/v1/ExecSyncRequest.js';
import type { ExecSyncResponse } from '../../wire/cri/generated/runtime/v1/ExecSyncResponse.js';

/** Output kept per stream (CRI-O and containerd cap it too; kubelet probes need little). */
export const EXEC_SYNC_MAX_OUTPUT = 16 * 1024 * 1024;

export async function execSync(deps: ContainerDeps, req: ExecSyncRequest__Output): Promise<ExecSyncResponse> {
  if (!req.container_id) throw invalidArgument('container_id must not be empty');
  if (req.cmd.length === 0) throw invalidArgument('cmd must not be empty');
  const id = deps.store.resolve(req.container_id);
  const rec = deps.store.peek(id)!;
  if (rec.creating || rec.state !== 'CONTAINER_RUNNING') throw failedPrecondition(`container ${id} is not running`);
  const spec = JSON.parse(await readFile(containerFiles(rec).config, 'utf8')) as OciSpec;
  const proc = { ...spec.process, args: [...req.cmd], terminal: false };
  delete proc.oomScoreAdj;
  const timeoutMs = Math.max(0, Number(req.timeout || '0')) * 1000;
  const r = await execCaptured(deps.runtime.forContainer(rec), id, rec.paths.bundle, proc, timeoutMs, EXEC_SYNC_MAX_OUTPUT);
  return { stdout: r.stdout, stderr: r.stderr, exit_code: r.exitCode };
}
