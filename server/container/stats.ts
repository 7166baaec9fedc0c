// ContainerStats, ListContainerStats, StreamContainerStats, PodSandboxStats,
// ListPodSandboxStats, StreamPodSandboxStats: read from the containers' and pods'
// cgroups through server/cgroups (both hierarchies), CPU rate from the previous sample,
// writable layer from the overlay upper dir (cached briefly: a walk is not free).
import { readCgroupLayout, type CgroupLayout } from '../cgroups/detect.js';
import { createCgroupManager } from '../cgroups/manager.js';
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

let layout: Promise<CgroupLayout> | undefined;
const hostLayout = () => (layout ??= readCgroupLayout());

/** Previous CPU sample per cgroup path, for usage_nano_cores. */
const lastCpu = new Map<string, { ns: bigint; usage: bigint }>();
const writableUsage = new Map<string, () => Promise<DirUsage>>();

const u64 = (v: bigint | number | undefined) => (v === undefined ? null : { value: String(v) });

async function readCgroup(path: string): Promise<CgroupStats | undefined> {
  try {
    return await createCgroupManager(await hostLayout(), path).stats();
  } catch {
    return undefined; // gone (container exited and removed) or not created
  }
}

export function cpuUsage(path: string, stats: CgroupStats | undefined, ts: bigint): CpuUsage | null {
  if (!stats?.cpu) return null;
  const usage = stats.cpu.usageNs;
  const prev = lastCpu.get(path);
  lastCpu.set(path, { ns: ts, usage });
  const nanoCores = prev && ts > prev.ns && usage >= prev.usage ? ((usage - prev.usage) * 1_000_000_000n) / (ts - prev.ns) : undefined;
  return { timestamp: ts.toString(), usage_core_nano_seconds: u64(usage), usage_nano_cores: u64(nanoCores) };
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

export async function statsOf(rec: Readonly<ContainerRecord>): Promise<ContainerStats> {
  const ts = nowNs();
  const cg = await readCgroup(rec.cgroupsPath);
  let usage = writableUsage.get(rec.id);
  if (!usage) writableUsage.set(rec.id, (usage = cachedDirUsage(rec.paths.upper)));
  const w = await usage();
  return {
    attributes: { id: rec.id, metadata: rec.config.metadata, labels: rec.config.labels, annotations: rec.config.annotations },
    cpu: cpuUsage(rec.cgroupsPath, cg, ts),
    memory: memoryUsage(cg, ts),
    writable_layer: { timestamp: ts.toString(), fs_id: { mountpoint: rec.paths.upper }, used_bytes: u64(w.bytes), inodes_used: u64(w.inodes) },
  };
}

/** Forget per-container samples once the container is gone. */
function prune(deps: ContainerDeps): void {
  const live = new Set(deps.store.all().map((c) => c.id));
  for (const id of writableUsage.keys()) if (!live.has(id)) writableUsage.delete(id);
  const paths = new Set(deps.store.all().map((c) => c.cgroupsPath));
  for (const p of lastCpu.keys()) if (!paths.has(p) && !p.startsWith('pod:')) lastCpu.delete(p);
}

export const visible = (c: Readonly<ContainerRecord>) => !c.creating && c.state !== 'CONTAINER_EXITED';

export async function containerStats(deps: ContainerDeps, req: ContainerStatsRequest__Output): Promise<ContainerStatsResponse> {
  const id = deps.store.resolve(req.container_id);
  return { stats: await statsOf(deps.store.peek(id)!) };
}

export async function listContainerStats(deps: ContainerDeps, req: ListContainerStatsRequest__Output): Promise<ListContainerStatsResponse> {
  prune(deps);
  const f = req.filter;
  const recs = deps.store
    .all()
    .filter(visible)
    .filter((c) => !f || ((!f.id || c.id.startsWith(f.id)) && (!f.pod_sandbox_id || c.sandboxId.startsWith(f.pod_sandbox_id)) && matchesLabels(c.config.labels ?? {}, f.label_selector ?? {})));
  return { stats: await Promise.all(recs.map(statsOf)) };
}

async function podStats(deps: ContainerDeps, sb: SandboxRecord): Promise<PodSandboxStats> {
  const ts = nowNs();
  const containers = await Promise.all(deps.store.all().filter((c) => c.sandboxId === sb.id && visible(c)).map(statsOf));
  const podPath = sb.runtime.cgroup?.path;
  const cg = podPath ? await readCgroup(podPath) : undefined;
  let cpu = podPath ? cpuUsage(`pod:${podPath}`, cg, ts) : null;
  let memory = memoryUsage(cg, ts);
  if (!cg) {
    // No pod cgroup of its own: the pod is the sum of its containers.
    const sum = (pick: (c: ContainerStats) => { value?: unknown } | null | undefined) =>
      containers.reduce((a, c) => a + BigInt(String(pick(c)?.value ?? '0')), 0n);
    cpu = { timestamp: ts.toString(), usage_core_nano_seconds: u64(sum((c) => c.cpu?.usage_core_nano_seconds)), usage_nano_cores: u64(sum((c) => c.cpu?.usage_nano_cores)) };
    memory = { timestamp: ts.toString(), working_set_bytes: u64(sum((c) => c.memory?.working_set_bytes)), usage_bytes: u64(sum((c) => c.memory?.usage_bytes)), rss_bytes: u64(sum((c) => c.memory?.rss_bytes)) };
  }
  return {
    attributes: { id: sb.id, metadata: sb.config.metadata, labels: sb.config.labels, annotations: sb.config.annotations },
    linux: { cpu, memory, containers, process: cg?.pids ? { timestamp: ts.toString(), process_count: u64(cg.pids.current) } : null },
  };
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
