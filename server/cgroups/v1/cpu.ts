// cgroup v1 `cpu` controller: CFS shares, period and quota.
import type { CgroupResources, CgroupWrite } from '../common.js';

export const CPU_SHARES = 'cpu.shares';
export const CPU_CFS_PERIOD = 'cpu.cfs_period_us';
export const CPU_CFS_QUOTA = 'cpu.cfs_quota_us';
/** nr_periods, nr_throttled, throttled_time (ns). */
export const CPU_STAT = 'cpu.stat';

export function cpuWrites(r: CgroupResources): CgroupWrite<'cpu'>[] {
  const out: CgroupWrite<'cpu'>[] = [];
  if (r.cpuShares !== undefined) out.push({ controller: 'cpu', file: CPU_SHARES, value: String(r.cpuShares) });
  // Period before quota; a shorter period can be refused (EINVAL) while the old quota no
  // longer fits the parent's, so it is retried after the quota is written (runc does the same).
  if (r.cpuPeriod !== undefined) {
    out.push({ controller: 'cpu', file: CPU_CFS_PERIOD, value: String(r.cpuPeriod), retryAfterRest: r.cpuQuota !== undefined });
  }
  if (r.cpuQuota !== undefined) out.push({ controller: 'cpu', file: CPU_CFS_QUOTA, value: String(r.cpuQuota) });
  return out;
}
