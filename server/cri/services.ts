// The RPC table: CRI method name → the domain function that serves it. Handlers stay
// thin (validation and work live in the domain modules); anything not listed answers
// UNIMPLEMENTED naming the RPC (see rpc.ts).
import type { DaemonServices } from '../daemon.js';
import { inBatches, type ServiceImpl } from './rpc.js';
import type { RuntimeServiceHandlers } from '../../wire/cri/generated/runtime/v1/RuntimeService.js';
import { version } from '../status/version.js';
import { status } from '../status/status.js';
import { runtimeConfig } from '../status/runtime-config.js';
import { updateRuntimeConfig } from '../status/update-runtime-config.js';
import { runPodSandbox } from '../sandbox/run.js';
import { stopPodSandbox } from '../sandbox/stop.js';
import { removePodSandbox } from '../sandbox/remove.js';
import { podSandboxStatus } from '../sandbox/status.js';
import { listPodSandbox, streamPodSandboxes } from '../sandbox/list.js';
import { containerEvents } from '../status/container-events.js';
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

export function runtimeServiceImpl(svc: DaemonServices): ServiceImpl<RuntimeServiceHandlers> {
  const sb = svc.sandboxes;
  const ct = svc.containers;
  return {
    unary: {
      Version: () => version(),
      Status: (req) => status({ config: svc.config, runtime: svc.containers.runtime, network: sb.network, cgroups: sb.cgroups }, req),
      RuntimeConfig: () => runtimeConfig(sb.cgroups.driver),
      UpdateRuntimeConfig: (req, ctx) => updateRuntimeConfig(svc.settings, req, ctx.log),
      RunPodSandbox: (req, ctx) => runPodSandbox(sb, req, ctx),
      StopPodSandbox: (req, ctx) => stopPodSandbox(sb, req, ctx),
      RemovePodSandbox: (req, ctx) => removePodSandbox(sb, req, ctx),
      PodSandboxStatus: (req) => podSandboxStatus(sb, req),
      ListPodSandbox: (req) => listPodSandbox(sb, req),
      CreateContainer: (req, ctx) => createContainer(ct, req, ctx),
      StartContainer: (req, ctx) => startContainer(ct, req, ctx),
      StopContainer: (req, ctx) => stopContainer(ct, req, ctx),
      RemoveContainer: (req, ctx) => removeContainer(ct, req, ctx),
      ContainerStatus: (req) => containerStatus(ct, req),
      ListContainers: (req) => listContainers(ct, req),
      ExecSync: (req) => execSync(ct, req),
      Exec: async (req) => exec({ containers: ct, streaming: svc.streaming }, req),
      Attach: async (req) => attach({ containers: ct, streaming: svc.streaming }, req),
      PortForward: async (req) => portForward({ containers: ct, streaming: svc.streaming }, req),
      UpdateContainerResources: (req, ctx) => updateContainerResources(ct, req, ctx),
      ReopenContainerLog: (req) => reopenContainerLog(ct, req),
      ContainerStats: (req) => containerStats(ct, req),
      ListContainerStats: (req) => listContainerStats(ct, req),
      PodSandboxStats: (req) => podSandboxStats(ct, req),
      ListPodSandboxStats: (req) => listPodSandboxStats(ct, req),
      ListMetricDescriptors: () => listMetricDescriptors(ct),
      ListPodSandboxMetrics: () => listPodSandboxMetrics(ct),
    },
    stream: {
      StreamPodSandboxes: (req, send) => streamPodSandboxes(sb, req, send),
      StreamContainers: (req, send) => streamContainers(ct, req, send),
      StreamContainerStats: async (req, send) => {
        const { stats } = await listContainerStats(ct, req);
        for (const container_stats of inBatches(stats!)) send({ container_stats });
      },
      StreamPodSandboxStats: async (req, send) => {
        const { stats } = await listPodSandboxStats(ct, req);
        for (const pod_sandbox_stats of inBatches(stats!)) send({ pod_sandbox_stats });
      },
      StreamPodSandboxMetrics: async (_req, send) => {
        const { pod_metrics } = await listPodSandboxMetrics(ct);
        for (const pod_sandbox_metrics of inBatches(pod_metrics!)) send({ pod_sandbox_metrics });
      },
      GetContainerEvents: (_req, send, ctx) => containerEvents(sb.events, send, ctx.signal),
    },
  };
}

