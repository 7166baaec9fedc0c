// StartContainer: `runtime start` on a CREATED container → RUNNING with started_at.
// A failed start leaves the container EXITED with reason StartError (as containerd does);
// the error keeps the kind the runtime client gave the runtime's words.
import { BerthError, failedPrecondition, invalidArgument, messageOf, systemErrorKind } from '../errors.js';
import { nowNs } from '../time.js';
import { containerEvent } from './status.js';
import type { ContainerDeps } from './deps.js';
import type { StartContainerRequest__Output } from '../../wire/cri/generated/runtime/v1/StartContainerRequest.js';
import type { StartContainerResponse } from '../../wire/cri/generated/runtime/v1/StartContainerResponse.js';
import type { CallContext } from '../cri/rpc.js';
import { killPoint } from '../kill-points.js';

export async function startContainer(deps: ContainerDeps, req: StartContainerRequest__Output, ctx: CallContext): Promise<StartContainerResponse> {
  if (!req.container_id) throw invalidArgument('container_id must not be empty');
  const id = deps.store.resolve(req.container_id);
  await deps.locks.run(id, async () => {
    const rec = deps.store.get(id);
    if (!rec || rec.creating) throw failedPrecondition(`container ${id} is still being created or was removed`);
    if (rec.state !== 'CONTAINER_CREATED') throw failedPrecondition(`container ${id} is ${rec.state}, not CONTAINER_CREATED`);
    const sb = deps.sandboxes.store.get(rec.sandboxId);
    if (!sb || sb.state !== 'SANDBOX_READY') throw failedPrecondition(`pod sandbox ${rec.sandboxId} is not ready`);
    try {
      await deps.runtime.forContainer(rec).start(id);
      killPoint('container.start.runtime-started');
    } catch (e) {
      rec.state = 'CONTAINER_EXITED';
      rec.exitCode = 128;
      rec.reason = 'StartError';
      rec.message = messageOf(e);
      rec.finishedAt = nowNs().toString();
      deps.store.update(rec);
      throw new BerthError(e instanceof BerthError ? e.kind : (systemErrorKind(e) ?? 'Internal'), `starting container ${id} failed: ${messageOf(e)}`, { cause: e });
    }
    rec.state = 'CONTAINER_RUNNING';
    rec.startedAt = nowNs().toString();
    deps.store.update(rec);
    killPoint('container.start.recorded');
    ctx.log.info('container started', { container_id: id, pid: rec.pid });
    deps.events.publish(containerEvent(deps, rec, 'CONTAINER_STARTED_EVENT'));
  });
  return {};
}
