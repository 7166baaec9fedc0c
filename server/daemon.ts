// berthd's wiring: store, domain modules, gRPC services on the CRI socket, recovery
// after a restart, and graceful shutdown. main.ts only parses flags and calls this.
import * as grpc from '@grpc/grpc-js';
import { mkdir, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { BerthConfig } from './config.js';
import type { Logger } from './logger.js';
import { openDatabase, type Db } from './store/db.js';
import { SettingsStore } from './store/settings.js';
import { PodSandboxStore } from './sandbox/store.js';
import { KeyedMutex } from './keyed-mutex.js';
import { EventBus } from './events.js';
import { lookupNetworkConfig } from './network/conflist.js';
import { detectCgroupHost } from './cgroups/detect.js';
import { createCgroups } from './cgroups/manager.js';
import { defaultRuntimeOnHost } from './runtime/handlers.js';
import { resolveCgroupDriver } from './cgroups/config.js';
import { noContainers, type SandboxDeps } from './sandbox/deps.js';
import { recoverSandboxes } from './sandbox/recover.js';
import { loadCri } from '../wire/cri/proto.js';
import { buildHandlers, type RpcOptions } from './cri/rpc.js';
import { prepareSocketPath, restrictSocket } from './cri/socket.js';
import { authorityFixingStream } from './cri/authority-fix.js';
import { runtimeServiceImpl, QUIET_METHODS } from './cri/services.js';
import { imageServiceImpl } from './cri/image-service.js';
import { ImageManager } from './image/index.js';
import { registryConfigFromToml } from './image/registry-config.js';
import { cachedDirUsage } from '../hostutil/fs-usage.js';
import { startAdminServer } from './admin.js';
import type { RecentLog } from './recent-log.js';
import { EventRing } from './event-ring.js';
import { TopSampler } from './ops/top.js';
import type { ViewSource } from './ops/views.js';
import { ImageStore } from './image/image-store.js';
import { POD_CIDR_KEY } from './status/update-runtime-config.js';
import { ContainerStore } from './container/store.js';
import { AppArmorProfiles, readAppArmorHost } from './container/apparmor.js';
import { readHostFacts, type ContainerDeps } from './container/deps.js';
import { podContainers } from './container/pod-containers.js';
import { watchExits } from './container/exits.js';
import { recoverContainers } from './container/recover.js';
import { RuntimeClient } from './runtime/client.js';
import { settleOrphanedShims, ShimPool } from './runtime/shim-pool.js';
import { StreamingServer } from './streaming/server.js';
import { execStream } from './container/exec-stream.js';
import { attachStream } from './container/attach.js';
import { openPodPort } from './sandbox/port-forward.js';
import { validateRequest, type ValidationEnv } from './validate/requests.js';
import { readHostOffer } from './validate/host.js';
import { daemonLeakAuditor } from './audit/daemon.js';
import { startMetrics } from './metrics-wiring.js';

export interface Daemon {
  readonly config: BerthConfig;
  readonly socket: string;
  /** Stops accepting calls, lets in-flight ones finish (up to the shutdown timeout), closes the store. */
  stop(): Promise<void>;
}

export interface DaemonServices {
  config: BerthConfig;
  log: Logger;
  db: Db;
  settings: SettingsStore;
  sandboxes: SandboxDeps;
  images: ImageManager;
  containers: ContainerDeps;
  streaming: StreamingServer;
}

export async function startDaemon(config: BerthConfig, log: Logger, opts: { recent?: RecentLog } = {}): Promise<Daemon> {
  const startedAt = new Date();
  await mkdir(config.root, { recursive: true, mode: 0o711 });
  await mkdir(config.state, { recursive: true, mode: 0o711 });
  await prepareSocketPath(config.socket);

  // The host's cgroup layout and whether systemd runs it: detected once, here, and handed down.
  // A driver the host cannot serve fails the start before anything is opened.
  const cgroupHost = await detectCgroupHost();
  resolveCgroupDriver(config.cgroup_driver, cgroupHost);
  // default_runtime "auto" becomes a handler here, once: every reader of the config sees that one.
  const defaultRuntime = await defaultRuntimeOnHost(config, cgroupHost.layout.mode);
  if (defaultRuntime.name !== config.default_runtime) log.info('default runtime handler', { handler: defaultRuntime.name, configured: config.default_runtime, why: defaultRuntime.why });
  config.default_runtime = defaultRuntime.name;
  const db = openDatabase(join(config.root, 'meta.db'), { onNewerStore: (msg, fields) => log.warn(msg, fields) });
  const settings = new SettingsStore(db);
  const cgroups = createCgroups(cgroupHost, { setting: config.cgroup_driver, settings });
  log.info('cgroups', { driver: cgroups.driver, configured: config.cgroup_driver, mode: cgroups.layout.mode, systemd: cgroupHost.systemd });
  const sandboxes: SandboxDeps = {
    config,
    store: new PodSandboxStore(db),
    locks: new KeyedMutex(),
    events: new EventBus(),
    network: {
      podCidr: () => settings.get(POD_CIDR_KEY) ?? '',
      lookup: () => lookupNetworkConfig(config.cni.conf_dir, config.cni.bin_dirs),
    },
    cgroups,
    // Filled in below, once the container deps (which need the image manager) exist.
    containers: noContainers,
    log,
  };
  const images = await ImageManager.open({
    root: config.root,
    db,
    registry: registryConfigFromToml(config.image.registry),
    logger: log.child({ component: 'images' }),
    pinnedImages: [config.sandbox_image],
    maxConcurrentDownloads: config.image.max_concurrent_downloads,
    progressIntervalMs: config.image.progress_interval_seconds * 1000,
  });
  const shims = new ShimPool({ mark: config.state });
  const runtime = new RuntimeClient(config, { cgroupMode: cgroups.layout.mode, conmon: config.conmon });
  const apparmorHost = await readAppArmorHost();
  log.info('apparmor', apparmorHost.enabled ? { enabled: true, parser: apparmorHost.parser } : { enabled: false, reason: apparmorHost.reason });
  const containers: ContainerDeps = {
    config,
    log: log.child({ component: 'containers' }),
    store: new ContainerStore(db),
    locks: new KeyedMutex(),
    sandboxes,
    images,
    events: sandboxes.events,
    runtime,
    shims,
    apparmor: new AppArmorProfiles(apparmorHost, config.state, log.child({ component: 'apparmor' })),
    host: await readHostFacts(),
  };
  sandboxes.containers = podContainers(() => containers);
  const streaming = await StreamingServer.start(
    { address: config.streaming.address, port: config.streaming.port, idleTimeoutMs: config.streaming.idle_timeout_seconds * 1000 },
    {
      exec: (id, cmd, opts, streams) => execStream(containers, id, cmd, opts, streams),
      attach: (id, opts, streams) => attachStream(containers, id, opts, streams),
      openPort: (podId, port, signal) => openPodPort(sandboxes, podId, port, signal),
    },
    log.child({ component: 'streaming' }),
  );
  const services: DaemonServices = { config, log, db, settings, sandboxes, images, containers, streaming };
  await recoverSandboxes(sandboxes);
  const exitsWatcher = watchExits(containers);
  const orphanedShims = await settleOrphanedShims(config.state);
  if (orphanedShims) log.warn('waited for berth-shims a previous berthd left to finish their jobs', { shims: orphanedShims });
  await recoverContainers(containers);
  shims.prestart(config.shim_spares);
  const metrics = await startMetrics({ config, log: log.child({ component: 'metrics' }), cgroups, sandboxes, containers, images, streaming, shims });
  containers.metrics = metrics.view;

  const cri = loadCri();
  const validationEnv: ValidationEnv = { seccompProfileRoots: config.seccomp_profile_roots, host: await readHostOffer() };
  const rpcOpts: RpcOptions = { logger: log, quiet: QUIET_METHODS, validate: (method, req) => validateRequest(method, req, validationEnv), observe: metrics.observeRpc };
  const server = new grpc.Server({ 'grpc.max_receive_message_length': 16 * 1024 * 1024, 'grpc.max_send_message_length': 16 * 1024 * 1024 });
  server.addService(cri.runtime.v1.RuntimeService.service, buildHandlers('RuntimeService', cri.runtime.v1.RuntimeService.service, runtimeServiceImpl(services), rpcOpts));
  server.addService(cri.runtime.v1.ImageService.service, buildHandlers('ImageService', cri.runtime.v1.ImageService.service, imageServiceImpl({ images, containersDir: join(config.root, 'containers'), containersUsage: cachedDirUsage(join(config.root, 'containers')) }), rpcOpts));
  // berthd accepts connections itself and injects them into grpc-js (see authority-fix.ts).
  const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  const listener = createServer((sock) => injector.injectConnection(authorityFixingStream(sock)));
  await new Promise<void>((resolve, reject) => {
    listener.once('error', reject);
    listener.listen(config.socket, () => resolve());
  });
  await restrictSocket(config.socket);
  const adminSocket = join(config.state, 'admin.sock');
  const eventRing = new EventRing(sandboxes.events);
  const views: ViewSource = { sandboxes: () => sandboxes.store.list(), containers: () => containers.store.all(), images: new ImageStore(db), root: config.root, cgroups, events: (id) => eventRing.get(id) };
  const admin = await startAdminServer(adminSocket, {
    images,
    log: log.child({ component: 'admin' }),
    leaks: daemonLeakAuditor({ config, sandboxes, containers, images, settings }),
    views: { source: views, top: new TopSampler(cgroups) },
    sizes: () => inMemorySizes(services, shims, cgroups),
    health: () => ({
      pid: process.pid,
      startedAt: startedAt.toISOString(),
      uptimeSeconds: Math.round((Date.now() - startedAt.getTime()) / 1000),
      socket: config.socket,
      serving: listener.listening,
      cgroupDriver: cgroups.driver,
      cgroupMode: cgroups.layout.mode,
      recent: opts.recent?.entries() ?? [],
      totals: opts.recent?.totals() ?? { warn: 0, error: 0 },
    }),
  });
  log.info('berthd serving CRI', { socket: config.socket, root: config.root, state: config.state, streaming: streaming.baseUrl, sandboxes: sandboxes.store.ids().length });

  let stopping: Promise<void> | undefined;
  return {
    config,
    socket: config.socket,
    stop() {
      stopping ??= (async () => {
        log.info('berthd shutting down: finishing in-flight calls');
        listener.close();
        admin.close();
        admin.closeAllConnections();
        await streaming.close();
        await metrics.close();
        exitsWatcher.close();
        shims.stop();
        // Long-lived event streams end now; unary calls in flight may finish.
        sandboxes.events.close();
        injector.drain(config.shutdown_timeout_seconds * 1000);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            log.warn('in-flight calls did not finish in time; closing them');
            injector.destroy();
            server.forceShutdown();
            resolve();
          }, config.shutdown_timeout_seconds * 1000);
          server.tryShutdown(() => {
            clearTimeout(timer);
            resolve();
          });
        });
        await rm(config.socket, { force: true });
        await rm(adminSocket, { force: true });
        await images.close();
        db.close();
        log.info('berthd stopped; pods and containers keep running');
      })();
      return stopping;
    },
  };
}

/**
 * How many entries berthd's in-memory tables hold, by table (admin GET /v1/debug/sizes).
 * With no pods, containers or calls in flight, every per-pod or per-call table is back to
 * where it started; bench/scenarios/soak.ts checks that across 1,000 pod lifecycles.
 */
function inMemorySizes(s: DaemonServices, shims: ShimPool, cgroups: ReturnType<typeof createCgroups>): Record<string, number> {
  const shim = shims.counts();
  const streaming = s.streaming.counts();
  return {
    sandboxes: s.sandboxes.store.ids().length,
    containers: s.containers.store.all().length,
    sandboxLocks: s.sandboxes.locks.size,
    containerLocks: s.containers.locks.size,
    statsSamples: s.containers.metrics?.held() ?? 0,
    eventListeners: s.sandboxes.events.size,
    streamingTokens: streaming.tokens,
    streamingSockets: streaming.sockets,
    shims: shim.shims,
    shimJobs: shim.jobs,
    cgroupOomMarks: cgroups.oomMarkCount?.() ?? 0,
    cgroupReadCache: cgroups.readCacheSize?.() ?? 0,
    heapUsedKiB: Math.round(process.memoryUsage().heapUsed / 1024),
  };
}
