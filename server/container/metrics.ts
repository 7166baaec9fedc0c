// ListMetricDescriptors, ListPodSandboxMetrics, StreamPodSandboxMetrics: the families of
// metrics/families.ts from the sampler's current Sample — the same values /metrics serves
// (see metrics/cri.ts for the CRI label keys and the UInt64 rounding of seconds).
import { criDescriptors, criMetrics } from '../../metrics/cri.js';
import { metricsOf, visible } from './stats.js';
import type { ContainerDeps } from './deps.js';
import type { PodSandboxMetrics } from '../../wire/cri/generated/runtime/v1/PodSandboxMetrics.js';
import type { ListMetricDescriptorsResponse } from '../../wire/cri/generated/runtime/v1/ListMetricDescriptorsResponse.js';
import type { ListPodSandboxMetricsResponse } from '../../wire/cri/generated/runtime/v1/ListPodSandboxMetricsResponse.js';

export function listMetricDescriptors(deps: ContainerDeps): ListMetricDescriptorsResponse {
  return { descriptors: criDescriptors(metricsOf(deps).include) };
}

export async function listPodSandboxMetrics(deps: ContainerDeps): Promise<ListPodSandboxMetricsResponse> {
  const m = metricsOf(deps);
  const sample = await m.current();
  const pods = deps.sandboxes.store.list().filter((s) => s.state === 'SANDBOX_READY');
  const containers = deps.store.all().filter(visible);
  // Containers newer than the round are read on the spot, as for the stats RPCs.
  const pod_metrics: PodSandboxMetrics[] = await Promise.all(
    pods.map(async (pod) => {
      const ps = await m.podSample(pod.id);
      const own = containers.filter((c) => c.sandboxId === pod.id);
      const samples = await Promise.all(own.map((c) => m.containerSample(c.id)));
      return {
        pod_sandbox_id: pod.id,
        metrics: ps ? criMetrics(ps, sample, m.families, [pod.id, pod.name, '']) : [],
        container_metrics: own.flatMap((c, i) => {
          const cs = samples[i];
          return cs ? [{ container_id: c.id, metrics: criMetrics(cs, sample, m.families, [c.id, c.name, c.image.ref]) }] : [];
        }),
      };
    }),
  );
  return { pod_metrics };
}
