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

/** A cpuset list ("0-3,8,10-11") → how many CPUs (or memory nodes) it names; "" → 0; undefined when garbled. */
export function cpuListCount(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const t = text.trim();
  if (t === '') return 0;
  let n = 0;
  for (const part of t.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) return undefined;
    n += m[2] === undefined ? 1 : Number(m[2]) - Number(m[1]) + 1;
  }
  return n;
}
