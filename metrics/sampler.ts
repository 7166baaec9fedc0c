// The sampler: one round reads every pod's and container's cgroup (usage, limits,
// pressure), processes, writable layer and pod network counters into a Sample with its
// timestamp. The scrape, ListPodSandboxMetrics and the CRI stats RPCs all read the cached
// Sample, so they never disagree and never wait on each other. Rounds run on an interval
// (config metrics.interval_seconds, default 10 s) or, with 0, on demand (a caller gets the
// last round when it is younger than a second; concurrent callers share one round).
// A target whose reads fail or take too long is left out of the round and counted.
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { readlink, stat, statfs } from 'node:fs/promises';
import { dirUsage } from '../hostutil/fs-usage.js';
import type { CgroupReading, CgroupSource } from './cgroup-source.js';
import { readControlSync } from '../server/cgroups/fs.js';
import { parseNetDev, parseThreads, type NetCounter } from './host-files.js';
import type { MetricSet } from './sets.js';

/** The labels cAdvisor puts on every container series (pod-level series: container, image and name are ""). */
export interface TargetLabels {
  container: string;
  id: string;
  image: string;
  name: string;
  namespace: string;
  pod: string;
}

/** Something to sample: a pod (its own cgroup, its network) or a container. */
export interface MetricTarget {
  /** Container id, or "pod:<sandbox id>". */
  key: string;
  kind: 'pod' | 'container';
  podId: string;
  /** The cgroup path below the hierarchy root; undefined for a pod without a cgroup of its own. */
  cgroupPath?: string;
  /**
   * A container: where its process is, resolved through the cgroup manager (once per process;
   * the id label then names that cgroup, as cAdvisor's does).
   */
  cgroupRef?: { cgroupsPath: string; pid: number };
  labels: TargetLabels;
  /** Seconds since the epoch (container start, pod creation). */
  startTime: number;
  /** A container's writable layer (overlay upper dir). */
  upperDir?: string;
  /** A pod's interfaces: the name inside the pod and the host side of its veth. */
  interfaces?: { ifname: string; hostIf: string }[];
}

export interface TargetSource {
  targets(): MetricTarget[];
  /** The filesystem holding the writable layers (for limit/inode totals). */
  layersRoot: string;
}

export interface ProcessCounts {
  processes: number;
  threads: number;
  fds: number;
  sockets: number;
}

export interface TargetSample {
  target: MetricTarget;
  /** Milliseconds since the epoch, when this target was read. */
  ts: number;
  cgroup?: CgroupReading;
  /** When cgroup.limits were read from the cgroup (ms since the epoch; they are kept between reads). */
  limitsTs?: number;
  /** CPU rate against the previous round, in nanocores. */
  cpuNanoCores?: bigint;
  processes?: ProcessCounts;
  writable?: { bytes: bigint; inodes: bigint };
  net?: { ifname: string; counters: Record<NetCounter, number> }[];
}

export interface FsTotals {
  device: string;
  capacityBytes: number;
  inodesTotal: number;
  inodesFree: number;
  availableBytes: number;
}

export interface Sample {
  /** Milliseconds since the epoch at the start of the round. */
  ts: number;
  targets: Map<string, TargetSample>;
  fs?: FsTotals;
  /** Block device names ("/dev/sda") by "major:minor", for the devices the round saw. */
  devices: Map<string, string>;
}

export interface SamplerHooks {
  /** A target left out of a round (reason: "timeout" or "error"). */
  readError?(reason: 'timeout' | 'error', key: string, err?: unknown): void;
  /** A finished round: wall seconds and berthd CPU seconds it took (approximate: the process's CPU over the round). */
  round?(seconds: number, cpuSeconds: number, targets: number): void;
}

export interface SamplerOptions {
  /** 0 = on demand. */
  intervalMs: number;
  include: ReadonlySet<MetricSet>;
  /** Per-target read budget. */
  timeoutMs?: number;
  /** Targets read at once. */
  concurrency?: number;
  hooks?: SamplerHooks;
}

const ON_DEMAND_FRESH_MS = 1000;
/**
 * Limits change far less often than usage, and they are a third of a cgroup's files: each
 * round reads them for one target in LIMITS_EVERY (by a hash of its key, so the rounds share
 * the work), for a target seen for the first time, for one whose limits berth just changed
 * (limitsChanged), and for any whose limits are older than LIMITS_MAX_AGE_MS. A limit written
 * behind berth's back (an operator, an NRI plugin) shows within LIMITS_EVERY rounds or that age.
 */
export const LIMITS_EVERY = 6;
export const LIMITS_MAX_AGE_MS = 60_000;
/**
 * How long a writable-layer walk is reused: a hundred times what it took, between 10 s (a
 * small layer: as fresh as containerd's 10 s stats, which kubelet's ephemeral-storage
 * eviction reads) and a minute (cAdvisor's fsHandler, for a layer of many files), so the
 * walks cost at most ~1 % of the time of one core per container. A fixed minute let a layer
 * read just before a write show the old size for up to a minute.
 */
export function writableReuseMs(walkMs: number): number {
  return Math.min(60_000, Math.max(10_000, Math.round(walkMs * 100)));
}

/** At most this share of the writable layers is walked in one round (the stalest first): at
 *  100 containers a walk of every layer each round cost ~15 ms of CPU more per round. */
export const WRITABLE_WALKS_PER_ROUND = 1 / 3;

/**
 * The keys whose writable layer a round walks again: those whose last walk is older than its
 * reuse time (never walked: oldest of all), the stalest first, at most
 * ceil(WRITABLE_WALKS_PER_ROUND × all) of them (pure).
 */
export function writableWalks(keys: readonly string[], last: ReadonlyMap<string, { at: number; reuseMs: number }>, now: number): Set<string> {
  const due = keys.filter((k) => {
    const w = last.get(k);
    return !w || now - w.at > w.reuseMs;
  });
  const age = (k: string) => now - (last.get(k)?.at ?? -Infinity);
  due.sort((a, b) => age(b) - age(a));
  return new Set(due.slice(0, Math.max(1, Math.ceil(keys.length * WRITABLE_WALKS_PER_ROUND))));
}

class Timeout extends Error {}

/** A small number from a target's key (ids are hex): which round reads its limits. */
function keyHash(key: string): number {
  let h = 0;
  for (let i = Math.max(0, key.length - 4); i < key.length; i++) h = (h * 31 + key.charCodeAt(i)) | 0;
  return Math.abs(h);
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Timeout()), ms)))]).finally(() => clearTimeout(timer));
}

// procfs and sysfs reads are synchronous for the reason given in cgroup-source.ts.
function processCounts(pids: number[]): ProcessCounts {
  const c: ProcessCounts = { processes: pids.length, threads: 0, fds: 0, sockets: 0 };
  for (const pid of pids) {
    try {
      // The cgroup manager's kernel-file reader: open, one read, close.
      c.threads += parseThreads(readControlSync(`/proc/${pid}`, 'status') ?? '') ?? 0;
      const fds = readdirSync(`/proc/${pid}/fd`);
      c.fds += fds.length;
      for (const fd of fds) {
        let link = '';
        try {
          link = readlinkSync(`/proc/${pid}/fd/${fd}`);
        } catch {
          /* closed meanwhile */
        }
        if (link.startsWith('socket:')) c.sockets++;
      }
    } catch {
      /* the process exited while we looked */
    }
  }
  return c;
}

/** Every host interface's counters from one read of /proc/net/dev (berthd's, the host's, network namespace). */
function hostNetCounters(): Map<string, Record<NetCounter, number>> {
  try {
    return parseNetDev(readFileSync('/proc/net/dev', 'utf8'));
  } catch {
    return new Map();
  }
}

async function blockDeviceName(major: number, minor: number): Promise<string> {
  try {
    const link = await readlink(`/sys/dev/block/${major}:${minor}`);
    return `/dev/${link.split('/').pop()}`;
  } catch {
    return `${major}:${minor}`;
  }
}

/** Name of a block device by major:minor (cached: device names do not change under a running berthd). */
export const deviceNames = new Map<string, Promise<string>>();
export function deviceName(major: number, minor: number): Promise<string> {
  const k = `${major}:${minor}`;
  let p = deviceNames.get(k);
  if (!p) deviceNames.set(k, (p = blockDeviceName(major, minor)));
  return p;
}

async function fsTotals(root: string): Promise<FsTotals | undefined> {
  try {
    const s = await statfs(root);
    const st = await stat(root);
    // dev_t: major in bits 8..19, minor in 0..7 and 20..31 (glibc's gnu_dev_major/minor).
    const major = (st.dev >> 8) & 0xfff;
    const minor = (st.dev & 0xff) | ((st.dev >> 12) & 0xfff00);
    return {
      device: await deviceName(major, minor),
      capacityBytes: s.blocks * s.bsize,
      availableBytes: s.bavail * s.bsize,
      inodesTotal: s.files,
      inodesFree: s.ffree,
    };
  } catch {
    return undefined;
  }
}

export class Sampler {
  private last: Sample | undefined;
  /** When the last round finished (its freshness for on-demand callers). */
  private lastDoneAt = 0;
  private inFlight: Promise<Sample> | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Each target's most recent reading (rounds and sampleOne), for CPU rates. */
  private readonly lastRead = new Map<string, TargetSample>();
  private readonly writable = new Map<string, { at: number; reuseMs: number; value: Promise<{ bytes: bigint; inodes: bigint }> }>();

  /** Container key → [pid, the cgroup its process is in]. */
  private readonly where = new Map<string, [number, string]>();
  /** Targets whose limits berth changed since they were last read. */
  private readonly limitsDirty = new Set<string>();
  private rounds = 0;

  constructor(
    private readonly source: TargetSource,
    private readonly cgroups: CgroupSource,
    private readonly opts: SamplerOptions,
  ) {}

  /** The cgroup a target is read from (undefined: a pod without one). */
  private async cgroupPathOf(t: MetricTarget): Promise<string | undefined> {
    if (!t.cgroupRef) return t.cgroupPath;
    const known = this.where.get(t.key);
    if (known && known[0] === t.cgroupRef.pid) return known[1];
    const path = await this.cgroups.containerPath(t.cgroupRef);
    if (t.cgroupRef.pid > 0) this.where.set(t.key, [t.cgroupRef.pid, path]);
    return path;
  }

  get intervalMs(): number {
    return this.opts.intervalMs;
  }

  /** Starts the interval (nothing with interval 0). The first round starts now. */
  start(): void {
    if (this.opts.intervalMs <= 0 || this.timer) return;
    void this.round().catch(() => undefined);
    this.timer = setInterval(() => void this.round().catch(() => undefined), this.opts.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Drops what is kept for a removed target now, rather than at the next round. */
  forget(key: string): void {
    this.lastRead.delete(key);
    this.writable.delete(key);
    this.where.delete(key);
    this.limitsDirty.delete(key);
  }

  /** The target's limits changed: the next reading takes them from the cgroup again. */
  limitsChanged(key: string): void {
    this.limitsDirty.add(key);
  }

  /** Entries held per target (for tests: they must not grow with churn). */
  held(): number {
    return this.lastRead.size + this.writable.size + this.where.size + this.limitsDirty.size;
  }

  /** The last complete round, if any. */
  latest(): Sample | undefined {
    return this.last;
  }

  /**
   * The Sample callers should use: on an interval, the last round (or the first, awaited);
   * on demand, the last round if younger than a second, otherwise a new one.
   */
  async current(): Promise<Sample> {
    if (this.last && (this.opts.intervalMs > 0 || Date.now() - this.lastDoneAt < ON_DEMAND_FRESH_MS)) return this.last;
    return this.round();
  }

  /**
   * A target's sample for a caller that needs one the last round does not have (a container
   * created since): read now, not cached.
   */
  async sampleOne(target: MetricTarget): Promise<TargetSample | undefined> {
    try {
      const net = target.interfaces?.length && this.opts.include.has('network') ? hostNetCounters() : undefined;
      // A caller asking for one target gets its limits read now.
      const s = await withTimeout(this.readTarget(target, this.lastRead.get(target.key), net, true, writableWalks([target.key], this.writable, Date.now()).size > 0), this.opts.timeoutMs ?? 5000);
      if (s) this.lastRead.set(target.key, s);
      return s;
    } catch (e) {
      this.opts.hooks?.readError?.(e instanceof Timeout ? 'timeout' : 'error', target.key, e);
      return undefined;
    }
  }

  /** One round now (joins a round already running). */
  round(): Promise<Sample> {
    this.inFlight ??= this.doRound().finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  private async doRound(): Promise<Sample> {
    const started = Date.now();
    const t0 = process.hrtime.bigint();
    const cpu0 = process.cpuUsage();
    const targets = this.source.targets();
    const round = this.rounds++;
    const out = new Map<string, TargetSample>();
    const timeoutMs = this.opts.timeoutMs ?? 5000;
    let next = 0;
    const walks = this.opts.include.has('disk') ? writableWalks(targets.filter((t) => t.upperDir).map((t) => t.key), this.writable, started) : new Set<string>();
    // The pods' veth counters: one read for the round.
    const net = this.opts.include.has('network') && targets.some((t) => t.interfaces?.length) ? hostNetCounters() : undefined;
    const worker = async () => {
      while (next < targets.length) {
        const t = targets[next++]!;
        // Let CRI calls in between targets (their reads are synchronous).
        await new Promise((r) => setImmediate(r));
        try {
          const s = await withTimeout(this.readTarget(t, this.lastRead.get(t.key), net, (round + keyHash(t.key)) % LIMITS_EVERY === 0, walks.has(t.key)), timeoutMs);
          if (s) out.set(t.key, s);
        } catch (e) {
          this.opts.hooks?.readError?.(e instanceof Timeout ? 'timeout' : 'error', t.key, e);
        }
      }
    };
    const fs = this.opts.include.has('disk') ? fsTotals(this.source.layersRoot) : Promise.resolve(undefined);
    await Promise.all(Array.from({ length: Math.min(this.opts.concurrency ?? 8, Math.max(1, targets.length)) }, worker));
    // Writable-layer results of containers that are gone are dropped with them.
    // A pod's processes are its containers' (cAdvisor counts a cgroup's whole subtree).
    for (const t of out.values()) {
      if (t.target.kind !== 'container' || !t.processes) continue;
      const pod = out.get(`pod:${t.target.podId}`);
      if (!pod?.processes) continue;
      pod.processes.processes += t.processes.processes;
      pod.processes.threads += t.processes.threads;
      pod.processes.fds += t.processes.fds;
      pod.processes.sockets += t.processes.sockets;
    }
    const live = new Set(targets.map((t) => t.key));
    for (const k of this.writable.keys()) if (!live.has(k)) this.writable.delete(k);
    for (const k of this.lastRead.keys()) if (!live.has(k)) this.lastRead.delete(k);
    for (const k of this.where.keys()) if (!live.has(k)) this.where.delete(k);
    for (const k of this.limitsDirty) if (!live.has(k)) this.limitsDirty.delete(k);
    for (const [k, v] of out) this.lastRead.set(k, v);
    const devices = new Map<string, string>();
    for (const t of out.values()) {
      const io = t.cgroup?.stats.io?.devices ?? [];
      const lim = t.cgroup?.limits;
      const all = [...io, ...(lim?.ioMax ?? []), ...Object.values(lim?.blkioThrottle ?? {}).flat(), ...(lim?.ioWeight?.devices ?? [])];
      for (const d of all) {
        const k = `${d.major}:${d.minor}`;
        if (!devices.has(k)) devices.set(k, await deviceName(d.major, d.minor));
      }
    }
    const sample: Sample = { ts: started, targets: out, devices };
    const totals = await fs;
    if (totals) sample.fs = totals;
    this.last = sample;
    this.lastDoneAt = Date.now();
    const cpu = process.cpuUsage(cpu0);
    this.opts.hooks?.round?.(Number(process.hrtime.bigint() - t0) / 1e9, (cpu.user + cpu.system) / 1e6, targets.length);
    return sample;
  }

  /** @param walk walk the writable layer again (else reuse the last walk, if any) */
  private async readTarget(t: MetricTarget, prev: TargetSample | undefined, netDev: Map<string, Record<NetCounter, number>> | undefined, limitsTurn: boolean, walk: boolean): Promise<TargetSample | undefined> {
    const inc = this.opts.include;
    const ts = Date.now();
    const path = await this.cgroupPathOf(t);
    // Limits kept from the last reading unless it is this target's turn (see LIMITS_EVERY);
    // a container now in another cgroup (restarted process) has them read again.
    const keep =
      !limitsTurn && prev?.cgroup && prev.limitsTs !== undefined && ts - prev.limitsTs < LIMITS_MAX_AGE_MS && !this.limitsDirty.has(t.key) && (prev.target.labels.id === path || !t.cgroupRef)
        ? prev.cgroup.limits
        : undefined;
    const cgroup = path === undefined ? undefined : this.cgroups.read(path, keep);
    // Read (no await since `keep`): a change noted before this point is in what was read.
    if (!keep && cgroup) this.limitsDirty.delete(t.key);
    // A container's series exist while its cgroup does (cAdvisor's rule).
    if (t.kind === 'container' && !cgroup) return undefined;
    if (t.kind === 'pod' && !cgroup && !(t.interfaces?.length && inc.has('network'))) return undefined;
    // cAdvisor's id is the cgroup the container is in.
    const target = t.cgroupRef && path !== undefined && t.labels.id !== path ? { ...t, labels: { ...t.labels, id: path } } : t;
    const s: TargetSample = { target, ts };
    if (cgroup) {
      s.cgroup = cgroup;
      s.limitsTs = keep ? prev!.limitsTs! : ts;
      const now = cgroup.stats.cpu?.usageNs;
      const before = prev?.cgroup?.stats.cpu?.usageNs;
      if (now !== undefined && before !== undefined && prev && ts > prev.ts && now >= before) {
        s.cpuNanoCores = ((now - before) * 1000n) / BigInt(ts - prev.ts); // ns used · 1e9 / (ms · 1e6)
      }
      if (inc.has('process')) s.processes = processCounts(cgroup.pids);
    }
    if (t.upperDir && inc.has('disk')) {
      let w = this.writable.get(t.key);
      if (!w || walk) {
        const walkStarted = performance.now();
        const entry = { at: ts, reuseMs: writableReuseMs(0), value: dirUsage(t.upperDir) };
        entry.value.then(
          () => (entry.reuseMs = writableReuseMs(performance.now() - walkStarted)),
          () => undefined, // the round reports it below
        );
        this.writable.set(t.key, (w = entry));
      }
      s.writable = await w.value;
    }
    if (t.interfaces && inc.has('network')) {
      const net: NonNullable<TargetSample['net']> = [];
      for (const i of t.interfaces) {
        const c = netDev?.get(i.hostIf); // absent: the veth went with the pod
        if (c) net.push({ ifname: i.ifname, counters: c });
      }
      s.net = net;
    }
    return s;
  }
}
