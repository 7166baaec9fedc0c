// The metric sets `[metrics] include` switches on and off (CRI-O's included_pod_metrics),
// because users fight cardinality.
export const METRIC_SETS = ['cpu', 'memory', 'diskIO', 'disk', 'network', 'process', 'oom', 'spec', 'pressure', 'hugetlb', 'runtime'] as const;
export type MetricSet = (typeof METRIC_SETS)[number];

export function isMetricSet(s: string): s is MetricSet {
  return (METRIC_SETS as readonly string[]).includes(s);
}
