// cgroup v1 `cpuacct` controller: CPU time used, read only.

/** Total CPU time in ns. */
export const CPUACCT_USAGE = 'cpuacct.usage';
/** User and system CPU time in ns (kernels ≥ 4.7). */
export const CPUACCT_USAGE_USER = 'cpuacct.usage_user';
export const CPUACCT_USAGE_SYS = 'cpuacct.usage_sys';
/** "user N\nsystem N" in USER_HZ ticks; the fallback for older kernels. */
export const CPUACCT_STAT = 'cpuacct.stat';

/** USER_HZ is 100 on every Linux ABI we run on, so a tick is 10 ms. */
export const NS_PER_USER_HZ_TICK = 10_000_000n;
