// THE one place where resources change shape: CRI LinuxContainerResources → hierarchy-
// neutral CgroupResources → cgroup v1 or v2 file writes (and → the OCI spec's
// linux.resources). Pure; the managers only carry the writes out.
import { invalidArgument } from '../errors.js';
import { shown } from '../validate/text.js';
import type { OciLinuxResources } from '../oci/types.js';
import type { CgroupResources, CgroupWrite, HugepageLimit, V1Controller, V2Controller } from './common.js';
import * as v1cpu from './v1/cpu.js';
import * as v1cpuset from './v1/cpuset.js';
import * as v1hugetlb from './v1/hugetlb.js';
import * as v1memory from './v1/memory.js';
import * as v1pids from './v1/pids.js';
import * as v2cpu from './v2/cpu.js';
import * as v2cpuset from './v2/cpuset.js';
import * as v2hugetlb from './v2/hugetlb.js';
import * as v2memory from './v2/memory.js';
import * as v2pids from './v2/pids.js';

/** The CRI fields we read (generated `LinuxContainerResources__Output`: int64 as decimal strings). */
export interface CriResources {
  cpu_period: string;
  cpu_quota: string;
  cpu_shares: string;
  memory_limit_in_bytes: string;
  memory_swap_limit_in_bytes: string;
  cpuset_cpus: string;
  cpuset_mems: string;
  hugepage_limits: readonly { page_size: string; limit: string }[];
  unified: Readonly<Record<string, string>>;
}

export const MIN_SHARES = 2;
export const MAX_SHARES = 262144;
export const MAX_WEIGHT = 10000;

/**
 * cgroup v1 cpu.shares → v2 cpu.weight, the linear map runc, crun and the design use:
 * weight = 1 + ((shares − 2) × 9999) / 262142, integer division. 2 → 1, 1024 → 39,
 * 262144 → 10000. Shares outside 2..262144 are clamped first, as the kernel clamps them on v1.
 */
export function sharesToWeight(shares: number): number {
  const s = Math.min(Math.max(Math.trunc(shares), MIN_SHARES), MAX_SHARES);
  return 1 + Math.floor(((s - MIN_SHARES) * 9999) / 262142);
}

/**
 * The inverse, for reporting a v2 weight as shares: the smallest shares value that maps to
 * the weight, so weight → shares → weight is exact. 1 → 2, 39 → 999, 10000 → 262144.
 */
export function weightToShares(weight: number): number {
  const w = Math.min(Math.max(Math.trunc(weight), 1), MAX_WEIGHT);
  return MIN_SHARES + Math.ceil(((w - 1) * 262142) / 9999);
}

/**
 * v2 memory.swap.max from the memory+swap total (runc's ConvertMemorySwapToCgroupV2Value):
 * swap alone = total − memory. -1 stays -1 (max); an unlimited memory with no swap value
 * means unlimited swap as on v1.
 */
export function swapToV2(memorySwap: number | undefined, memoryLimit: number | undefined): number | undefined {
  if (memoryLimit === -1 && memorySwap === undefined) return -1;
  if (memorySwap === undefined || memorySwap === -1) return memorySwap;
  if (memoryLimit === undefined || memoryLimit === -1) {
    throw invalidArgument('a swap limit needs a memory limit');
  }
  if (memorySwap < memoryLimit) {
    throw invalidArgument(`memory+swap limit ${memorySwap} is below the memory limit ${memoryLimit}`);
  }
  return memorySwap - memoryLimit;
}

function int64(value: string, field: string): number {
  if (!/^-?\d+$/.test(value)) throw invalidArgument(`${field} ${shown(value)} is not an integer`);
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw invalidArgument(`${field} ${value} is out of range`);
  return n;
}

/** 0 means "not set" in CRI; -1 means unlimited where the field allows it. */
function optionalLimit(value: string, field: string, allowUnlimited: boolean): number | undefined {
  const n = int64(value || '0', field);
  if (n === 0) return undefined;
  if (n === -1 && allowUnlimited) return -1;
  if (n < 0) throw invalidArgument(`${field} ${n} is negative`);
  return n;
}

const PAGE_SIZE = /^[1-9][0-9]*[KMGTP]B$/;
const CPU_LIST = /^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$/;

function checkCpuList(value: string, field: string): string {
  const v = value.trim();
  if (v !== '' && !CPU_LIST.test(v)) throw invalidArgument(`${field} ${shown(value)} is not a CPU/node list such as "0-2,4"`);
  return v;
}

// Control files the unified map may not touch: they are process placement and hierarchy
// structure, not resources.
const UNIFIED_FORBIDDEN = new Set(['cgroup.procs', 'cgroup.threads', 'cgroup.subtree_control', 'cgroup.kill', 'cgroup.type']);

function checkUnified(unified: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(unified)) {
    if (!/^[a-z0-9_]+\.[a-z0-9_.]+$/.test(key) || key.includes('..') || UNIFIED_FORBIDDEN.has(key)) {
      throw invalidArgument(`unified cgroup key ${shown(key)} is not a settable cgroup v2 file`);
    }
    if (value.includes('\n')) throw invalidArgument(`unified cgroup value for ${key} contains a newline`);
    out[key] = value;
  }
  return out;
}

export interface FromCriOptions {
  /** Pids limit from berth's config (CRI has none); ≤ 0 = unlimited; undefined = leave alone. */
  pidsLimit?: number;
  /**
   * The host accounts swap (v1 memory.memsw.*, v2 memory.swap.max). Without it swap values
   * are dropped, as containerd does.
   */
  swapAccounting?: boolean;
}

/**
 * CRI → neutral. Follows containerd: a memory limit without a swap limit also caps
 * memory+swap at the limit (no swap); cpu/memory values of 0 are "unset".
 */
export function fromCriResources(res: CriResources | null, opts: FromCriOptions = {}): CgroupResources {
  const out: CgroupResources = {};
  if (opts.pidsLimit !== undefined) out.pidsLimit = opts.pidsLimit;
  if (!res) return out;

  const shares = optionalLimit(res.cpu_shares, 'cpu_shares', false);
  if (shares !== undefined) out.cpuShares = Math.min(Math.max(shares, MIN_SHARES), MAX_SHARES);
  const period = optionalLimit(res.cpu_period, 'cpu_period', false);
  if (period !== undefined) {
    if (period < 1000 || period > 1_000_000) throw invalidArgument(`cpu_period ${period} is outside 1000..1000000 µs`);
    out.cpuPeriod = period;
  }
  const quota = optionalLimit(res.cpu_quota, 'cpu_quota', true);
  if (quota !== undefined) {
    if (quota !== -1 && quota < 1000) throw invalidArgument(`cpu_quota ${quota} is below the kernel's minimum of 1000 µs`);
    out.cpuQuota = quota;
  }
  const cpus = checkCpuList(res.cpuset_cpus, 'cpuset_cpus');
  if (cpus) out.cpusetCpus = cpus;
  const mems = checkCpuList(res.cpuset_mems, 'cpuset_mems');
  if (mems) out.cpusetMems = mems;

  const limit = optionalLimit(res.memory_limit_in_bytes, 'memory_limit_in_bytes', true);
  const swap = optionalLimit(res.memory_swap_limit_in_bytes, 'memory_swap_limit_in_bytes', true);
  if (limit !== undefined) out.memoryLimit = limit;
  if (opts.swapAccounting ?? true) {
    if (swap !== undefined) out.memorySwap = swap;
    else if (limit !== undefined) out.memorySwap = limit;
    if (out.memorySwap !== undefined && out.memorySwap !== -1 && limit !== undefined && limit !== -1 && out.memorySwap < limit) {
      throw invalidArgument(`memory_swap_limit_in_bytes ${out.memorySwap} is below memory_limit_in_bytes ${limit}`);
    }
  }

  const hugepages: HugepageLimit[] = res.hugepage_limits.map((h) => {
    if (!PAGE_SIZE.test(h.page_size)) throw invalidArgument(`hugepage page_size ${shown(h.page_size)} is not like "2MB" or "1GB"`);
    const l = int64(h.limit || '0', `hugepage limit for ${h.page_size}`);
    if (l < 0) throw invalidArgument(`hugepage limit for ${h.page_size} is negative`);
    return { pageSize: h.page_size, limit: l };
  });
  if (hugepages.length > 0) out.hugepageLimits = hugepages;

  const unified = checkUnified(res.unified);
  if (Object.keys(unified).length > 0) out.unified = unified;
  return out;
}

export interface V1WriteContext extends v1memory.MemoryWriteContext {}

/**
 * cgroup v1 writes, in order. The unified map has no v1 meaning: rather than drop it
 * silently, refuse it (runc refuses it too), so a pod never runs without limits it asked for.
 */
export function v1Writes(r: CgroupResources, ctx: V1WriteContext = {}): CgroupWrite<V1Controller>[] {
  if (r.unified && Object.keys(r.unified).length > 0) {
    throw invalidArgument(`the unified cgroup map (${Object.keys(r.unified).join(', ')}) needs cgroup v2; this host uses cgroup v1`);
  }
  return [
    ...v1cpuset.cpusetWrites(r),
    ...v1cpu.cpuWrites(r),
    ...v1memory.memoryWrites(r, ctx),
    ...v1hugetlb.hugetlbWrites(r),
    ...v1pids.pidsWrites(r),
  ];
}

/** The v2 controller a control file belongs to ("memory.high" → "memory"). */
export function v2ControllerOf(file: string): string {
  return file.slice(0, file.indexOf('.'));
}

/**
 * cgroup v2 writes, in order; unified entries last, and a unified entry replaces the write
 * of the same file the typed fields would have made (runc's precedence).
 */
export function v2Writes(r: CgroupResources, opts: { swapAccounting?: boolean } = {}): CgroupWrite<string>[] {
  const swap = opts.swapAccounting ?? true ? swapToV2(r.memorySwap, r.memoryLimit) : undefined;
  const typed: CgroupWrite<V2Controller>[] = [
    ...v2cpuset.cpusetWrites(r),
    ...v2cpu.cpuWrites({
      ...(r.cpuShares !== undefined ? { weight: sharesToWeight(r.cpuShares) } : {}),
      ...(r.cpuQuota !== undefined ? { quota: r.cpuQuota } : {}),
      ...(r.cpuPeriod !== undefined ? { period: r.cpuPeriod } : {}),
    }),
    ...v2memory.memoryWrites({
      ...(r.memoryLimit !== undefined ? { max: r.memoryLimit } : {}),
      ...(swap !== undefined ? { swap } : {}),
    }),
    ...v2hugetlb.hugetlbWrites(r),
    ...v2pids.pidsWrites(r),
  ];
  const unified = r.unified ?? {};
  const out: CgroupWrite<string>[] = typed.filter((w) => !(w.file in unified));
  for (const [file, value] of Object.entries(unified)) out.push({ controller: v2ControllerOf(file), file, value });
  return out;
}

/** Neutral → the OCI spec's linux.resources (runc applies them when it creates the container). */
export function toOciResources(r: CgroupResources, devices: OciLinuxResources['devices']): OciLinuxResources {
  const out: OciLinuxResources = { devices };
  const cpu: NonNullable<OciLinuxResources['cpu']> = {};
  if (r.cpuShares !== undefined) cpu.shares = r.cpuShares;
  if (r.cpuQuota !== undefined) cpu.quota = r.cpuQuota;
  if (r.cpuPeriod !== undefined) cpu.period = r.cpuPeriod;
  if (r.cpusetCpus) cpu.cpus = r.cpusetCpus;
  if (r.cpusetMems) cpu.mems = r.cpusetMems;
  if (Object.keys(cpu).length > 0) out.cpu = cpu;
  const memory: NonNullable<OciLinuxResources['memory']> = {};
  if (r.memoryLimit !== undefined) memory.limit = r.memoryLimit;
  if (r.memorySwap !== undefined) memory.swap = r.memorySwap;
  if (Object.keys(memory).length > 0) out.memory = memory;
  if (r.pidsLimit !== undefined) out.pids = { limit: r.pidsLimit > 0 ? r.pidsLimit : -1 };
  if (r.hugepageLimits) out.hugepageLimits = r.hugepageLimits.map((h) => ({ pageSize: h.pageSize, limit: h.limit }));
  if (r.unified) out.unified = { ...r.unified };
  return out;
}
