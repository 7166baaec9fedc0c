// ContainerStats, ListContainerStats, StreamContainerStats, PodSandboxStats,
// ListPodSandboxStats, StreamPodSandboxStats: read from the metrics sampler
// (metrics/sampler.ts), the same samples /metrics and ListPodSandboxMetrics show, so the
// views never disagree. CPU rate comes from consecutive samples; a container the current
// round does not have yet is read on the spot.
import { criContainerStats, criPodLinuxStats } from '../../metrics/cri.js';
import type { MetricsView } from '../../metrics/view.js';
import { internal } from '../errors.js';
import { matchesLabels } from '../sandbox/list.js';
import type { ContainerDeps } from './deps.js';
import type { ContainerRecord } from './types.js';
import type { ContainerStats } from '../../wire/cri/generated/runtime/v1/ContainerStats.js';
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

export function metricsOf(deps: ContainerDeps): MetricsView {
  if (!deps.metrics) throw internal('the metrics sampler is not running');
  return deps.metrics;
}

export async function statsOf(deps: ContainerDeps, rec: Readonly<ContainerRecord>): Promise<ContainerStats> {
  const s = await metricsOf(deps).containerSample(rec.id);
  return criContainerStats(s, { id: rec.id, metadata: rec.config.metadata, labels: rec.config.labels, annotations: rec.config.annotations }, rec.paths.upper, Date.now());
}

export const visible = (c: Readonly<ContainerRecord>) => !c.creating && c.state !== 'CONTAINER_EXITED';

export async function containerStats(deps: ContainerDeps, req: ContainerStatsRequest__Output): Promise<ContainerStatsResponse> {
  const id = deps.store.resolve(req.container_id);
  return { stats: await statsOf(deps, deps.store.peek(id)!) };
}

export async function listContainerStats(deps: ContainerDeps, req: ListContainerStatsRequest__Output): Promise<ListContainerStatsResponse> {
  const f = req.filter;
  const recs = deps.store
    .all()
    .filter(visible)
    .filter((c) => !f || ((!f.id || c.id.startsWith(f.id)) && (!f.pod_sandbox_id || c.sandboxId.startsWith(f.pod_sandbox_id)) && matchesLabels(c.config.labels ?? {}, f.label_selector ?? {})));
  return { stats: await Promise.all(recs.map((c) => statsOf(deps, c))) };
}

async function podStats(deps: ContainerDeps, sb: SandboxRecord): Promise<PodSandboxStats> {
  const containers = await Promise.all(deps.store.all().filter((c) => c.sandboxId === sb.id && visible(c)).map((c) => statsOf(deps, c)));
  const pod = await metricsOf(deps).podSample(sb.id);
  return {
    attributes: { id: sb.id, metadata: sb.config.metadata, labels: sb.config.labels, annotations: sb.config.annotations },
    linux: criPodLinuxStats(pod, containers, Date.now()),
  };
}

export async function podSandboxStats(deps: ContainerDeps, req: PodSandboxStatsRequest__Output): Promise<PodSandboxStatsResponse> {
  const id = deps.sandboxes.store.resolve(req.pod_sandbox_id);
  return { stats: await podStats(deps, deps.sandboxes.store.get(id)!) };
}

export async function listPodSandboxStats(deps: ContainerDeps, req: ListPodSandboxStatsRequest__Output): Promise<ListPodSandboxStatsResponse> {
  const f = req.filter;
  const pods = deps.sandboxes.store
    .list()
    .filter((s) => s.state === 'SANDBOX_READY')
    .filter((s) => !f || ((!f.id || s.id.startsWith(f.id)) && matchesLabels(s.config.labels ?? {}, f.label_selector ?? {})));
  return { stats: await Promise.all(pods.map((s) => podStats(deps, s))) };
}
