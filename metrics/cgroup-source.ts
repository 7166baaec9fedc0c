// The ONE place where metrics/ touches server/cgroups: the host layout, the manager's usage
// stats, and where each controller's directory of a cgroup is. Everything else in metrics/
// works on the CgroupReading below, so a change of the cgroup manager's API is a change of
// this file only. The limit and pressure files are read here too (parsed by cgroup-files.ts).
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { readCgroupLayout, type CgroupLayout } from '../server/cgroups/detect.js';
import { createCgroupManager } from '../server/cgroups/manager.js';
import type { CgroupStats } from '../server/cgroups/common.js';
import {
  cpuListCount,
  hugepageLimitFiles,
  parseCpuMax,
  parseDeviceValues,
  parseIoMax,
  parseIoWeight,
  parseNumber,
  parsePressure,
  weightToShares,
  type DeviceValue,
  type IoMaxEntry,
  type Pressure,
} from './cgroup-files.js';

export type { CgroupStats };

/** Limits read back from the cgroup; a field is absent when the kernel does not offer its file. null = unlimited. */
export interface CgroupLimits {
  cpuQuotaUs?: number | null;
  cpuPeriodUs?: number;
  cpuShares?: number;
  cpusetCpus?: string;
  cpusetCpuCount?: number;
  cpusetMems?: string;
  memoryLimit?: number | null;
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

export interface CgroupReading {
  version: 1 | 2;
  stats: CgroupStats;
  limits: CgroupLimits;
  pressure?: { cpu?: Pressure; memory?: Pressure; io?: Pressure };
  /** Processes in the cgroup (cgroup.procs), for the process family. */
  pids: number[];
}

let layoutPromise: Promise<CgroupLayout> | undefined;
export const hostLayout = (): Promise<CgroupLayout> => (layoutPromise ??= readCgroupLayout());

const errno = (e: unknown) => (e as NodeJS.ErrnoException | undefined)?.code;

async function read(dir: string | undefined, file: string): Promise<string | undefined> {
  if (dir === undefined) return undefined;
  try {
    return await readFile(join(dir, file), 'utf8');
  } catch (e) {
    if (errno(e) === 'ENOENT') return undefined;
    throw e;
  }
}

async function list(dir: string | undefined): Promise<string[]> {
  if (dir === undefined) return [];
  try {
    return await readdir(dir);
  } catch (e) {
    if (errno(e) === 'ENOENT') return [];
    throw e;
  }
}

const procs = (text: string | undefined) => (text ?? '').split('\n').filter((l) => /^\d+$/.test(l)).map(Number);

// v1 says "unlimited" with the largest page-aligned long.
const V1_UNLIMITED = 2 ** 62;
const limitOf = (v: number | null | undefined) => (v === undefined ? undefined : v === null || v >= V1_UNLIMITED || v < 0 ? null : v);

async function hugepageLimits(dir: string | undefined): Promise<CgroupLimits['hugepages']> {
  const out: CgroupLimits['hugepages'] = [];
  for (const { pageSize, file } of hugepageLimitFiles(await list(dir))) {
    const v = parseNumber(await read(dir, file));
    if (v !== undefined) out.push({ pageSize, limit: limitOf(v) ?? null });
  }
  return out;
}

async function pressureOf(dir: string | undefined): Promise<CgroupReading['pressure']> {
  if (dir === undefined) return undefined;
  const [cpu, memory, io] = await Promise.all(['cpu.pressure', 'memory.pressure', 'io.pressure'].map(async (f) => parsePressure(await read(dir, f))));
  if (!cpu && !memory && !io) return undefined;
  return { ...(cpu ? { cpu } : {}), ...(memory ? { memory } : {}), ...(io ? { io } : {}) };
}

function set<K extends keyof CgroupLimits>(l: CgroupLimits, k: K, v: CgroupLimits[K] | undefined): void {
  if (v !== undefined) l[k] = v;
}

async function v1Limits(dirOf: (c: string) => string | undefined, unifiedDir: string | undefined): Promise<CgroupLimits> {
  const cpu = dirOf('cpu');
  const mem = dirOf('memory');
  const blk = dirOf('blkio');
  const cpuset = dirOf('cpuset');
  const [quota, period, shares, cpus, mems, limit, soft, memsw, pidsMax, rBps, wBps, rIops, wIops, weight] = await Promise.all([
    read(cpu, 'cpu.cfs_quota_us'),
    read(cpu, 'cpu.cfs_period_us'),
    read(cpu, 'cpu.shares'),
    read(cpuset, 'cpuset.cpus'),
    read(cpuset, 'cpuset.mems'),
    read(mem, 'memory.limit_in_bytes'),
    read(mem, 'memory.soft_limit_in_bytes'),
    read(mem, 'memory.memsw.limit_in_bytes'),
    read(dirOf('pids'), 'pids.max'),
    read(blk, 'blkio.throttle.read_bps_device'),
    read(blk, 'blkio.throttle.write_bps_device'),
    read(blk, 'blkio.throttle.read_iops_device'),
    read(blk, 'blkio.throttle.write_iops_device'),
    read(blk, 'blkio.weight'),
  ]);
  const l: CgroupLimits = { hugepages: [] };
  const q = parseNumber(quota);
  if (q !== undefined) l.cpuQuotaUs = q === null || q < 0 ? null : q;
  set(l, 'cpuPeriodUs', parseNumber(period) ?? undefined);
  set(l, 'cpuShares', parseNumber(shares) ?? undefined);
  if (cpus !== undefined) {
    l.cpusetCpus = cpus.trim();
    set(l, 'cpusetCpuCount', cpuListCount(cpus));
  }
  if (mems !== undefined) l.cpusetMems = mems.trim();
  set(l, 'memoryLimit', limitOf(parseNumber(limit)));
  set(l, 'memoryReservation', limitOf(parseNumber(soft)));
  set(l, 'memorySwapLimit', limitOf(parseNumber(memsw)));
  set(l, 'pidsLimit', limitOf(parseNumber(pidsMax)));
  if (rBps !== undefined || wBps !== undefined || rIops !== undefined || wIops !== undefined) {
    const t: NonNullable<CgroupLimits['blkioThrottle']> = {};
    if (rBps !== undefined) t.readBps = parseDeviceValues(rBps);
    if (wBps !== undefined) t.writeBps = parseDeviceValues(wBps);
    if (rIops !== undefined) t.readIops = parseDeviceValues(rIops);
    if (wIops !== undefined) t.writeIops = parseDeviceValues(wIops);
    l.blkioThrottle = t;
  }
  set(l, 'ioWeight', parseIoWeight(weight));
  // hugetlb may be a v1 hierarchy or (hybrid hosts) live on the cgroup2 mount.
  l.hugepages = dirOf('hugetlb') !== undefined ? await hugepageLimits(dirOf('hugetlb')) : await hugepageLimits(unifiedDir);
  return l;
}

async function v2Limits(dir: string): Promise<CgroupLimits> {
  const [cpuMax, weight, cpus, mems, max, min, swapMax, pidsMax, ioMax, ioWeight] = await Promise.all(
    ['cpu.max', 'cpu.weight', 'cpuset.cpus.effective', 'cpuset.mems.effective', 'memory.max', 'memory.min', 'memory.swap.max', 'pids.max', 'io.max', 'io.weight'].map((f) => read(dir, f)),
  );
  const l: CgroupLimits = { hugepages: await hugepageLimits(dir) };
  const cm = parseCpuMax(cpuMax);
  if (cm) {
    l.cpuQuotaUs = cm.quota;
    l.cpuPeriodUs = cm.period;
  }
  const w = parseNumber(weight);
  if (typeof w === 'number') l.cpuShares = weightToShares(w);
  if (cpus !== undefined) {
    l.cpusetCpus = cpus.trim();
    set(l, 'cpusetCpuCount', cpuListCount(cpus));
  }
  if (mems !== undefined) l.cpusetMems = mems.trim();
  const memLimit = limitOf(parseNumber(max));
  set(l, 'memoryLimit', memLimit);
  set(l, 'memoryReservation', limitOf(parseNumber(min)));
  const swap = limitOf(parseNumber(swapMax));
  if (swap !== undefined) l.memorySwapLimit = swap === null || memLimit === null || memLimit === undefined ? null : swap + memLimit;
  set(l, 'pidsLimit', limitOf(parseNumber(pidsMax)));
  if (ioMax !== undefined) l.ioMax = parseIoMax(ioMax);
  set(l, 'ioWeight', parseIoWeight(ioWeight));
  return l;
}

/**
 * Everything the metrics need from one cgroup ("/kubepods/pod1/abc"), or undefined when the
 * cgroup does not exist (any more). Errors other than a missing file are thrown.
 */
export async function readCgroup(path: string): Promise<CgroupReading | undefined> {
  const layout = await hostLayout();
  const rel = path.replace(/^\/+/, '');
  if (layout.mode === 'v2') {
    const dir = join(layout.unified!, rel);
    const procsText = await read(dir, 'cgroup.procs');
    if (procsText === undefined) return undefined;
    const [stats, limits, pressure] = await Promise.all([createCgroupManager(layout, path).stats(), v2Limits(dir), pressureOf(dir)]);
    return { version: 2, stats, limits, ...(pressure ? { pressure } : {}), pids: procs(procsText) };
  }
  const dirOf = (c: string) => (layout.v1[c] === undefined ? undefined : join(layout.v1[c]!, rel));
  const main = dirOf('pids') ?? dirOf('memory') ?? dirOf('cpu');
  const procsText = await read(main, 'cgroup.procs');
  if (procsText === undefined) return undefined;
  const unifiedDir = layout.unified === undefined ? undefined : join(layout.unified, rel);
  const [stats, limits, pressure] = await Promise.all([createCgroupManager(layout, path).stats(), v1Limits(dirOf, unifiedDir), pressureOf(unifiedDir)]);
  return { version: 1, stats, limits, ...(pressure ? { pressure } : {}), pids: procs(procsText) };
}

/** The directory of a container's cgroup for one v1 controller (or the v2 directory): tests write limit files there. */
export async function controllerDir(path: string, controller: string): Promise<string | undefined> {
  const layout = await hostLayout();
  const rel = path.replace(/^\/+/, '');
  if (layout.mode === 'v2') return join(layout.unified!, rel);
  return layout.v1[controller] === undefined ? undefined : join(layout.v1[controller]!, rel);
}
