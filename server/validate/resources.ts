// Container resources (CRI LinuxContainerResources) checked against what the OCI runtime
// and the host accept, before any cgroup is touched: syntax and ranges through the one
// converter (cgroups/convert.ts), then the memory floor, cpusets within the host's CPUs and
// memory nodes, and hugepage sizes the host offers.
import { invalidArgument } from '../errors.js';
import { fromCriResources, type CriResources } from '../cgroups/convert.js';
import { LIMITS } from './limits.js';
import { parseCpuList, type HostOffer } from './host.js';
import { checkInteger } from './fields.js';
import { shown } from './text.js';

export interface CriResourcesWithOom extends CriResources {
  oom_score_adj: string;
}

const fmtList = (s: ReadonlySet<number>) => {
  const sorted = [...s].sort((a, b) => a - b);
  return sorted.length > 16 ? `${sorted.slice(0, 16).join(',')},… (${sorted.length})` : sorted.join(',');
};

function checkCpuset(value: string, field: string, have: ReadonlySet<number>, what: string): void {
  if (value.trim() === '') return;
  const want = parseCpuList(value);
  if (!want) throw invalidArgument(`${field} ${shown(value)} is not a list such as "0-2,4"`);
  const missing = [...want].filter((c) => !have.has(c));
  if (missing.length > 0) throw invalidArgument(`${field} ${shown(value)} names ${what} ${missing.slice(0, 8).join(',')} that this host does not have (it has ${fmtList(have)})`);
}

/**
 * `res` as a container (or pod) may ask for it. `memoryFloor` applies the OCI runtime's
 * least memory limit (containers; a pod's figures are informational sums).
 */
export function checkResources(res: CriResourcesWithOom, field: string, host: HostOffer, opts: { memoryFloor: boolean }): void {
  let r;
  try {
    r = fromCriResources(res);
  } catch (e) {
    throw invalidArgument(`${field}: ${(e as Error).message}`);
  }
  if (opts.memoryFloor && r.memoryLimit !== undefined && r.memoryLimit !== -1 && r.memoryLimit < LIMITS.minMemoryBytes) {
    throw invalidArgument(
      `${field}.memory_limit_in_bytes ${r.memoryLimit} is below ${LIMITS.minMemoryBytes} (6 MiB), the least limit the OCI runtime starts a container with (runc's tested minimum; a lower one fails in the runtime's own init)`,
    );
  }
  checkCpuset(res.cpuset_cpus, `${field}.cpuset_cpus`, host.cpus, 'CPUs');
  checkCpuset(res.cpuset_mems, `${field}.cpuset_mems`, host.mems, 'memory nodes');
  for (const h of r.hugepageLimits ?? []) {
    if (!host.hugepageSizes.includes(h.pageSize)) {
      throw invalidArgument(`${field}.hugepage_limits page size ${shown(h.pageSize)} is not offered by this host (it offers ${host.hugepageSizes.join(', ') || 'none'})`);
    }
  }
  if (res.oom_score_adj) checkInteger(res.oom_score_adj, `${field}.oom_score_adj`, -1000, 1000);
}
