// StopContainer: the stop signal (CRI stop_signal, the image's StopSignal, or SIGTERM),
// wait up to `timeout` seconds for conmon's exit file, then SIGKILL. Idempotent: a
// container that is not running is a success.
import { internal, invalidArgument } from '../errors.js';
import { markExited, markMonitorLost, waitExited } from './exits.js';
import type { ContainerDeps } from './deps.js';
import type { ContainerRecord } from './types.js';
import type { StopContainerRequest__Output } from '../../wire/cri/generated/runtime/v1/StopContainerRequest.js';
import type { StopContainerResponse } from '../../wire/cri/generated/runtime/v1/StopContainerResponse.js';
import type { CallContext } from '../cri/rpc.js';
import { killPoint } from '../kill-points.js';

/** Stops a container whose lock the caller holds. */
export async function stopLocked(deps: ContainerDeps, rec: ContainerRecord, timeoutSeconds: number, log: CallContext['log']): Promise<void> {
  if (rec.creating || rec.state === 'CONTAINER_EXITED') return;
  if (await markExited(deps, rec)) return; // exited on its own; the watcher had not caught up
  if (await markMonitorLost(deps, rec)) return; // its conmon was killed and the process is over
  const rt = deps.runtime.forContainer(rec);
  // A created container's init waits in the runtime for `start`: only SIGKILL ends it.
  if (timeoutSeconds > 0 && rec.state === 'CONTAINER_RUNNING') {
    await rt.kill(rec.id, rec.stopSignal);
    killPoint('container.stop.signalled');
    if (await waitExited(deps, rec, timeoutSeconds * 1000)) return;
    log.info('container did not stop in time; killing it', { container_id: rec.id, timeout_s: timeoutSeconds });
  }
  await rt.kill(rec.id, 'SIGKILL');
  killPoint('container.stop.killed');
  if (!(await waitExited(deps, rec, 15_000))) throw internal(`container ${rec.id} did not exit after SIGKILL`);
}

export async function stopContainer(deps: ContainerDeps, req: StopContainerRequest__Output, ctx: CallContext): Promise<StopContainerResponse> {
  if (!req.container_id) throw invalidArgument('container_id must not be empty');
  const id = deps.store.resolve(req.container_id);
  const timeout = Math.max(0, Number(req.timeout || '0'));
  await deps.locks.run(id, async () => {
    const rec = deps.store.get(id);
    if (!rec) return;
    await stopLocked(deps, rec, timeout, ctx.log);
  });
  return {};
}
