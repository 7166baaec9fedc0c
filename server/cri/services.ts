// The RPC table: CRI method name → the domain function that serves it. Handlers stay
// thin (validation and work live in the domain modules); anything not listed answers
// UNIMPLEMENTED naming the RPC (see rpc.ts).
import type { DaemonServices } from '../daemon.js';
import { inBatches, type ServiceImpl, type UnaryImpl, type StreamImpl } from './rpc.js';
import { version } from '../runtime/version.js';
import { status } from '../runtime/status.js';
import { runtimeConfig, updateRuntimeConfig } from '../runtime/runtime-config.js';
import { runPodSandbox } from '../sandbox/run.js';
import { stopPodSandbox } from '../sandbox/stop.js';
import { removePodSandbox } from '../sandbox/remove.js';
import { podSandboxStatus } from '../sandbox/status.js';
import { listPodSandbox, streamPodSandboxes } from '../sandbox/list.js';
import { containerEvents } from '../runtime/events.js';
import { containerStats, listContainerStats, podSandboxStats, listPodSandboxStats } from '../container/stats.js';
import { listMetricDescriptors, listPodSandboxMetrics } from '../container/metrics.js';
import { createContainer } from '../container/create.js';
import { startContainer } from '../container/start.js';
import { stopContainer } from '../container/stop.js';
import { removeContainer } from '../container/remove.js';
import { containerStatus } from '../container/status.js';
import { listContainers, streamContainers } from '../container/list.js';
import { execSync } from '../container/exec-sync.js';
import { updateContainerResources } from '../container/update.js';
import { reopenContainerLog } from '../container/reopen-log.js';
import { exec, attach, portForward } from '../streaming/requests.js';

/** Frequent read-only polls: logged at debug level. */
export const QUIET_METHODS: ReadonlySet<string> = new Set([
  'Version',
  'Status',
  'ListPodSandbox',
  'PodSandboxStatus',
  'ListContainers',
  'ContainerStatus',
  'ListImages',
  'ImageStatus',
  'ImageFsInfo',
  'ListContainerStats',
  'ListPodSandboxStats',
  'RuntimeConfig',
]);

// Request/response types are checked inside each domain function; the table erases them.
const u = <Req, Res>(fn: UnaryImpl<Req, Res>) => fn as unknown as UnaryImpl<never, unknown>;
const s = <Req, Res>(fn: StreamImpl<Req, Res>) => fn as unknown as StreamImpl<never, unknown>;

export function runtimeServiceImpl(svc: DaemonServices): ServiceImpl {
  const sb = svc.sandboxes;
  const ct = svc.containers;
  return {
    unary: {
      Version: u(() => version()),
      Status: u((req: Parameters<typeof status>[1]) => status({ config: svc.config, network: sb.network, cgroups: sb.cgroups }, req)),
      RuntimeConfig: u(() => runtimeConfig(svc.config)),
      UpdateRuntimeConfig: u((req: Parameters<typeof updateRuntimeConfig>[1], ctx) => updateRuntimeConfig(svc.settings, req, ctx.log)),
      RunPodSandbox: u((req: Parameters<typeof runPodSandbox>[1], ctx) => runPodSandbox(sb, req, ctx)),
      StopPodSandbox: u((req: Parameters<typeof stopPodSandbox>[1], ctx) => stopPodSandbox(sb, req, ctx)),
      RemovePodSandbox: u((req: Parameters<typeof removePodSandbox>[1], ctx) => removePodSandbox(sb, req, ctx)),
      PodSandboxStatus: u((req: Parameters<typeof podSandboxStatus>[1]) => podSandboxStatus(sb, req)),
      ListPodSandbox: u((req: Parameters<typeof listPodSandbox>[1]) => listPodSandbox(sb, req)),
      CreateContainer: u((req: Parameters<typeof createContainer>[1], ctx) => createContainer(ct, req, ctx)),
      StartContainer: u((req: Parameters<typeof startContainer>[1], ctx) => startContainer(ct, req, ctx)),
      StopContainer: u((req: Parameters<typeof stopContainer>[1], ctx) => stopContainer(ct, req, ctx)),
      RemoveContainer: u((req: Parameters<typeof removeContainer>[1], ctx) => removeContainer(ct, req, ctx)),
      ContainerStatus: u((req: Parameters<typeof containerStatus>[1]) => containerStatus(ct, req)),
      ListContainers: u((req: Parameters<typeof listContainers>[1]) => listContainers(ct, req)),
      ExecSync: u((req: Parameters<typeof execSync>[1]) => execSync(ct, req)),
      Exec: u(async (req: Parameters<typeof exec>[1]) => exec({ containers: ct, streaming: svc.streaming }, req)),
      Attach: u(async (req: Parameters<typeof attach>[1]) => attach({ containers: ct, streaming: svc.streaming }, req)),
      PortForward: u(async (req: Parameters<typeof portForward>[1]) => portForward({ containers: ct, streaming: svc.streaming }, req)),
      UpdateContainerResources: u((req: Parameters<typeof updateContainerResources>[1], ctx) => updateContainerResources(ct, req, ctx)),
      ReopenContainerLog: u((req: Parameters<typeof reopenContainerLog>[1]) => reopenContainerLog(ct, req)),
      ContainerStats: u((req: Parameters<typeof containerStats>[1]) => containerStats(ct, req)),
      ListContainerStats: u((req: Parameters<typeof listContainerStats>[1]) => listContainerStats(ct, req)),
      PodSandboxStats: u((req: Parameters<typeof podSandboxStats>[1]) => podSandboxStats(ct, req)),
      ListPodSandboxStats: u((req: Parameters<typeof listPodSandboxStats>[1]) => listPodSandboxStats(ct, req)),
      ListMetricDescriptors: u(() => listMetricDescriptors()),
      ListPodSandboxMetrics: u(() => listPodSandboxMetrics(ct)),
    },
    stream: {
      StreamPodSandboxes: s((req: Parameters<typeof streamPodSandboxes>[1], send: Parameters<typeof streamPodSandboxes>[2]) => streamPodSandboxes(sb, req, send)),
      StreamContainers: s((req: Parameters<typeof streamContainers>[1], send: Parameters<typeof streamContainers>[2]) => streamContainers(ct, req, send)),
      StreamContainerStats: s(async (req: Parameters<typeof listContainerStats>[1], send: (r: { container_stats: unknown[] }) => void) => {
        const { stats } = await listContainerStats(ct, req);
        for (const container_stats of inBatches(stats!)) send({ container_stats });
      }),
      StreamPodSandboxStats: s(async (req: Parameters<typeof listPodSandboxStats>[1], send: (r: { pod_sandbox_stats: unknown[] }) => void) => {
        const { stats } = await listPodSandboxStats(ct, req);
        for (const pod_sandbox_stats of inBatches(stats!)) send({ pod_sandbox_stats });
      }),
      StreamPodSandboxMetrics: s(async (_req: unknown, send: (r: { pod_sandbox_metrics: unknown[] }) => void) => {
        const { pod_metrics } = await listPodSandboxMetrics(ct);
        for (const pod_sandbox_metrics of inBatches(pod_metrics!)) send({ pod_sandbox_metrics });
      }),
      GetContainerEvents: s((_req: unknown, send: Parameters<typeof containerEvents>[1], ctx) => containerEvents(sb.events, send, ctx.signal)),
    },
  };
}

