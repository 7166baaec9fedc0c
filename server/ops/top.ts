// `berth top`'s numbers (issue 13): CPU, memory, I/O and pids of every pod and container
// against its limits, read from the cgroups through the cgroup manager (the same reader as
// the CRI stats RPCs and the metrics sampler; CPU rate from two readings). One sampler per
// berthd behind GET /v1/top, so the source can later be swapped for the metrics sampler;
// the read-only CLI makes its own and samples twice. Rates are from the previous sample of
// the same sampler (null on the first).
import { readFile } from 'node:fs/promises';
import type { Cgroups } from '../cgroups/manager.js';
import type { CgroupStats } from '../cgroups/common.js';
import { nowNs } from '../time.js';
import type { SandboxRecord } from '../sandbox/types.js';
import type { ContainerRecord } from '../container/types.js';

export interface TopRow {
  kind: 'pod' | 'container';
  id: string;
  podId: string;
  /** Pod: namespace/name; container: its name. */
  name: string;
  namespace: string;
  state: string;
  /** CPU in cores (1.0 = one core busy), and the limit in cores (null = none). */
  cpu: number | null;
  cpuLimit: number | null;
  memory: number | null;
  memoryLimit: number | null;
  /** Bytes per second since the previous sample, and the totals. */
  ioReadRate: number | null;
  ioWriteRate: number | null;
  ioReadBytes: number | null;
  ioWriteBytes: number | null;
  pids: number | null;
  pidsLimit: number | null;
}

export interface TopSample {
  /** ISO 8601. */
  time: string;
  /** Seconds since the previous sample (null on the first). */
  interval: number | null;
  rows: TopRow[];
}

interface Prev {
  ns: bigint;
  read: bigint;
  write: bigint;
}

export class TopSampler {
  private readonly cpu = new Map<string, { ns: bigint; usage: bigint }>();
  private readonly io = new Map<string, Prev>();
  /** Each live row's cgroup path (for its CPU limit). */
  private readonly paths = new Map<string, string>();
  private last: bigint | undefined;

  constructor(private readonly cgroups: Cgroups) {}

  async sample(pods: readonly Readonly<SandboxRecord>[], containers: readonly Readonly<ContainerRecord>[]): Promise<TopSample> {
    const ts = nowNs();
    const rows: TopRow[] = [];
    const live = new Set<string>();
    const podOf = new Map(pods.map((p) => [p.id, p]));
    for (const p of pods) {
      if (p.state !== 'SANDBOX_READY') continue;
      const path = p.runtime.cgroup?.path;
      const st = path ? await this.cgroups.stats(path) : undefined;
      live.add(`p:${p.id}`);
      rows.push(this.row('pod', p.id, p.id, p.name, p.namespace, 'ready', st, ts, path));
    }
    for (const c of containers) {
      if (c.state !== 'CONTAINER_RUNNING' || c.creating) continue;
      const path = await this.cgroups.containerPath({ cgroupsPath: c.cgroupsPath, pid: c.pid }).catch(() => '');
      const st = path ? await this.cgroups.stats(path) : undefined;
      live.add(`c:${c.id}`);
      rows.push(this.row('container', c.id, c.sandboxId, c.name, podOf.get(c.sandboxId)?.namespace ?? '', 'running', st, ts, path));
    }
    for (const m of [this.cpu, this.io, this.paths] as Map<string, unknown>[]) for (const k of m.keys()) if (!live.has(k)) m.delete(k);
    const interval = this.last !== undefined ? Number(ts - this.last) / 1e9 : null;
    this.last = ts;
    return { time: new Date(Number(ts / 1_000_000n)).toISOString(), interval, rows: await Promise.all(rows.map((r) => this.withCpuLimit(r))) };
  }

  /** Entries held (for tests: bounded by the live pods and containers). */
  get size(): number {
    return this.cpu.size + this.io.size + this.paths.size;
  }

  private row(kind: 'pod' | 'container', id: string, podId: string, name: string, namespace: string, state: string, st: CgroupStats | undefined, ts: bigint, path: string | undefined): TopRow {
    const key = `${kind === 'pod' ? 'p' : 'c'}:${id}`;
    if (path) this.paths.set(key, path);
    let nanoCores: bigint | undefined;
    if (st?.cpu) {
      const prev = this.cpu.get(key);
      const usage = st.cpu.usageNs;
      if (prev && ts > prev.ns && usage >= prev.usage) nanoCores = ((usage - prev.usage) * 1_000_000_000n) / (ts - prev.ns);
      this.cpu.set(key, { ns: ts, usage });
    }
    let readRate: number | null = null;
    let writeRate: number | null = null;
    if (st?.io) {
      const prev = this.io.get(key);
      if (prev && ts > prev.ns) {
        const secs = Number(ts - prev.ns) / 1e9;
        readRate = Math.max(0, Number(st.io.readBytes - prev.read) / secs);
        writeRate = Math.max(0, Number(st.io.writeBytes - prev.write) / secs);
      }
      this.io.set(key, { ns: ts, read: st.io.readBytes, write: st.io.writeBytes });
    }
    const nano = nanoCores?.toString();
    return {
      kind,
      id,
      podId,
      name,
      namespace,
      state,
      cpu: nano !== undefined ? Number(nano) / 1e9 : null,
      cpuLimit: null,
      memory: st?.memory?.workingSet ?? null,
      memoryLimit: st?.memory?.limit ?? null,
      ioReadRate: readRate,
      ioWriteRate: writeRate,
      ioReadBytes: st?.io ? Number(st.io.readBytes) : null,
      ioWriteBytes: st?.io ? Number(st.io.writeBytes) : null,
      pids: st?.pids?.current ?? null,
      pidsLimit: st?.pids?.limit ?? null,
    };
  }

  /** CPU quota of the row's cgroup in cores (cpu.max on v2, cfs quota/period on v1). */
  private async withCpuLimit(r: TopRow): Promise<TopRow> {
    const path = this.paths.get(`${r.kind === 'pod' ? 'p' : 'c'}:${r.id}`);
    if (!path) return r;
    const read = async (p: string) => (await readFile(p, 'utf8').catch(() => '')).trim();
    const l = this.cgroups.layout;
    if (l.mode === 'v2' && l.unified) {
      const [q, p] = (await read(`${l.unified}${path}/cpu.max`)).split(/\s+/);
      if (q && q !== 'max' && Number(p) > 0) r.cpuLimit = Number(q) / Number(p);
    } else if (l.v1.cpu) {
      const q = Number(await read(`${l.v1.cpu}${path}/cpu.cfs_quota_us`));
      const p = Number(await read(`${l.v1.cpu}${path}/cpu.cfs_period_us`));
      if (q > 0 && p > 0) r.cpuLimit = q / p;
    }
    return r;
  }
}
