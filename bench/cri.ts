// CRI calls as the bench makes them, identical for both runtimes: timing, UNIMPLEMENTED
// turned into "n/a", the pod and container configs, starting and tearing down pods.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { status as Status } from '@grpc/grpc-js';
import type { BenchRuntime } from './runtimes/types.js';
import { WORKLOAD } from './images.js';

const IMAGE_RPCS = new Set(['ListImages', 'ImageStatus', 'PullImage', 'RemoveImage', 'ImageFsInfo']);

/** An RPC the runtime answers with UNIMPLEMENTED: the figure is "n/a" for that runtime. */
export class NotAvailable extends Error {
  constructor(readonly rpc: string) {
    super(`n/a: ${rpc} UNIMPLEMENTED`);
    this.name = 'NotAvailable';
  }
}

export function grpcCode(e: unknown): number | undefined {
  const c = (e as { code?: unknown })?.code;
  return typeof c === 'number' ? c : undefined;
}

export async function call<T = any>(rt: BenchRuntime, method: string, req: object, timeoutMs = 120_000): Promise<T> {
  try {
    return await rt.client.call<T>(method, req, { service: IMAGE_RPCS.has(method) ? 'image' : 'runtime', timeoutMs });
  } catch (e) {
    if (grpcCode(e) === Status.UNIMPLEMENTED) throw new NotAvailable(method);
    const err = e as Error & { details?: string };
    throw new Error(`${rt.name} ${method}: ${err.details ?? err.message}`);
  }
}

export async function timed<T = any>(rt: BenchRuntime, method: string, req: object, timeoutMs?: number): Promise<{ ms: number; res: T }> {
  const t0 = performance.now();
  const res = await call<T>(rt, method, req, timeoutMs);
  return { ms: performance.now() - t0, res };
}

export const now = () => performance.now();

const podNamespace = 'berth-bench';
const nsOpts = { network: 'POD', pid: 'CONTAINER', ipc: 'POD' };

/** The label of a berth variant's pods (several variants share one berthd). */
function variantLabel(rt: BenchRuntime): Record<string, string> {
  return rt.handler !== undefined ? { 'berth-bench-variant': rt.name.replace(/[^A-Za-z0-9_.-]/g, '_') } : {};
}

/** A pod as kubelet would ask for it (pod cgroup under the runtime's parent, per-container PID namespace). */
export async function podConfig(rt: BenchRuntime, runId: string, name: string) {
  const uid = randomBytes(8).toString('hex');
  const logDir = join(rt.logRoot, `${podNamespace}_${name}_${uid}`);
  // kubelet creates the pod's log directory before RunPodSandbox.
  await mkdir(logDir, { recursive: true });
  return {
    metadata: { name, namespace: podNamespace, uid, attempt: 0 },
    hostname: name,
    log_directory: logDir,
    labels: { 'berth-bench': runId, ...variantLabel(rt) },
    linux: {
      cgroup_parent: `${rt.cgroupParent}/pod${uid}`,
      security_context: { namespace_options: nsOpts },
    },
  };
}

export function containerConfig(image: string, runId: string) {
  return {
    metadata: { name: 'work', attempt: 0 },
    image: { image },
    command: WORKLOAD,
    log_path: 'work/0.log',
    labels: { 'berth-bench': runId },
    linux: { security_context: { namespace_options: nsOpts } },
  };
}

export interface PodTimes {
  RunPodSandbox: number;
  CreateContainer?: number;
  StartContainer?: number;
  /** RunPodSandbox → … → ContainerStatus says RUNNING (or the sandbox is ready, sandbox-only). */
  toRunning: number;
}

export interface StartedPod {
  podId: string;
  containerId?: string;
  times: PodTimes;
}

/** RunPodSandbox, then (with an image) CreateContainer → StartContainer → RUNNING. */
export async function startPod(rt: BenchRuntime, runId: string, name: string, image?: string): Promise<StartedPod> {
  const config = await podConfig(rt, runId, name);
  const t0 = now();
  const run = await timed(rt, 'RunPodSandbox', { config, runtime_handler: rt.handler ?? '' });
  const podId = run.res.pod_sandbox_id as string;
  if (!image) return { podId, times: { RunPodSandbox: run.ms, toRunning: now() - t0 } };
  try {
    const create = await timed(rt, 'CreateContainer', { pod_sandbox_id: podId, config: containerConfig(image, runId), sandbox_config: config });
    const containerId = create.res.container_id as string;
    const start = await timed(rt, 'StartContainer', { container_id: containerId });
    await waitRunning(rt, containerId);
    return { podId, containerId, times: { RunPodSandbox: run.ms, CreateContainer: create.ms, StartContainer: start.ms, toRunning: now() - t0 } };
  } catch (e) {
    await removePod(rt, podId).catch(() => undefined);
    throw e;
  }
}

// 2 minutes: a bound on a failure (emulated guests are slow), never a timing.
export async function waitRunning(rt: BenchRuntime, containerId: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const st = await call(rt, 'ContainerStatus', { container_id: containerId });
    const state = st.status?.state as string | undefined;
    if (state === 'CONTAINER_RUNNING') return;
    if (state === 'CONTAINER_EXITED') throw new Error(`${rt.name}: container ${containerId} exited (${st.status?.reason ?? ''} ${st.status?.message ?? ''})`);
    if (Date.now() > deadline) throw new Error(`${rt.name}: container ${containerId} not running after ${timeoutMs} ms (state ${state})`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

export async function removePod(rt: BenchRuntime, podId: string): Promise<void> {
  await call(rt, 'StopPodSandbox', { pod_sandbox_id: podId });
  await call(rt, 'RemovePodSandbox', { pod_sandbox_id: podId });
}

/** Stops and removes every pod this bench run made on `rt` (a few at a time). */
export async function removeAllPods(rt: BenchRuntime, runId: string): Promise<void> {
  const selector = { 'berth-bench': runId, ...variantLabel(rt) };
  const list = await call(rt, 'ListPodSandbox', { filter: { label_selector: selector } });
  const ids = ((list.items ?? []) as { id: string }[]).map((p) => p.id);
  const errors: string[] = [];
  for (let i = 0; i < ids.length; i += 5) {
    await Promise.all(ids.slice(i, i + 5).map((id) => removePod(rt, id).catch((e: Error) => errors.push(e.message))));
  }
  if (errors.length) throw new Error(`${rt.name}: cannot remove pods: ${errors.join('; ')}`);
  const left = await call(rt, 'ListPodSandbox', { filter: { label_selector: selector } });
  if (left.items?.length) throw new Error(`${rt.name}: ${left.items.length} pod(s) still listed after StopPodSandbox + RemovePodSandbox`);
}

export interface Capabilities {
  /** undefined = available; otherwise the n/a reason. */
  containers?: string;
  exec?: string;
  pull?: string;
  removeImage?: string;
}

/** Probes which RPC groups the runtime implements, with requests that cannot change anything. */
export async function probe(rt: BenchRuntime): Promise<Capabilities> {
  const na = async (method: string, req: object): Promise<string | undefined> => {
    try {
      await call(rt, method, req, 10_000);
      return undefined;
    } catch (e) {
      return e instanceof NotAvailable ? e.message : undefined;
    }
  };
  const missing = 'berth-bench-probe-does-not-exist';
  const containers =
    (await na('CreateContainer', { pod_sandbox_id: missing, config: { metadata: { name: 'probe', attempt: 0 }, image: { image: 'probe' } } })) ??
    (await na('StartContainer', { container_id: missing })) ??
    (await na('ContainerStatus', { container_id: missing }));
  return {
    containers,
    exec: await na('ExecSync', { container_id: missing, cmd: ['true'], timeout: 1 }),
    pull: await na('PullImage', { image: { image: '' } }),
    removeImage: await na('RemoveImage', { image: { image: `127.0.0.1:1/${missing}:none` } }),
  };
}
