// The one cgroup interface berth codes against (youki's libcgroups common.rs, CRI-O's
// cgmgr): a hierarchy-neutral resource object, the file writes a hierarchy turns it into,
// the stats read back, and the manager that owns one cgroup.

import type { Pressure, PsiResource } from './v2/psi.js';
import type { DeviceValue } from './v1/blkio.js';
import type { IoMaxEntry } from './v2/io.js';

export type CgroupVersion = 1 | 2;

/**
 * Resources in runc's vocabulary (configs.Resources), independent of the hierarchy. An
 * absent field leaves the current value alone. -1 means "unlimited" where allowed.
 */
export interface CgroupResources {
  /** cgroup v1 cpu.shares units (2..262144); v2 converts to cpu.weight. */
  cpuShares?: number;
  /** CFS quota in µs per period; -1 = no limit. */
  cpuQuota?: number;
  /** CFS period in µs. */
  cpuPeriod?: number;
  cpusetCpus?: string;
  cpusetMems?: string;
  /** Bytes; -1 = no limit. */
  memoryLimit?: number;
  /**
   * Memory + swap in bytes (runc/OCI semantics, = v1 memory.memsw.limit_in_bytes); -1 = no
   * limit. Equal to memoryLimit means "no swap".
   */
  memorySwap?: number;
  hugepageLimits?: HugepageLimit[];
  /** Maximum number of tasks; ≤ 0 = no limit. */
  pidsLimit?: number;
  /** cgroup v2 files written as given, after (and overriding) everything else. v2 only. */
  unified?: Record<string, string>;
}

export interface HugepageLimit {
  /** As in cgroup file names: "2MB", "1GB", "64KB". */
  pageSize: string;
  /** Bytes. */
  limit: number;
}

export type V1Controller = 'cpu' | 'cpuacct' | 'cpuset' | 'memory' | 'pids' | 'hugetlb' | 'blkio' | 'devices' | 'freezer';
export type V2Controller = 'cpu' | 'cpuset' | 'memory' | 'pids' | 'hugetlb' | 'io';

/** One write of one control file, in the order given. */
export interface CgroupWrite<C extends string = string> {
  controller: C;
  file: string;
  value: string;
  /**
   * The kernel may refuse this value with EINVAL until a later write in the same batch
   * lands (a smaller cfs period against the parent's quota): retry it once after the rest,
   * as runc does.
   */
  retryAfterRest?: boolean;
}

/** CPU time counters in nanoseconds. */
export interface CpuStats {
  usageNs: bigint;
  userNs?: bigint;
  systemNs?: bigint;
  periods?: bigint;
  throttledPeriods?: bigint;
  throttledNs?: bigint;
}

export interface MemoryStats {
  /** Bytes charged to the cgroup (v1 usage_in_bytes, v2 memory.current). */
  usage: number;
  /** usage − inactive_file, floored at 0: what kubelet evicts on and cAdvisor reports. */
  workingSet: number;
  /** Anonymous memory (v1 total_rss, v2 anon). */
  rss?: number;
  /** Page cache (v1 total_cache, v2 file). */
  cache?: number;
  inactiveFile?: number;
  mappedFile?: number;
  /** null = unlimited. */
  limit?: number | null;
  maxUsage?: number;
  swapUsage?: number;
  pageFaults?: bigint;
  majorPageFaults?: bigint;
  /** Times the limit was hit (v1 failcnt, v2 memory.events max). */
  failcnt?: bigint;
  /** Times the cgroup hit OOM (v2 memory.events oom; v1: oom_kill as the closest counter). */
  oomEvents?: bigint;
  /** Processes killed by the OOM killer in this cgroup (v1 oom_control oom_kill, v2 memory.events oom_kill). */
  oomKills?: bigint;
}

export interface PidsStats {
  current: number;
  /** null = unlimited. */
  limit?: number | null;
}

export interface IoDeviceStats {
  major: number;
  minor: number;
  readBytes: bigint;
  writeBytes: bigint;
  readOps: bigint;
  writeOps: bigint;
}

export interface IoStats {
  readBytes: bigint;
  writeBytes: bigint;
  readOps: bigint;
  writeOps: bigint;
  devices: IoDeviceStats[];
}

export interface HugetlbStats {
  pageSize: string;
  usage: number;
  maxUsage?: number;
  failcnt?: bigint;
}

/** What a cgroup reports, the same shape for both hierarchies; a part is absent when its files are. */
export interface CgroupStats {
  cpu?: CpuStats;
  memory?: MemoryStats;
  pids?: PidsStats;
  io?: IoStats;
  hugetlb?: HugetlbStats[];
}

/**
 * Limits read back from a cgroup's files (so a change by UpdateContainerResources, the unified
 * map or an operator shows at the next read). A field is absent when the kernel does not
 * offer its file; null = unlimited.
 */
export interface CgroupLimits {
  /** µs per period. */
  cpuQuotaUs?: number | null;
  cpuPeriodUs?: number;
  /** v1 cpu.shares; v2 cpu.weight converted back to shares. */
  cpuShares?: number;
  cpusetCpus?: string;
  cpusetCpuCount?: number;
  cpusetMems?: string;
  memoryLimit?: number | null;
  /** v1 memory.soft_limit_in_bytes, v2 memory.min (as cAdvisor). */
  memoryReservation?: number | null;
  /** memory + swap, as v1's memsw (v2: swap.max + memory.max, as cAdvisor does). */
  memorySwapLimit?: number | null;
  pidsLimit?: number | null;
  hugepages: { pageSize: string; limit: number | null }[];
  /** v1 blkio throttle files (each present only when the kernel has it). */
  blkioThrottle?: { readBps?: DeviceValue[]; writeBps?: DeviceValue[]; readIops?: DeviceValue[]; writeIops?: DeviceValue[] };
  /** v2 io.max. */
  ioMax?: IoMaxEntry[];
  /** v1 blkio.weight / v2 io.weight, when present. */
  ioWeight?: { default?: number; devices: DeviceValue[] };
}

/** What one read of a cgroup may include besides the usage stats. */
export interface SnapshotParts {
  limits?: boolean;
  /**
   * false: the usage stats leave out the two limits they carry (memory.limit, pids.limit) and
   * their files are not read; for a caller that keeps the limits it read earlier (the sampler).
   */
  statLimits?: boolean;
  /** PSI (the cgroup2 directory: v2, or the unified side of a hybrid host). */
  pressure?: boolean;
}

/** One read of a cgroup: usage, limits and pressure when asked for, and its processes. */
export interface CgroupSnapshot {
  stats: CgroupStats;
  limits?: CgroupLimits;
  pressure?: Partial<Record<PsiResource, Pressure>>;
  /** Processes in the cgroup itself (cgroup.procs). */
  procs: number[];
}

/** One cgroup (a pod's or a container's), on whichever hierarchy the host has. */
export interface CgroupManager {
  readonly version: CgroupVersion;
  /** The cgroup path relative to the hierarchy root, e.g. "/kubepods/besteffort/pod1/abc". */
  readonly path: string;
  /** Create the cgroup (and missing ancestors); idempotent. */
  create(): Promise<void>;
  /** Write the resources; fields left out keep their value. */
  apply(resources: CgroupResources): Promise<void>;
  /** Move a process into the cgroup. */
  addPid(pid: number): Promise<void>;
  /** Processes in the cgroup itself (not its children). */
  pids(): Promise<number[]>;
  stats(): Promise<CgroupStats>;
  /**
   * The one reader of the cgroup's files, for stats() and the metrics sampler: every file is
   * read once, synchronously (cgroupfs files are generated by the kernel and never wait on a
   * device; see fs.ts). Undefined when the cgroup does not exist.
   */
  snapshot(parts?: SnapshotParts): CgroupSnapshot | undefined;
  /** Pressure stall information (v2 only; undefined on v1 or when PSI is off). */
  pressure(resource: PsiResource): Promise<Pressure | undefined>;
  /** Remove the cgroup; idempotent; fails while processes remain. */
  destroy(): Promise<void>;
}
