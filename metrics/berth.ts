// berth's own metrics under berth_, with prom-client: CRI calls, readiness, pod start
// latency, image pulls, containers, OOM kills, monitors, the shim pool, streaming sessions,
// the sampler itself, and prom-client's process and Node.js metrics. The names are a
// contract (the helm chart's alerts use them). Data that lives elsewhere comes in through
// the small hook functions below or through callbacks read at scrape time (BerthGauges).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Read at scrape time; each may be slow-ish, so callers cache where needed. */
export interface BerthGauges {
  readiness(): Promise<{ runtime: boolean; network: boolean }>;
  /** Containers by state and runtime handler. */
  containers(): { state: string; handler: string; count: number }[];
  conmonMonitors(): number;
  shimPool(): { spares: number; jobsInFlight: number } | undefined;
  streamingSessions(): number | undefined;
}

export interface ImagePullOutcome {
  result: 'success' | 'failure';
  /** Failure reason (the gRPC code of the error as grpc-go names it), for failures. */
  reason?: string;
  bytes?: number;
  seconds: number;
  layersReused?: number;
}

// CRI calls range from sub-millisecond lists to pulls of minutes.
const RPC_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

export class BerthMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'method' | 'code'>;
  private readonly requestSeconds: Histogram<'method'>;
  private readonly podStart: Histogram;
  private readonly pulls: Counter<'result'>;
  private readonly pullFailures: Counter<'reason'>;
  private readonly pullBytes: Counter;
  private readonly pullSeconds: Histogram;
  private readonly layersReused: Counter;
  private readonly ooms: Counter;
  private readonly shimJobSeconds: Histogram;
  private readonly readErrors: Counter<'reason'>;
  private readonly sampleSeconds: Histogram;
  private readonly sampleCpu: Counter;

  constructor(gauges: BerthGauges) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    // Gauges named *_total fail promtool's lint; the same counts are in nodejs_active_handles,
    // nodejs_active_requests and nodejs_active_resources (by type).
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) this.registry.removeSingleMetric(name);
    this.requests = new Counter({ name: 'berth_cri_requests_total', help: 'CRI calls finished, by method and gRPC status code (OK, NotFound, …, as grpc-go names them).', labelNames: ['method', 'code'], registers });
    this.requestSeconds = new Histogram({ name: 'berth_cri_request_duration_seconds', help: 'CRI call latency in seconds, by method.', labelNames: ['method'], buckets: RPC_BUCKETS, registers });
    this.podStart = new Histogram({ name: 'berth_pod_start_duration_seconds', help: 'Seconds from RunPodSandbox to the first container of the pod running.', buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300], registers });
    this.pulls = new Counter({ name: 'berth_image_pulls_total', help: 'Image pulls finished, by result (success, failure).', labelNames: ['result'], registers });
    this.pullFailures = new Counter({ name: 'berth_image_pull_failures_total', help: 'Failed image pulls by reason (the gRPC code of the error, e.g. NotFound, Unavailable).', labelNames: ['reason'], registers });
    this.pullBytes = new Counter({ name: 'berth_image_pull_bytes_total', help: 'Bytes received from registries by image pulls.', registers });
    this.pullSeconds = new Histogram({ name: 'berth_image_pull_duration_seconds', help: 'Duration of successful image pulls in seconds.', buckets: [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600], registers });
    this.layersReused = new Counter({ name: 'berth_image_layers_reused_total', help: 'Layers a pull found already present (not downloaded).', registers });
    this.ooms = new Counter({ name: 'berth_oom_kills_total', help: 'Containers that ended OOMKilled.', registers });
    this.shimJobSeconds = new Histogram({ name: 'berth_shim_job_duration_seconds', help: 'Seconds a berth-shim job (container create) took.', buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers });
    this.readErrors = new Counter({ name: 'berth_metrics_read_errors_total', help: 'Pods or containers left out of a metrics sample because their reads failed or were too slow, by reason (error, timeout).', labelNames: ['reason'], registers });
    this.sampleSeconds = new Histogram({ name: 'berth_metrics_sample_duration_seconds', help: 'Wall time of one sampling round over all pods and containers.', buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers });
    this.sampleCpu = new Counter({ name: 'berth_metrics_sample_cpu_seconds_total', help: 'berthd CPU seconds spent in sampling rounds (process CPU over each round).', registers });
    for (const reason of ['error', 'timeout']) this.readErrors.inc({ reason }, 0);
    this.pulls.inc({ result: 'success' }, 0);
    this.pulls.inc({ result: 'failure' }, 0);

    const readiness = async (which: 'runtime' | 'network') => ((await gauges.readiness())[which] ? 1 : 0);
    new Gauge({ name: 'berth_runtime_ready', help: '1 when the RuntimeReady condition is true (the default runtime handler works), else 0.', registers, async collect() { this.set(await readiness('runtime')); } });
    new Gauge({ name: 'berth_network_ready', help: '1 when the NetworkReady condition is true (a CNI network config is usable), else 0.', registers, async collect() { this.set(await readiness('network')); } });
    new Gauge({
      name: 'berth_containers', help: 'Containers by state (created, running, exited, unknown) and runtime handler.', labelNames: ['state', 'handler'], registers,
      collect() {
        this.reset();
        for (const c of gauges.containers()) this.set({ state: c.state, handler: c.handler }, c.count);
      },
    });
    new Gauge({ name: 'berth_conmon_monitors', help: 'Live conmon processes (one per created or running container).', registers, collect() { this.set(gauges.conmonMonitors()); } });
    new Gauge({ name: 'berth_shim_spares', help: 'Idle berth-shims started ahead of need.', registers, collect() { const p = gauges.shimPool(); if (p) this.set(p.spares); } });
    new Gauge({ name: 'berth_shim_jobs_in_flight', help: 'berth-shim jobs running now.', registers, collect() { const p = gauges.shimPool(); if (p) this.set(p.jobsInFlight); } });
    new Gauge({ name: 'berth_streaming_sessions', help: 'Open exec/attach/port-forward connections.', registers, collect() { const n = gauges.streamingSessions(); if (n !== undefined) this.set(n); } });
  }

  /** The RpcObserver of server/cri/rpc.ts. */
  readonly observeRpc = (method: string, code: string, seconds: number): void => {
    this.requests.inc({ method, code });
    this.requestSeconds.observe({ method }, seconds);
  };

  podStarted(seconds: number): void {
    this.podStart.observe(seconds);
  }

  imagePulled(o: ImagePullOutcome): void {
    this.pulls.inc({ result: o.result });
    if (o.result === 'failure') this.pullFailures.inc({ reason: o.reason ?? 'Unknown' });
    else this.pullSeconds.observe(o.seconds);
    if (o.bytes) this.pullBytes.inc(o.bytes);
    if (o.layersReused) this.layersReused.inc(o.layersReused);
  }

  oomKilled(): void {
    this.ooms.inc();
  }

  shimJobDone(seconds: number): void {
    this.shimJobSeconds.observe(seconds);
  }

  readError(reason: 'timeout' | 'error'): void {
    this.readErrors.inc({ reason });
  }

  sampled(seconds: number, cpuSeconds: number): void {
    this.sampleSeconds.observe(seconds);
    this.sampleCpu.inc(cpuSeconds);
  }
}
