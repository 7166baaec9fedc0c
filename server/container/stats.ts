// ContainerStats, ListContainerStats, StreamContainerStats, PodSandboxStats,
// ListPodSandboxStats, StreamPodSandboxStats: read from the containers' and pods'
// cgroups through the cgroup manager (a container's cgroup is where /proc/<pid>/cgroup says
// its process is), CPU rate from the previous sample,
// writable layer from the overlay upper dir (cached briefly: a walk is not free).
import type { Cgroups } from '../cgroups/manager.js';
import type { CgroupStats } from '../cgroups/common.js';
import { nowNs } from '../time.js';
import { cachedDirUsage, type DirUsage } from '../../hostutil/fs-usage.js';
import { matchesLabels } from '../sandbox/list.js';
import type { ContainerDeps } from './deps.js';
import type { ContainerRecord } from './types.js';
import type { ContainerStats } from '../../wire/cri/generated/runtime/v1/ContainerStats.js';
import type { CpuUsage } from '../../wire/cri/generated/runtime/v1/CpuUsage.js';
import type { MemoryUsage } from '../../wire/cri/generated/runtime/v1/MemoryUsage.js';
import type { PodSandboxStats } from '../../wire/cri/generated/runtime/v1/PodSandboxStats.js';
import type { ContainerStatsRequest__Output } from '../../wire/cri/generated/runtime/v1/ContainerStatsRequest.js';
import type { ContainerStatsResponse } from '../../wire/cri/generated/runtime/v1/ContainerStatsResponse.js';
import type { ListContainerStatsRequest__Output } from '../../wire/cri/generated/runtime/v1/ListContainerStatsRequest.js';
import type { ListContainerStatsResponse } from '../../wire/cri/generated/runtime/v1/ListContainerStatsResponse.js';
import type { PodSandboxStatsRequest__Output } from '../../wire/cri/generated/runtime/v1/PodSandboxStatsRequest.js';
import type { PodSandboxStatsResponse } from '../../wire/cri/generated/runtime/v1/PodSandboxStatsResponse.js';
import type { ListPodSandboxStatsRequest__Output } from '../../wire/cri/generated/runtime/v1/ListPodSandboxStatsRequest.js';
import type { ListPodSandboxStatsResponse } from '../../wire/cri/generated/runtime/v1/ListPodSandboxStatsResponse.js';
import type { SandboxRecord } from '../sandbox/types.js';

const u64 = (v: bigint | number | undefined) => (v === undefined ? null : { value: String(v) });

interface CpuSample {
  ns: bigint;
  usage: bigint;
}

/** usage_nano_cores from this reading and the previous one of the same cgroup (pure but for `samples`). */
export function cpuUsage(samples: Map<string, CpuSample>, key: string, stats: CgroupStats | undefined, ts: bigint): CpuUsage | null {
  if (!stats?.cpu) return null;
  const usage = stats.cpu.usageNs;
  const prev = samples.get(key);
  samples.set(key, { ns: ts, usage });
  const nanoCores = prev && ts > prev.ns && usage >= prev.usage ? ((usage - prev.usage) * 1_000_000_000n) / (ts - prev.ns) : undefined;
  return { timestamp: ts.toString(), usage_core_nano_seconds: u64(usage), usage_nano_cores: u64(nanoCores) };
}

/**
 * The samples behind the stats RPCs, one object per berthd (daemon.ts makes it): the previous
 * CPU reading per container and per pod (for rates), the writable layers' usage caches, and
 * where each container's process actually is (read once from /proc/<pid>/cgroup). Entries of
 * containers and pods that are gone are pruned on every list call.
 */
export interface StatsSampler {
  container(rec: Readonly<ContainerRecord>): Promise<ContainerStats>;
  pod(rec: Readonly<SandboxRecord>, containers: readonly Readonly<ContainerRecord>[]): Promise<PodSandboxStats>;
  /** Forgets what belongs to containers and pods not in the given sets. */
  prune(liveContainers: ReadonlySet<string>, livePods: ReadonlySet<string>): void;
  /** Entries held (for tests: the maps must not grow with churn). */
  size(): number;
}

export function createStatsSampler(cgroups: Cgroups): StatsSampler {
  const cpu = new Map<string, CpuSample>();
  const writable = new Map<string, () => Promise<DirUsage>>();
  /** container id → [pid, actual cgroup path]. */
  const where = new Map<string, [number, string]>();

  async function containerCgroup(rec: Readonly<ContainerRecord>): Promise<string> {
    const known = where.get(rec.id);
    if (known && known[0] === rec.pid) return known[1];
    const path = await cgroups.containerPath({ cgroupsPath: rec.cgroupsPath, pid: rec.pid });
    if (rec.pid > 0) where.set(rec.id, [rec.pid, path]);
    return path;
  }

  async function container(rec: Readonly<ContainerRecord>): Promise<ContainerStats> {
    const ts = nowNs();
    const cg = await cgroups.stats(await containerCgroup(rec));
    let usage = writable.get(rec.id);
    if (!usage) writable.set(rec.id, (usage = cachedDirUsage(rec.paths.upper)));
    const w = await usage();
    return {
      attributes: { id: rec.id, metadata: rec.config.metadata, labels: rec.config.labels, annotations: rec.config.annotations },
      cpu: cpuUsage(cpu, `c:${rec.id}`, cg, ts),
      memory: memoryUsage(cg, ts),
      writable_layer: { timestamp: ts.toString(), fs_id: { mountpoint: rec.paths.upper }, used_bytes: u64(w.bytes), inodes_used: u64(w.inodes) },
    };
  }

  return {
    container,

    async pod(sb, recs) {
      const ts = nowNs();
      const containers = await Promise.all(recs.map(container));
      const podPath = sb.runtime.cgroup?.path;
      const cg = podPath ? await cgroups.stats(podPath) : undefined;
      let cpuU = podPath ? cpuUsage(cpu, `p:${sb.id}`, cg, ts) : null;
      let memory = memoryUsage(cg, ts);
      if (!cg) {
        // No pod cgroup of its own: the pod is the sum of its containers.
        const sum = (pick: (c: ContainerStats) => { value?: unknown } | null | undefined) =>
          containers.reduce((a, c) => a + BigInt(String(pick(c)?.value ?? '0')), 0n);
        cpuU = { timestamp: ts.toString(), usage_core_nano_seconds: u64(sum((c) => c.cpu?.usage_core_nano_seconds)), usage_nano_cores: u64(sum((c) => c.cpu?.usage_nano_cores)) };
        memory = { timestamp: ts.toString(), working_set_bytes: u64(sum((c) => c.memory?.working_set_bytes)), usage_bytes: u64(sum((c) => c.memory?.usage_bytes)), rss_bytes: u64(sum((c) => c.memory?.rss_bytes)) };
      }
      return {
        attributes: { id: sb.id, metadata: sb.config.metadata, labels: sb.config.labels, annotations: sb.config.annotations },
        linux: { cpu: cpuU, memory, containers, process: cg?.pids ? { timestamp: ts.toString(), process_count: u64(cg.pids.current) } : null },
      };
    },

    prune(liveContainers, livePods) {
      for (const id of writable.keys()) if (!liveContainers.has(id)) writable.delete(id);
      for (const id of where.keys()) if (!liveContainers.has(id)) where.delete(id);
      for (const key of cpu.keys()) {
        const id = key.slice(2);
        if (key.startsWith('c:') ? !liveContainers.has(id) : !livePods.has(id)) cpu.delete(key);
      }
    },

    size: () => cpu.size + writable.size + where.size,
  };
}

export function memoryUsage(stats: CgroupStats | undefined, ts: bigint): MemoryUsage | null {
  const m = stats?.memory;
  if (!m) return null;
  const available = m.limit !== undefined && m.limit !== null && m.limit > m.workingSet ? m.limit - m.workingSet : undefined;
  return {
    timestamp: ts.toString(),
    working_set_bytes: u64(m.workingSet),
    available_bytes: u64(available),
    usage_bytes: u64(m.usage),
    rss_bytes: u64(m.rss),
    page_faults: u64(m.pageFaults),
    major_page_faults: u64(m.majorPageFaults),
  };
}

/** Forget samples of containers and pods that are gone. */
function prune(deps: ContainerDeps): void {
  deps.stats.prune(new Set(deps.store.all().map((c) => c.id)), new Set(deps.sandboxes.store.list().map((s) => s.id)));
}

export const visible = (c: Readonly<ContainerRecord>) => !c.creating && c.state !== 'CONTAINER_EXITED';

export async function containerStats(deps: ContainerDeps, req: ContainerStatsRequest__Output): Promise<ContainerStatsResponse> {
  const id = deps.store.resolve(req.container_id);
  return { stats: await deps.stats.container(deps.store.peek(id)!) };
}

export async function listContainerStats(deps: ContainerDeps, req: ListContainerStatsRequest__Output): Promise<ListContainerStatsResponse> {
  prune(deps);
  const f = req.filter;
  const recs = deps.store
    .all()
    .filter(visible)
    .filter((c) => !f || ((!f.id || c.id.startsWith(f.id)) && (!f.pod_sandbox_id || c.sandboxId.startsWith(f.pod_sandbox_id)) && matchesLabels(c.config.labels ?? {}, f.label_selector ?? {})));
  return { stats: await Promise.all(recs.map((r) => deps.stats.container(r))) };
}

function podStats(deps: ContainerDeps, sb: SandboxRecord): Promise<PodSandboxStats> {
  return deps.stats.pod(sb, deps.store.all().filter((c) => c.sandboxId === sb.id && visible(c)));
}

export async function podSandboxStats(deps: ContainerDeps, req: PodSandboxStatsRequest__Output): Promise<PodSandboxStatsResponse> {
  const id = deps.sandboxes.store.resolve(req.pod_sandbox_id);
  return { stats: await podStats(deps, deps.sandboxes.store.get(id)!) };
}

export async function listPodSandboxStats(deps: ContainerDeps, req: ListPodSandboxStatsRequest__Output): Promise<ListPodSandboxStatsResponse> {
  prune(deps);
  const f = req.filter;
  const pods = deps.sandboxes.store
    .list()
    .filter((s) => s.state === 'SANDBOX_READY')
    .filter((s) => !f || ((!f.id || s.id.startsWith(f.id)) && matchesLabels(s.config.labels ?? {}, f.label_selector ?? {})));
  return { stats: await Promise.all(pods.map((s) => podStats(deps, s))) };
}
