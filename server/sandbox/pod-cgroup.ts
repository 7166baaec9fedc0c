// The pod-level cgroup, through the one cgroup manager (server/cgroups/manager.ts): under
// cgroupfs a directory under cgroup_parent in every hierarchy, under systemd the pod's slice
// (started only when kubelet has not). Removal takes away only what berth made.
import type { Cgroups } from '../cgroups/manager.js';
import type { PodCgroup } from '../cgroups/driver.js';

export type { PodCgroup };

export function createPodCgroup(parent: string, cgroups: Cgroups, onPlanned?: (planned: PodCgroup) => void): Promise<PodCgroup> {
  return cgroups.createPod(parent, onPlanned);
}

export function removePodCgroup(pc: PodCgroup, cgroups: Cgroups): Promise<void> {
  return cgroups.removePod(pc);
}
