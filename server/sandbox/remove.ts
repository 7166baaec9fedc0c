// RemovePodSandbox: stop if needed, remove the pod's containers, then its cgroup,
// files and record. Idempotent: an id that is already gone is a success, never NOT_FOUND.
import { resolveIfPresent } from '../ids.js';
import { stopLocked } from './stop.js';
import { removePodResources } from './teardown.js';
import { sandboxEvent } from './status.js';
import type { SandboxDeps } from './deps.js';
import type { RemovePodSandboxRequest__Output } from '../../wire/cri/generated/runtime/v1/RemovePodSandboxRequest.js';
import type { RemovePodSandboxResponse } from '../../wire/cri/generated/runtime/v1/RemovePodSandboxResponse.js';
import type { CallContext } from '../cri/rpc.js';
import { killPoint } from '../kill-points.js';

export async function removePodSandbox(deps: SandboxDeps, req: RemovePodSandboxRequest__Output, ctx: CallContext): Promise<RemovePodSandboxResponse> {
  const id = resolveIfPresent((q) => deps.store.resolve(q), req.pod_sandbox_id, 'pod sandbox');
  if (!id) return {};
  await deps.locks.run(id, async () => {
    const rec = deps.store.get(id);
    if (!rec) return;
    // Stopping is idempotent and also finishes a stop or a rollback that was interrupted.
    await stopLocked(deps, rec, ctx);
    await deps.containers.removeAll(id, ctx.log);
    killPoint('sandbox.remove.containers-removed');
    await removePodResources(deps, rec);
    killPoint('sandbox.remove.resources-removed');
    deps.store.delete(id);
    killPoint('sandbox.remove.record-deleted');
    ctx.log.info('pod sandbox removed', { sandbox_id: id });
    deps.events.publish(sandboxEvent(deps, rec, 'CONTAINER_DELETED_EVENT'));
  });
  return {};
}
