// cgroup v1 `cpuset` controller. Unlike every other v1 controller, a new cpuset cgroup
// starts with EMPTY cpus and mems and refuses tasks until they are filled, so the manager
// copies them down from the parent on create (runc's ensureParent).
import type { CgroupResources, CgroupWrite } from '../common.js';

export const CPUSET_CPUS = 'cpuset.cpus';
export const CPUSET_MEMS = 'cpuset.mems';

export function cpusetWrites(r: CgroupResources): CgroupWrite<'cpuset'>[] {
  const out: CgroupWrite<'cpuset'>[] = [];
  if (r.cpusetCpus) out.push({ controller: 'cpuset', file: CPUSET_CPUS, value: r.cpusetCpus });
  if (r.cpusetMems) out.push({ controller: 'cpuset', file: CPUSET_MEMS, value: r.cpusetMems });
  return out;
}
