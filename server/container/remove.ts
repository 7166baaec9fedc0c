// RemoveContainer: kill if still running, runtime delete, unmount the rootfs, remove its
// dirs and the cgroup directories it created, release the image lease, forget the record.
// Idempotent: an unknown id is a success.
import { rm } from 'node:fs/promises';
import { internal } from '../errors.js';
import { resolveIfPresent } from '../ids.js';
import { unmountAll } from '../mounts.js';
import { reapConmon } from '../runtime/conmon.js';
import { containerFiles } from '../runtime/files.js';
import { waitExited } from './exits.js';
import { containerEvent } from './status.js';
import type { ContainerDeps } from './deps.js';
import type { ContainerRecord } from './types.js';
import type { RemoveContainerRequest__Output } from '../../wire/cri/generated/runtime/v1/RemoveContainerRequest.js';
import type { RemoveContainerResponse } from '../../wire/cri/generated/runtime/v1/RemoveContainerResponse.js';
import type { CallContext } from '../cri/rpc.js';
import { killPoint } from '../kill-points.js';

/** Everything but the record: runtime state, conmon, mounts, dirs, cgroups, the image lease. */
export async function cleanupContainer(deps: ContainerDeps, rec: ContainerRecord): Promise<void> {
  await deps.runtime.forContainer(rec).delete(rec.id);
  killPoint('container.cleanup.runtime-deleted');
  await reapConmon(rec.conmonPid, rec.id);
  killPoint('container.cleanup.conmon-reaped');
  await unmountAll([rec.paths.rootfs]);
  killPoint('container.cleanup.unmounted');
  await rm(rec.paths.dir, { recursive: true, force: true });
  killPoint('container.cleanup.dir-removed');
  await rm(rec.paths.bundle, { recursive: true, force: true });
  killPoint('container.cleanup.bundle-removed');
  await rm(rec.paths.exitFile, { force: true });
  await rm(containerFiles(rec).socketLink, { force: true });
  // The container's own cgroup is the runtime's (delete removed it; what a create killed
  // midway left, berth removes); the ancestors that did not exist before this container go
  // when empty (another container may still use them).
  await deps.sandboxes.cgroups.removeContainerCgroup(rec);
  await deps.sandboxes.cgroups.removeContainerParents(rec.cgroupCreated);
  killPoint('container.cleanup.cgroups-removed');
  await deps.images.releaseLayers(rec.id);
  killPoint('container.cleanup.lease-released');
}

/** Removes a container whose lock the caller holds. */
export async function removeLocked(deps: ContainerDeps, rec: ContainerRecord, log: CallContext['log']): Promise<void> {
  if (!rec.creating && (rec.state === 'CONTAINER_RUNNING' || rec.state === 'CONTAINER_CREATED')) {
    // CRI: a running container is removed by force.
    await deps.runtime.forContainer(rec).kill(rec.id, 'SIGKILL');
    killPoint('container.remove.killed');
    await waitExited(deps, rec, 10_000);
  }
  await cleanupContainer(deps, rec);
  deps.store.delete(rec.id);
  killPoint('container.remove.record-deleted');
  // Its kept metrics readings go with it (not only at the sampler's next round).
  deps.metrics?.forget(rec.id);
  log.info('container removed', { container_id: rec.id });
  deps.events.publish(containerEvent(deps, rec, 'CONTAINER_DELETED_EVENT'));
}

export async function removeContainer(deps: ContainerDeps, req: RemoveContainerRequest__Output, ctx: CallContext): Promise<RemoveContainerResponse> {
  const id = resolveIfPresent((q) => deps.store.resolve(q), req.container_id, 'container');
  if (!id) return {};
  await deps.locks.run(id, async () => {
    const rec = deps.store.get(id);
    if (!rec) return;
    await removeLocked(deps, rec, ctx.log);
  });
  return {};
}
