// StopPodSandbox: stop the pod's containers, then release what the pod holds (init,
// network, namespaces, /dev/shm). Idempotent: stopping a stopped pod is a no-op success.
import { nowNs } from '../time.js';
import { releasePodResources } from './teardown.js';
import { sandboxEvent } from './status.js';
import type { SandboxDeps } from './deps.js';
import type { SandboxRecord } from './types.js';
import type { StopPodSandboxRequest__Output } from '../../wire/cri/generated/runtime/v1/StopPodSandboxRequest.js';
import type { StopPodSandboxResponse } from '../../wire/cri/generated/runtime/v1/StopPodSandboxResponse.js';
import type { CallContext } from '../cri/rpc.js';
import { killPoint } from '../kill-points.js';

/** Stops a pod whose lock the caller holds. */
export async function stopLocked(deps: SandboxDeps, rec: SandboxRecord, ctx: CallContext): Promise<void> {
  await deps.containers.stopAll(rec.id, ctx.log);
  killPoint('sandbox.stop.containers-stopped');
  const wasReady = rec.state === 'SANDBOX_READY';
  // NOTREADY first: from here on the pod must not be used, whatever the steps below do.
  rec.state = 'SANDBOX_NOTREADY';
  rec.runtime.stoppedAt ??= nowNs().toString();
  deps.store.update(rec);
  killPoint('sandbox.stop.notready-recorded');
  await releasePodResources(deps, rec, () => deps.store.update(rec));
  deps.store.update(rec);
  killPoint('sandbox.stop.released-recorded');
  if (wasReady) {
    ctx.log.info('pod sandbox stopped', { sandbox_id: rec.id });
    deps.events.publish(sandboxEvent(deps, rec, 'CONTAINER_STOPPED_EVENT'));
  }
}

export async function stopPodSandbox(deps: SandboxDeps, req: StopPodSandboxRequest__Output, ctx: CallContext): Promise<StopPodSandboxResponse> {
  const id = deps.store.resolve(req.pod_sandbox_id);
  await deps.locks.run(id, async () => {
    const rec = deps.store.get(id);
    if (!rec) return; // removed while we waited for the lock
    await stopLocked(deps, rec, ctx);
  });
  return {};
}
