// What server's stats handlers see of the metrics: the samples, per pod and container,
// and the families in use. Implemented by berthd's metrics wiring (server/metrics-wiring.ts).
import type { Family } from './families.js';
import type { Sample, TargetSample } from './sampler.js';
import type { MetricSet } from './sets.js';

export interface MetricsView {
  include: ReadonlySet<MetricSet>;
  families: readonly Family[];
  /** The current Sample (see Sampler.current). */
  current(): Promise<Sample>;
  /** A container's sample: from the current round, or read now when the round does not have it. */
  containerSample(id: string): Promise<TargetSample | undefined>;
  podSample(podId: string): Promise<TargetSample | undefined>;
  /** A container's limits changed (UpdateContainerResources): the next sample reads them again. */
  limitsChanged(key: string): void;
  /** Drops a removed container's (or, with `pod:` + id, a removed pod's) kept readings now. */
  forget(key: string): void;
  /** Readings kept per target (the soak checks they do not grow with churn). */
  held(): number;
}
