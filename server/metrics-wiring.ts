// berthd's side of metrics/: what to sample (pods and containers from the stores, with
// cAdvisor's labels and the host side of each pod's veth), the data berth's own families
// read at scrape time, the hooks (CRI calls, pulls, shims, events), and the endpoint.
// metrics/ never imports server handlers; this file is where the two meet.
import { join } from 'node:path';
import type { Logger } from './logger.js';
import type { BerthConfig } from './config.js';
import type { SandboxDeps } from './sandbox/deps.js';
import type { ContainerDeps } from './container/deps.js';
import type { ContainerRecord } from './container/types.js';
import type { SandboxRecord } from './sandbox/types.js';
import type { ImageManager } from './image/index.js';
import type { StreamingServer } from './streaming/server.js';
import { handlerStates } from './status/status.js';
import type { ShimPool } from './runtime/shim-pool.js';
import { codeName, toServiceError } from './cri/status-codes.js';
import { Sampler, type MetricTarget, type TargetSource } from '../metrics/sampler.js';
import { cgroupSource } from '../metrics/cgroup-source.js';
import type { Cgroups } from './cgroups/manager.js';
import { familiesFor } from '../metrics/families.js';
import { BerthMetrics } from '../metrics/berth.js';
import { scrapeBody, startMetricsServer, type MetricsServer } from '../metrics/server.js';
import type { MetricsView } from '../metrics/view.js';
import type { MetricSet } from '../metrics/sets.js';
import type { RpcObserver } from './cri/rpc.js';

/** gRPC code names as grpc-go spells them (NotFound, DeadlineExceeded), as Go runtimes label their metrics. */
export function grpcCodeLabel(code: number): string {
  const name = codeName(code);
  if (name === 'OK') return 'OK';
  return name === 'CANCELLED' ? 'Canceled' : name.toLowerCase().replace(/(^|_)([a-z])/g, (_m, _u, c: string) => c.toUpperCase());
}

/** "CONTAINER_RUNNING" → "running" (CRI-O's spelling). */
export const stateLabel = (state: string) => state.replace(/^CONTAINER_/, '').toLowerCase();

const seconds = (ns: string) => Number(BigInt(ns || '0') / 1_000_000n) / 1000;

export function containerTarget(rec: Readonly<ContainerRecord>, sb: Readonly<SandboxRecord> | undefined): MetricTarget {
  return {
    key: rec.id,
    kind: 'container',
    podId: rec.sandboxId,
    cgroupRef: { cgroupsPath: rec.cgroupsPath, pid: rec.pid },
    labels: {
      container: rec.name,
      id: rec.cgroupsPath,
      image: rec.config.image?.user_specified_image || rec.image.ref,
      name: rec.id,
      namespace: sb?.namespace ?? '',
      pod: sb?.name ?? '',
    },
    startTime: seconds(rec.startedAt !== '0' ? rec.startedAt : rec.createdAt),
    upperDir: rec.paths.upper,
  };
}

/** The host side of the pod's veth, from the CNI result: an interface outside the pod that is not a bridge the conflist names. */
export function hostInterfaces(sb: Readonly<SandboxRecord>): { ifname: string; hostIf: string }[] {
  const cni = sb.runtime.cni;
  const result = cni?.result as { interfaces?: { name?: string; sandbox?: string }[] } | undefined;
  if (!cni || cni.deleted || !result?.interfaces) return [];
  const plugins = (cni.conflist.plugins as { bridge?: string }[] | undefined) ?? [];
  const bridges = new Set(plugins.map((p) => p.bridge).filter((b): b is string => typeof b === 'string'));
  const host = result.interfaces.filter((i) => i.name && !i.sandbox && !bridges.has(i.name));
  return host.length === 1 ? [{ ifname: cni.ifname, hostIf: host[0]!.name! }] : [];
}

export function podTarget(sb: Readonly<SandboxRecord>): MetricTarget {
  const t: MetricTarget = {
    key: `pod:${sb.id}`,
    kind: 'pod',
    podId: sb.id,
    labels: { container: '', id: sb.runtime.cgroup?.path ?? '', image: '', name: '', namespace: sb.namespace, pod: sb.name },
    startTime: seconds(sb.createdAt),
    interfaces: sb.state === 'SANDBOX_READY' ? hostInterfaces(sb) : [],
  };
  if (sb.runtime.cgroup?.path) t.cgroupPath = sb.runtime.cgroup.path;
  return t;
}

export interface MetricsWiring {
  view: MetricsView;
  berth: BerthMetrics;
  observeRpc: RpcObserver;
  server?: MetricsServer;
  close(): Promise<void>;
}

export async function startMetrics(opts: {
  config: BerthConfig;
  log: Logger;
  cgroups: Cgroups;
  sandboxes: SandboxDeps;
  containers: ContainerDeps;
  images: ImageManager;
  streaming: StreamingServer;
  shims: ShimPool;
}): Promise<MetricsWiring> {
  const { config, log, cgroups, sandboxes, containers, images, streaming, shims } = opts;
  const include = new Set(config.metrics.include as MetricSet[]);
  const families = familiesFor(include);

  const source: TargetSource = {
    layersRoot: join(config.root, 'containers'),
    targets() {
      // The records themselves: a round changes nothing, and copying every pod's record (its CNI result) each round is not free.
      const pods = new Map(sandboxes.store.all().map((s) => [s.id, s]));
      const out: MetricTarget[] = [...pods.values()].map(podTarget);
      for (const c of containers.store.all()) if (!c.creating) out.push(containerTarget(c, pods.get(c.sandboxId)));
      return out;
    },
  };

  let readiness: { at: number; value: Promise<{ runtime: boolean; network: boolean }> } | undefined;
  const berth = new BerthMetrics({
    readiness() {
      // Status probes the handler binaries: at most once per 10 s.
      if (!readiness || Date.now() - readiness.at > 10_000) {
        readiness = {
          at: Date.now(),
          value: Promise.all([handlerStates(config, containers.runtime), sandboxes.network.lookup()]).then(([handlers, net]) => ({
            runtime: handlers.find((h) => h.name === config.default_runtime)?.ready ?? false,
            network: net.ok,
          })),
        };
      }
      return readiness.value;
    },
    containers() {
      const counts = new Map<string, { state: string; handler: string; count: number }>();
      for (const c of containers.store.all()) {
        if (c.creating) continue;
        const k = `${c.state}\0${c.handler}`;
        const e = counts.get(k) ?? { state: stateLabel(c.state), handler: c.handler, count: 0 };
        e.count++;
        counts.set(k, e);
      }
      return [...counts.values()];
    },
    conmonMonitors: () => containers.store.all().filter((c) => c.conmonPid > 0 && (c.state === 'CONTAINER_CREATED' || c.state === 'CONTAINER_RUNNING')).length,
    shimPool: () => shims.stats(),
    streamingSessions: () => streaming.sessions,
  });

  const sampler = new Sampler(source, cgroupSource(cgroups, { pressure: include.has('pressure') }), {
    intervalMs: config.metrics.interval_seconds * 1000,
    include,
    hooks: {
      readError(reason, key, err) {
        berth.readError(reason);
        log.debug('metrics: target left out of the sample', { target: key, reason, error: err instanceof Error ? err.message : undefined });
      },
      round: (s, cpu) => berth.sampled(s, cpu),
    },
  });
  sampler.start();

  const view: MetricsView = {
    include,
    families,
    current: () => sampler.current(),
    async containerSample(id) {
      const have = (await sampler.current()).targets.get(id);
      // A container's first reading has no CPU rate (usage_nano_cores) yet: a stats call then
      // reads it again now, against that reading, as it does for one the round has not seen.
      if (have && (have.cpuNanoCores !== undefined || !have.cgroup?.stats.cpu)) return have;
      const rec = containers.store.peek(id);
      if (!rec || rec.creating) return undefined;
      return sampler.sampleOne(containerTarget(rec, sandboxes.store.get(rec.sandboxId)));
    },
    forget: (key) => sampler.forget(key),
    limitsChanged: (key) => sampler.limitsChanged(key),
    held: () => sampler.held(),
    async podSample(podId) {
      const sample = await sampler.current();
      const have = sample.targets.get(`pod:${podId}`);
      // A pod whose running containers the round has not seen yet is read now, like those
      // containers, so that the pod's figures cover them.
      const stale = containers.store.all().some((c) => c.sandboxId === podId && c.state === 'CONTAINER_RUNNING' && !sample.targets.has(c.id));
      if (have && !stale) return have;
      const sb = sandboxes.store.get(podId);
      return sb ? sampler.sampleOne(podTarget(sb)) : undefined;
    },
  };

  // Hooks: shim jobs, image pulls, pod start latency and OOM kills (from the event bus).
  shims.onJobDone = (s) => berth.shimJobDone(s);
  const pull = images.pull.bind(images);
  images.pull = async (ref, pullOpts) => {
    const started = process.hrtime.bigint();
    try {
      const r = await pull(ref, pullOpts);
      berth.imagePulled({ result: 'success', bytes: r.bytesDownloaded, seconds: r.seconds, layersReused: r.layersReused });
      return r;
    } catch (e) {
      berth.imagePulled({ result: 'failure', reason: grpcCodeLabel(toServiceError(e).code), seconds: Number(process.hrtime.bigint() - started) / 1e9 });
      throw e;
    }
  };
  // Pods that already run containers (berthd restarted) are not measured again.
  const started = new Set(containers.store.all().map((c) => c.sandboxId));
  const unsubscribe = sandboxes.events.subscribe((ev) => {
    const podId = ev.pod_sandbox_status?.id;
    if (!podId) return;
    if (ev.container_event_type === 'CONTAINER_STARTED_EVENT' && ev.container_id !== podId && !started.has(podId)) {
      started.add(podId);
      const sb = sandboxes.store.get(podId);
      if (sb) berth.podStarted(Math.max(0, Date.now() / 1000 - seconds(sb.createdAt)));
    } else if (ev.container_event_type === 'CONTAINER_STOPPED_EVENT' && ev.container_id !== podId && ev.containers_statuses?.[0]?.reason === 'OOMKilled') {
      berth.oomKilled();
    } else if (ev.container_event_type === 'CONTAINER_DELETED_EVENT' && ev.container_id === podId) {
      started.delete(podId);
    }
  });

  let server: MetricsServer | undefined;
  if (config.metrics.enabled) {
    const body = scrapeBody(sampler, families, include.has('runtime') ? berth : undefined);
    const onError = (e: unknown) => log.warn('metrics endpoint error', { error: (e as Error).message });
    try {
      server = await startMetricsServer(
        { address: config.metrics.address, path: config.metrics.path, ...(config.metrics.tls_cert ? { tlsCert: config.metrics.tls_cert, tlsKey: config.metrics.tls_key } : {}) },
        body,
        onError,
      );
      log.info('serving Prometheus metrics', { url: server.url, interval_seconds: config.metrics.interval_seconds, include: [...include] });
    } catch (e) {
      // The CRI service matters more than its metrics: berthd keeps serving without them.
      log.error('metrics endpoint not started', { address: config.metrics.address, error: (e as Error).message });
    }
  }

  return {
    view,
    berth,
    observeRpc: (method, code, s) => berth.observeRpc(method, grpcCodeLabel(code), s),
    ...(server ? { server } : {}),
    async close() {
      unsubscribe();
      sampler.stop();
      shims.onJobDone = undefined;
      await server?.close();
    },
  };
}
