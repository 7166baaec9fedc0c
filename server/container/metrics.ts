// ListMetricDescriptors, ListPodSandboxMetrics, StreamPodSandboxMetrics: the same cgroup
// readings as the stats RPCs, as cAdvisor-named metrics, so that kubelet's CRI-sourced
// metrics (and existing dashboards) see familiar names. Label values follow each
// descriptor's label_keys; kubelet adds the pod and namespace itself.
import { nowNs } from '../time.js';
import { visible } from './stats.js';
import type { ContainerDeps } from './deps.js';
import type { ContainerRecord } from './types.js';
import type { ContainerStats } from '../../wire/cri/generated/runtime/v1/ContainerStats.js';
import type { Metric } from '../../wire/cri/generated/runtime/v1/Metric.js';
import type { MetricDescriptor } from '../../wire/cri/generated/runtime/v1/MetricDescriptor.js';
import type { PodSandboxMetrics } from '../../wire/cri/generated/runtime/v1/PodSandboxMetrics.js';
import type { ListMetricDescriptorsResponse } from '../../wire/cri/generated/runtime/v1/ListMetricDescriptorsResponse.js';
import type { ListPodSandboxMetricsResponse } from '../../wire/cri/generated/runtime/v1/ListPodSandboxMetricsResponse.js';

const LABEL_KEYS = ['id', 'name', 'image'];

interface Family {
  name: string;
  help: string;
  type: 'COUNTER' | 'GAUGE';
  value: (s: ContainerStats) => string | undefined;
}

const str = (v: { value?: unknown } | null | undefined) => (v?.value === undefined || v.value === null ? undefined : String(v.value));

export const FAMILIES: Family[] = [
  { name: 'container_cpu_usage_seconds_total', help: 'Cumulative CPU time consumed, in seconds', type: 'COUNTER', value: (s) => {
    const ns = str(s.cpu?.usage_core_nano_seconds);
    return ns === undefined ? undefined : String(BigInt(ns) / 1_000_000_000n);
  } },
  { name: 'container_memory_working_set_bytes', help: 'Current working set (usage minus inactive file cache), in bytes', type: 'GAUGE', value: (s) => str(s.memory?.working_set_bytes) },
  { name: 'container_memory_usage_bytes', help: 'Current memory usage including all memory regardless of when it was accessed, in bytes', type: 'GAUGE', value: (s) => str(s.memory?.usage_bytes) },
  { name: 'container_memory_rss', help: 'Size of RSS (anonymous memory), in bytes', type: 'GAUGE', value: (s) => str(s.memory?.rss_bytes) },
  { name: 'container_memory_failures_total', help: 'Cumulative count of page faults', type: 'COUNTER', value: (s) => str(s.memory?.page_faults) },
  { name: 'container_fs_usage_bytes', help: 'Bytes used by the container\'s writable layer', type: 'GAUGE', value: (s) => str(s.writable_layer?.used_bytes) },
  { name: 'container_fs_inodes_total', help: 'Inodes used by the container\'s writable layer', type: 'GAUGE', value: (s) => str(s.writable_layer?.inodes_used) },
];

export function listMetricDescriptors(): ListMetricDescriptorsResponse {
  const descriptors: MetricDescriptor[] = FAMILIES.map((f) => ({ name: f.name, help: f.help, label_keys: LABEL_KEYS }));
  return { descriptors };
}

export function containerMetrics(rec: Readonly<ContainerRecord>, s: ContainerStats, ts: string): Metric[] {
  const labels = [rec.id, rec.name, rec.image.ref];
  const out: Metric[] = [];
  for (const f of FAMILIES) {
    const v = f.value(s);
    if (v !== undefined) out.push({ name: f.name, timestamp: ts, metric_type: f.type, label_values: labels, value: { value: v } });
  }
  return out;
}

export async function listPodSandboxMetrics(deps: ContainerDeps): Promise<ListPodSandboxMetricsResponse> {
  const ts = nowNs().toString();
  const pods = deps.sandboxes.store.list().filter((s) => s.state === 'SANDBOX_READY');
  const containers = deps.store.all().filter(visible);
  const pod_metrics: PodSandboxMetrics[] = await Promise.all(
    pods.map(async (pod) => ({
      pod_sandbox_id: pod.id,
      metrics: [],
      container_metrics: await Promise.all(
        containers.filter((c) => c.sandboxId === pod.id).map(async (c) => ({ container_id: c.id, metrics: containerMetrics(c, await deps.stats.container(c), ts) })),
      ),
    })),
  );
  return { pod_metrics };
}
