// cgroup v2 `cpuset` controller (same file names as v1; v2 inherits empty values from the parent).
import type { CgroupResources, CgroupWrite } from '../common.js';

export const CPUSET_CPUS = 'cpuset.cpus';
export const CPUSET_MEMS = 'cpuset.mems';

export function cpusetWrites(r: CgroupResources): CgroupWrite<'cpuset'>[] {
  const out: CgroupWrite<'cpuset'>[] = [];
  if (r.cpusetCpus) out.push({ controller: 'cpuset', file: CPUSET_CPUS, value: r.cpusetCpus });
  if (r.cpusetMems) out.push({ controller: 'cpuset', file: CPUSET_MEMS, value: r.cpusetMems });
  return out;
}
