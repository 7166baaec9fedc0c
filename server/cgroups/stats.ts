// Stats of both hierarchies into one shape (common.ts CgroupStats). Pure: the managers
// read the files and hand their text in, keyed by file name; a missing file is a missing key.
import type { CgroupLimits, CgroupStats, CpuStats, HugetlbStats, IoDeviceStats, IoStats, MemoryStats, PidsStats } from './common.js';
import { weightToShares } from './convert.js';
import * as v1cpuset from './v1/cpuset.js';
import * as v2cpuset from './v2/cpuset.js';
import * as v1blkio from './v1/blkio.js';
import * as v1cpu from './v1/cpu.js';
import * as v1cpuacct from './v1/cpuacct.js';
import * as v1hugetlb from './v1/hugetlb.js';
import * as v1memory from './v1/memory.js';
import * as v1pids from './v1/pids.js';
import * as v2cpu from './v2/cpu.js';
import * as v2hugetlb from './v2/hugetlb.js';
import * as v2io from './v2/io.js';
import * as v2memory from './v2/memory.js';
import * as v2pids from './v2/pids.js';

/** Control file name → its text. */
export type StatFiles = Readonly<Record<string, string>>;

const FLAT_LINE = /^(\S+)\s+(-?\d+)\s*$/;
const INTEGER = /^-?\d+$/;

/**
 * "key value" lines (cpu.stat, memory.stat, memory.events, …) as bigints; odd lines are
 * skipped. The sampler parses ~40 of these lines per cgroup per round: the kernel's own form
 * ("key value\n", one space) is taken apart with indexOf, anything else by the regex.
 */
export function parseFlatKeyed(text: string): Map<string, bigint> {
  const out = new Map<string, bigint>();
  for (let start = 0; start < text.length; ) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const sp = text.indexOf(' ', start);
    const value = sp > start && sp < end ? text.slice(sp + 1, end) : '';
    const key = value !== '' ? text.slice(start, sp) : '';
    if (INTEGER.test(value) && !/\s/.test(key)) out.set(key, BigInt(value));
    else {
      const m = FLAT_LINE.exec(text.slice(start, end));
      if (m && m[1] !== undefined && m[2] !== undefined) out.set(m[1], BigInt(m[2]));
    }
    start = end + 1;
  }
  return out;
}

/** Values of a "key value" file, by key. */
export interface FlatKeyed {
  get(key: string): bigint | undefined;
  has(key: string): boolean;
}

/**
 * The values of a "key value" file without parsing all of it: the stats take 6-8 of
 * memory.stat's ~40 keys (v1), for every cgroup every round. The kernel's form ("key value\n",
 * one space) is searched line by line for the keys asked; any other form (tabs, runs of
 * spaces, CRs, a value that is not an integer) is parsed whole by parseFlatKeyed, with the
 * same results.
 */
export function flatKeyed(text: string): FlatKeyed {
  if (/[\t\r]| {2}/.test(text)) return parseFlatKeyed(text);
  let whole: Map<string, bigint> | undefined;
  const get = (key: string): bigint | undefined => {
    const at = text.lastIndexOf(`\n${key} `);
    const start = at >= 0 ? at + 1 : text.startsWith(`${key} `) ? 0 : -1;
    if (start < 0) return undefined;
    const end = text.indexOf('\n', start);
    const value = text.slice(start + key.length + 1, end < 0 ? text.length : end);
    if (INTEGER.test(value)) return BigInt(value);
    return (whole ??= parseFlatKeyed(text)).get(key);
  };
  return { get, has: (key) => get(key) !== undefined };
}

/** A single-number file ("123\n"); "max" → null (unlimited). Undefined when absent or garbled. */
export function parseSingle(text: string | undefined): bigint | null | undefined {
  if (text === undefined) return undefined;
  const t = text.trim();
  if (t === 'max') return null;
  return /^-?\d+$/.test(t) ? BigInt(t) : undefined;
}

// v1 reports "no limit" as the largest page-aligned long (9223372036854771712), not "max".
const V1_UNLIMITED = 1n << 62n;

function limitOf(value: bigint | null | undefined): number | null | undefined {
  if (value === undefined) return undefined;
  if (value === null || value >= V1_UNLIMITED || value < 0n) return null;
  return Number(value);
}

const num = (v: bigint | undefined) => (v === undefined ? undefined : Number(v));

function set<T extends object, K extends keyof T>(obj: T, key: K, value: T[K] | undefined): void {
  if (value !== undefined) obj[key] = value;
}

/**
 * v2 io.stat: "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0" per device. Devices
 * whose counters are all zero are kept: they still identify what the cgroup can reach.
 */
export function parseIoStat(text: string): IoStats {
  const devices: IoDeviceStats[] = [];
  for (const line of text.split('\n')) {
    const [dev, ...pairs] = line.trim().split(/\s+/);
    const m = dev ? /^(\d+):(\d+)$/.exec(dev) : null;
    if (!m) continue;
    const kv = new Map<string, bigint>();
    for (const p of pairs) {
      const [k, v] = p.split('=');
      if (k && v && /^\d+$/.test(v)) kv.set(k, BigInt(v));
    }
    devices.push({
      major: Number(m[1]),
      minor: Number(m[2]),
      readBytes: kv.get('rbytes') ?? 0n,
      writeBytes: kv.get('wbytes') ?? 0n,
      readOps: kv.get('rios') ?? 0n,
      writeOps: kv.get('wios') ?? 0n,
    });
  }
  return sumIo(devices);
}

/**
 * v1 blkio "recursive" files: "8:0 Read 4096" … lines per device and op, plus a "Total"
 * line. One file gives bytes, the other ops; they are merged per device.
 */
export function parseBlkio(bytesText: string, opsText: string): IoStats {
  const byDev = new Map<string, IoDeviceStats>();
  const take = (text: string, field: 'Bytes' | 'Ops') => {
    for (const line of text.split('\n')) {
      const m = /^(\d+):(\d+)\s+(Read|Write)\s+(\d+)\s*$/.exec(line.trim());
      if (!m || m[1] === undefined || m[2] === undefined || m[4] === undefined) continue;
      const key = `${m[1]}:${m[2]}`;
      let d = byDev.get(key);
      if (!d) {
        d = { major: Number(m[1]), minor: Number(m[2]), readBytes: 0n, writeBytes: 0n, readOps: 0n, writeOps: 0n };
        byDev.set(key, d);
      }
      const value = BigInt(m[4]);
      if (m[3] === 'Read') d[field === 'Bytes' ? 'readBytes' : 'readOps'] += value;
      else d[field === 'Bytes' ? 'writeBytes' : 'writeOps'] += value;
    }
  };
  take(bytesText, 'Bytes');
  take(opsText, 'Ops');
  return sumIo([...byDev.values()]);
}

function sumIo(devices: IoDeviceStats[]): IoStats {
  const total: IoStats = { readBytes: 0n, writeBytes: 0n, readOps: 0n, writeOps: 0n, devices };
  for (const d of devices) {
    total.readBytes += d.readBytes;
    total.writeBytes += d.writeBytes;
    total.readOps += d.readOps;
    total.writeOps += d.writeOps;
  }
  return total;
}

const hasIoData = (text: string | undefined) => text !== undefined && /^\d+:\d+\s/m.test(text);

function workingSet(usage: number, inactiveFile: number | undefined): number {
  return Math.max(0, usage - (inactiveFile ?? 0));
}

/** cgroup v1: cpu + cpuacct, memory, pids, blkio, hugetlb files of one cgroup. */
export function parseV1Stats(files: StatFiles): CgroupStats {
  const out: CgroupStats = {};

  const usage = parseSingle(files[v1cpuacct.CPUACCT_USAGE]);
  if (typeof usage === 'bigint') {
    const cpu: CpuStats = { usageNs: usage };
    const user = parseSingle(files[v1cpuacct.CPUACCT_USAGE_USER]);
    const sys = parseSingle(files[v1cpuacct.CPUACCT_USAGE_SYS]);
    if (typeof user === 'bigint' && typeof sys === 'bigint') {
      cpu.userNs = user;
      cpu.systemNs = sys;
    } else if (files[v1cpuacct.CPUACCT_STAT] !== undefined) {
      const ticks = flatKeyed(files[v1cpuacct.CPUACCT_STAT]);
      set(cpu, 'userNs', ticks.has('user') ? (ticks.get('user') ?? 0n) * v1cpuacct.NS_PER_USER_HZ_TICK : undefined);
      set(cpu, 'systemNs', ticks.has('system') ? (ticks.get('system') ?? 0n) * v1cpuacct.NS_PER_USER_HZ_TICK : undefined);
    }
    const throttling = files[v1cpu.CPU_STAT];
    if (throttling !== undefined) {
      const t = flatKeyed(throttling);
      set(cpu, 'periods', t.get('nr_periods'));
      set(cpu, 'throttledPeriods', t.get('nr_throttled'));
      set(cpu, 'throttledNs', t.get('throttled_time'));
    }
    out.cpu = cpu;
  }

  const memUsage = parseSingle(files[v1memory.MEMORY_USAGE]);
  if (typeof memUsage === 'bigint') {
    const stat = flatKeyed(files[v1memory.MEMORY_STAT] ?? '');
    // total_* include descendants, which is what a pod or container cgroup is asked for.
    const pick = (k: string) => stat.get(`total_${k}`) ?? stat.get(k);
    const u = Number(memUsage);
    const inactiveFile = num(pick('inactive_file'));
    const memory: MemoryStats = { usage: u, workingSet: workingSet(u, inactiveFile) };
    set(memory, 'rss', num(pick('rss')));
    set(memory, 'cache', num(pick('cache')));
    set(memory, 'inactiveFile', inactiveFile);
    set(memory, 'mappedFile', num(pick('mapped_file')));
    set(memory, 'pageFaults', pick('pgfault'));
    set(memory, 'majorPageFaults', pick('pgmajfault'));
    set(memory, 'limit', limitOf(parseSingle(files[v1memory.MEMORY_LIMIT])));
    const maxUsage = parseSingle(files[v1memory.MEMORY_MAX_USAGE]);
    if (typeof maxUsage === 'bigint') memory.maxUsage = Number(maxUsage);
    const failcnt = parseSingle(files[v1memory.MEMORY_FAILCNT]);
    if (typeof failcnt === 'bigint') memory.failcnt = failcnt;
    const swapTotal = parseSingle(files[v1memory.MEMORY_MEMSW_USAGE]);
    if (typeof swapTotal === 'bigint') memory.swapUsage = Math.max(0, Number(swapTotal) - u);
    if (files[v1memory.MEMORY_OOM_CONTROL] !== undefined) {
      // v1 has no count of OOM episodes; oom_kill (kernels ≥ 4.13) is the closest and is what
      // decides "OOMKilled".
      const oom = flatKeyed(files[v1memory.MEMORY_OOM_CONTROL]).get('oom_kill');
      if (oom !== undefined) {
        memory.oomKills = oom;
        memory.oomEvents = oom;
      }
    }
    out.memory = memory;
  }

  const pids = parsePids(files[v1pids.PIDS_CURRENT], files[v1pids.PIDS_MAX]);
  if (pids) out.pids = pids;

  // Prefer the scheduler-based files when they have data; the throttle files otherwise.
  const bytes = hasIoData(files[v1blkio.BLKIO_SERVICE_BYTES]) ? files[v1blkio.BLKIO_SERVICE_BYTES] : files[v1blkio.BLKIO_THROTTLE_SERVICE_BYTES];
  const ops = hasIoData(files[v1blkio.BLKIO_SERVICED]) ? files[v1blkio.BLKIO_SERVICED] : files[v1blkio.BLKIO_THROTTLE_SERVICED];
  if (bytes !== undefined || ops !== undefined) out.io = parseBlkio(bytes ?? '', ops ?? '');

  const sizes = v1hugetlb.hugetlbPageSizes(Object.keys(files));
  if (sizes.length > 0) {
    out.hugetlb = sizes.map((pageSize): HugetlbStats => {
      const h: HugetlbStats = { pageSize, usage: Number(parseSingle(files[v1hugetlb.hugetlbUsageFile(pageSize)]) ?? 0n) };
      const max = parseSingle(files[v1hugetlb.hugetlbMaxUsageFile(pageSize)]);
      if (typeof max === 'bigint') h.maxUsage = Number(max);
      const fail = parseSingle(files[v1hugetlb.hugetlbFailcntFile(pageSize)]);
      if (typeof fail === 'bigint') h.failcnt = fail;
      return h;
    });
  }
  return out;
}

function parsePids(currentText: string | undefined, maxText: string | undefined): PidsStats | undefined {
  const current = parseSingle(currentText);
  if (typeof current !== 'bigint') return undefined;
  const p: PidsStats = { current: Number(current) };
  const limit = limitOf(parseSingle(maxText));
  if (limit !== undefined) p.limit = limit;
  return p;
}

const USEC = 1000n;

/** cgroup v2: one directory holds every controller's files. */
export function parseV2Stats(files: StatFiles): CgroupStats {
  const out: CgroupStats = {};

  if (files[v2cpu.CPU_STAT] !== undefined) {
    const s = flatKeyed(files[v2cpu.CPU_STAT]);
    const usage = s.get('usage_usec');
    if (usage !== undefined) {
      const cpu: CpuStats = { usageNs: usage * USEC };
      const us = (k: string) => {
        const v = s.get(k);
        return v === undefined ? undefined : v * USEC;
      };
      set(cpu, 'userNs', us('user_usec'));
      set(cpu, 'systemNs', us('system_usec'));
      set(cpu, 'periods', s.get('nr_periods'));
      set(cpu, 'throttledPeriods', s.get('nr_throttled'));
      set(cpu, 'throttledNs', us('throttled_usec'));
      out.cpu = cpu;
    }
  }

  const current = parseSingle(files[v2memory.MEMORY_CURRENT]);
  if (typeof current === 'bigint') {
    const stat = flatKeyed(files[v2memory.MEMORY_STAT] ?? '');
    const u = Number(current);
    const inactiveFile = num(stat.get('inactive_file'));
    const memory: MemoryStats = { usage: u, workingSet: workingSet(u, inactiveFile) };
    set(memory, 'rss', num(stat.get('anon')));
    set(memory, 'cache', num(stat.get('file')));
    set(memory, 'inactiveFile', inactiveFile);
    set(memory, 'mappedFile', num(stat.get('file_mapped')));
    set(memory, 'pageFaults', stat.get('pgfault'));
    set(memory, 'majorPageFaults', stat.get('pgmajfault'));
    set(memory, 'limit', limitOf(parseSingle(files[v2memory.MEMORY_MAX])));
    const peak = parseSingle(files[v2memory.MEMORY_PEAK]);
    if (typeof peak === 'bigint') memory.maxUsage = Number(peak);
    const swap = parseSingle(files[v2memory.MEMORY_SWAP_CURRENT]);
    if (typeof swap === 'bigint') memory.swapUsage = Number(swap);
    if (files[v2memory.MEMORY_EVENTS] !== undefined) {
      const ev = flatKeyed(files[v2memory.MEMORY_EVENTS]);
      set(memory, 'failcnt', ev.get('max'));
      set(memory, 'oomEvents', ev.get('oom'));
      set(memory, 'oomKills', ev.get('oom_kill'));
    }
    out.memory = memory;
  }

  const pids = parsePids(files[v2pids.PIDS_CURRENT], files[v2pids.PIDS_MAX]);
  if (pids) out.pids = pids;

  if (files[v2io.IO_STAT] !== undefined) out.io = parseIoStat(files[v2io.IO_STAT]);

  const sizes = v2hugetlb.hugetlbPageSizes(Object.keys(files));
  if (sizes.length > 0) {
    out.hugetlb = sizes.map((pageSize): HugetlbStats => {
      const h: HugetlbStats = { pageSize, usage: Number(parseSingle(files[v2hugetlb.hugetlbCurrentFile(pageSize)]) ?? 0n) };
      const events = files[v2hugetlb.hugetlbEventsFile(pageSize)];
      if (events !== undefined) set(h, 'failcnt', flatKeyed(events).get('max'));
      return h;
    });
  }
  return out;
}

/** The files parseV1Stats reads, per v1 controller (hugetlb files are found by listing). */
export const V1_STAT_FILES: Readonly<Record<string, readonly string[]>> = {
  cpuacct: [v1cpuacct.CPUACCT_USAGE, v1cpuacct.CPUACCT_USAGE_USER, v1cpuacct.CPUACCT_USAGE_SYS, v1cpuacct.CPUACCT_STAT],
  cpu: [v1cpu.CPU_STAT],
  memory: [
    v1memory.MEMORY_USAGE,
    v1memory.MEMORY_STAT,
    v1memory.MEMORY_LIMIT,
    v1memory.MEMORY_MAX_USAGE,
    v1memory.MEMORY_FAILCNT,
    v1memory.MEMORY_MEMSW_USAGE,
    v1memory.MEMORY_OOM_CONTROL,
  ],
  pids: [v1pids.PIDS_CURRENT, v1pids.PIDS_MAX],
  blkio: [v1blkio.BLKIO_SERVICE_BYTES, v1blkio.BLKIO_SERVICED, v1blkio.BLKIO_THROTTLE_SERVICE_BYTES, v1blkio.BLKIO_THROTTLE_SERVICED],
};

/** The files parseV2Stats reads (hugetlb files are found by listing). */
export const V2_STAT_FILES: readonly string[] = [
  v2cpu.CPU_STAT,
  v2memory.MEMORY_CURRENT,
  v2memory.MEMORY_STAT,
  v2memory.MEMORY_MAX,
  v2memory.MEMORY_PEAK,
  v2memory.MEMORY_SWAP_CURRENT,
  v2memory.MEMORY_EVENTS,
  v2pids.PIDS_CURRENT,
  v2pids.PIDS_MAX,
  v2io.IO_STAT,
];

function setLimit<K extends keyof CgroupLimits>(l: CgroupLimits, k: K, v: CgroupLimits[K] | undefined): void {
  if (v !== undefined) l[k] = v;
}

const limitNumber = (text: string | undefined) => limitOf(parseSingle(text));

function hugepageLimits(files: StatFiles, sizes: string[], fileOf: (size: string) => string): CgroupLimits['hugepages'] {
  const out: CgroupLimits['hugepages'] = [];
  for (const pageSize of sizes) {
    const v = limitNumber(files[fileOf(pageSize)]);
    if (v !== undefined) out.push({ pageSize, limit: v });
  }
  return out;
}

function cpuset(l: CgroupLimits, cpus: string | undefined, mems: string | undefined): void {
  if (cpus !== undefined) {
    l.cpusetCpus = cpus.trim();
    setLimit(l, 'cpusetCpuCount', v1cpuset.cpuListCount(cpus));
  }
  if (mems !== undefined) l.cpusetMems = mems.trim();
}

/** cgroup v1 limits (cpu, cpuset, memory, pids, blkio, hugetlb files; hugetlb v2-named on hybrid hosts). */
export function parseV1Limits(files: StatFiles): CgroupLimits {
  const l: CgroupLimits = { hugepages: [] };
  const q = parseSingle(files[v1cpu.CPU_CFS_QUOTA]);
  if (q !== undefined) l.cpuQuotaUs = q === null || q < 0n ? null : Number(q);
  const period = parseSingle(files[v1cpu.CPU_CFS_PERIOD]);
  if (typeof period === 'bigint') l.cpuPeriodUs = Number(period);
  const shares = parseSingle(files[v1cpu.CPU_SHARES]);
  if (typeof shares === 'bigint') l.cpuShares = Number(shares);
  cpuset(l, files[v1cpuset.CPUSET_CPUS], files[v1cpuset.CPUSET_MEMS]);
  setLimit(l, 'memoryLimit', limitNumber(files[v1memory.MEMORY_LIMIT]));
  setLimit(l, 'memoryReservation', limitNumber(files[v1memory.MEMORY_SOFT_LIMIT]));
  setLimit(l, 'memorySwapLimit', limitNumber(files[v1memory.MEMORY_MEMSW_LIMIT]));
  setLimit(l, 'pidsLimit', limitNumber(files[v1pids.PIDS_MAX]));
  const throttle: NonNullable<CgroupLimits['blkioThrottle']> = {};
  const dv = (k: keyof typeof throttle, file: string) => {
    if (files[file] !== undefined) throttle[k] = v1blkio.parseDeviceValues(files[file]);
  };
  dv('readBps', v1blkio.BLKIO_THROTTLE_READ_BPS);
  dv('writeBps', v1blkio.BLKIO_THROTTLE_WRITE_BPS);
  dv('readIops', v1blkio.BLKIO_THROTTLE_READ_IOPS);
  dv('writeIops', v1blkio.BLKIO_THROTTLE_WRITE_IOPS);
  if (Object.keys(throttle).length > 0) l.blkioThrottle = throttle;
  setLimit(l, 'ioWeight', v2io.parseIoWeight(files[v1blkio.BLKIO_WEIGHT]));
  const names = Object.keys(files);
  l.hugepages = [
    ...hugepageLimits(files, v1hugetlb.hugetlbLimitPageSizes(names), v1hugetlb.hugetlbLimitFile),
    ...hugepageLimits(files, v2hugetlb.hugetlbLimitPageSizes(names), v2hugetlb.hugetlbMaxFile),
  ];
  return l;
}

/** cgroup v2 limits: cpu.max, cpu.weight, effective cpusets, memory.max/min/swap.max, pids.max, io.max, io.weight, hugetlb.*.max. */
export function parseV2Limits(files: StatFiles): CgroupLimits {
  const l: CgroupLimits = { hugepages: hugepageLimits(files, v2hugetlb.hugetlbLimitPageSizes(Object.keys(files)), v2hugetlb.hugetlbMaxFile) };
  const cm = v2cpu.parseCpuMax(files[v2cpu.CPU_MAX]);
  if (cm) {
    l.cpuQuotaUs = cm.quota;
    l.cpuPeriodUs = cm.period;
  }
  const w = parseSingle(files[v2cpu.CPU_WEIGHT]);
  if (typeof w === 'bigint') l.cpuShares = weightToShares(Number(w));
  cpuset(l, files[v2cpuset.CPUSET_CPUS_EFFECTIVE], files[v2cpuset.CPUSET_MEMS_EFFECTIVE]);
  const memLimit = limitNumber(files[v2memory.MEMORY_MAX]);
  setLimit(l, 'memoryLimit', memLimit);
  setLimit(l, 'memoryReservation', limitNumber(files[v2memory.MEMORY_MIN]));
  const swap = limitNumber(files[v2memory.MEMORY_SWAP_MAX]);
  if (swap !== undefined) l.memorySwapLimit = swap === null || memLimit === null || memLimit === undefined ? null : swap + memLimit;
  setLimit(l, 'pidsLimit', limitNumber(files[v2pids.PIDS_MAX]));
  if (files[v2io.IO_MAX] !== undefined) l.ioMax = v2io.parseIoMax(files[v2io.IO_MAX]);
  setLimit(l, 'ioWeight', v2io.parseIoWeight(files[v2io.IO_WEIGHT]));
  return l;
}

/** The files parseV1Limits reads, per v1 controller (hugetlb limit files are found by listing). */
export const V1_LIMIT_FILES: Readonly<Record<string, readonly string[]>> = {
  cpu: [v1cpu.CPU_CFS_QUOTA, v1cpu.CPU_CFS_PERIOD, v1cpu.CPU_SHARES],
  cpuset: [v1cpuset.CPUSET_CPUS, v1cpuset.CPUSET_MEMS],
  memory: [v1memory.MEMORY_LIMIT, v1memory.MEMORY_SOFT_LIMIT, v1memory.MEMORY_MEMSW_LIMIT],
  pids: [v1pids.PIDS_MAX],
  blkio: [v1blkio.BLKIO_THROTTLE_READ_BPS, v1blkio.BLKIO_THROTTLE_WRITE_BPS, v1blkio.BLKIO_THROTTLE_READ_IOPS, v1blkio.BLKIO_THROTTLE_WRITE_IOPS, v1blkio.BLKIO_WEIGHT],
};

/** The files parseV2Limits reads (hugetlb limit files are found by listing). */
export const V2_LIMIT_FILES: readonly string[] = [
  v2cpu.CPU_MAX,
  v2cpu.CPU_WEIGHT,
  v2cpuset.CPUSET_CPUS_EFFECTIVE,
  v2cpuset.CPUSET_MEMS_EFFECTIVE,
  v2memory.MEMORY_MAX,
  v2memory.MEMORY_MIN,
  v2memory.MEMORY_SWAP_MAX,
  v2pids.PIDS_MAX,
  v2io.IO_MAX,
  v2io.IO_WEIGHT,
];
