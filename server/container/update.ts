// UpdateContainerResources: the cgroup manager converts the new limits once, for this
// host's hierarchy and driver, and applies them to the live container (`runtime update`,
// then what the runtime's update leaves out); the record keeps them for ContainerStatus.
import { failedPrecondition, invalidArgument } from '../errors.js';
import type { ContainerDeps } from './deps.js';
import type { UpdateContainerResourcesRequest__Output } from '../../wire/cri/generated/runtime/v1/UpdateContainerResourcesRequest.js';
import type { UpdateContainerResourcesResponse } from '../../wire/cri/generated/runtime/v1/UpdateContainerResourcesResponse.js';
import type { CallContext } from '../cri/rpc.js';

export async function updateContainerResources(deps: ContainerDeps, req: UpdateContainerResourcesRequest__Output, ctx: CallContext): Promise<UpdateContainerResourcesResponse> {
  if (!req.container_id) throw invalidArgument('container_id must not be empty');
  const id = deps.store.resolve(req.container_id);
  await deps.locks.run(id, async () => {
    const rec = deps.store.get(id);
    if (!rec || rec.creating) throw failedPrecondition(`container ${id} is being created or was removed`);
    if (rec.state === 'CONTAINER_EXITED' || rec.state === 'CONTAINER_UNKNOWN') throw failedPrecondition(`container ${id} is ${rec.state}; its resources cannot change`);
    if (!req.linux) return;
    let applied: unknown;
    await deps.sandboxes.cgroups.updateContainer({ cgroupsPath: rec.cgroupsPath, pid: rec.pid }, req.linux, (resources) => {
      applied = resources;
      return deps.runtime.forContainer(rec).update(id, rec.paths.bundle, resources);
    });
    // The metrics read limits back from the cgroup, a few targets per round: this one at the next.
    deps.metrics?.limitsChanged(id);
    rec.resources = { ...req.linux, oom_score_adj: rec.resources?.oom_score_adj ?? req.linux.oom_score_adj };
    deps.store.update(rec);
    ctx.log.info('container resources updated', { container_id: id, resources: applied });
  });
  return {};
}
