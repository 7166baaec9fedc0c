// Runs specs against one CRI endpoint: probes which RPCs the runtime implements, runs
// each spec (a few at a time) with its own context and cleanup, and turns every outcome
// into a result: passed, failed, not supported (an RPC it needs answered UNIMPLEMENTED),
// or skipped (the environment lacks what the spec requires).
import { status as Code, type ServiceError, type ClientReadableStream } from '@grpc/grpc-js';
import { dirname, join } from 'node:path';
import { mkdir, readdir, rm, rmdir } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import type { CriClient } from './client.js';
import {
  AssertionFailed,
  NotSupported,
  Skip,
  codeName,
  isServiceError,
  serviceOf,
  STREAMING_RPCS,
  RUNTIME_RPCS,
  IMAGE_RPCS,
  type ContainerHandle,
  type ExecResult,
  type PodConfig,
  type PodHandle,
  type Rpc,
  type Spec,
  type SpecContext,
  type SuiteEnv,
} from './spec.js';

export type SpecStatus = 'passed' | 'failed' | 'known limitation' | 'not supported' | 'skipped';

export interface SpecResult {
  id: string;
  area: string;
  title: string;
  needs: readonly Rpc[];
  status: SpecStatus;
  durationMs: number;
  /** Why it failed, was not supported or skipped. */
  message?: string;
  /** For "not supported": the RPCs that answered UNIMPLEMENTED. */
  unsupported?: Rpc[];
  notes?: string[];
}

const PROBE_ID = 'conformance-probe-0000000000000000000000000000000000000000000000000000';
const PROBE_IMAGE = 'conformance-probe.invalid/none:0';

/** Harmless requests (unknown ids, no config) that only an implemented RPC can refuse. */
const PROBE_REQUESTS: Partial<Record<Rpc, object>> = {
  Version: {},
  Status: {},
  RuntimeConfig: {},
  RunPodSandbox: {},
  StopPodSandbox: { pod_sandbox_id: PROBE_ID },
  RemovePodSandbox: { pod_sandbox_id: PROBE_ID },
  PodSandboxStatus: { pod_sandbox_id: PROBE_ID },
  ListPodSandbox: { filter: { id: PROBE_ID } },
  CreateContainer: { pod_sandbox_id: PROBE_ID },
  StartContainer: { container_id: PROBE_ID },
  StopContainer: { container_id: PROBE_ID },
  RemoveContainer: { container_id: PROBE_ID },
  ListContainers: { filter: { id: PROBE_ID } },
  ContainerStatus: { container_id: PROBE_ID },
  UpdateContainerResources: { container_id: PROBE_ID },
  ReopenContainerLog: { container_id: PROBE_ID },
  ExecSync: { container_id: PROBE_ID, cmd: ['true'] },
  Exec: { container_id: PROBE_ID, cmd: ['true'], stdout: true },
  Attach: { container_id: PROBE_ID, stdout: true },
  PortForward: { pod_sandbox_id: PROBE_ID, port: [80] },
  ContainerStats: { container_id: PROBE_ID },
  ListContainerStats: { filter: { id: PROBE_ID } },
  PodSandboxStats: { pod_sandbox_id: PROBE_ID },
  ListPodSandboxStats: { filter: { id: PROBE_ID } },
  CheckpointContainer: { container_id: PROBE_ID, location: '/nonexistent/conformance-probe.tar' },
  CheckpointPod: { pod_sandbox_id: PROBE_ID, path: '/nonexistent/conformance-probe.tar' },
  RestorePod: { path: '/nonexistent/conformance-probe.tar' },
  ListMetricDescriptors: {},
  ListPodSandboxMetrics: {},
  UpdatePodSandboxResources: { pod_sandbox_id: PROBE_ID },
  StreamPodSandboxes: { filter: { id: PROBE_ID } },
  StreamContainers: { filter: { id: PROBE_ID } },
  StreamContainerStats: { filter: { id: PROBE_ID } },
  StreamPodSandboxStats: { filter: { id: PROBE_ID } },
  StreamPodSandboxMetrics: {},
  GetContainerEvents: {},
  ListImages: { filter: { image: { image: PROBE_IMAGE } } },
  StreamImages: { filter: { image: { image: PROBE_IMAGE } } },
  ImageStatus: { image: { image: PROBE_IMAGE } },
  PullImage: { image: { image: '' } },
  RemoveImage: { image: { image: PROBE_IMAGE } },
  ImageFsInfo: {},
  // UpdateRuntimeConfig is not probed: it changes runtime state. Specs learn it by calling.
};

export type ProbeResult = Map<Rpc, { supported: boolean; detail: string }>;

function callUnary<T>(client: CriClient, rpc: Rpc, req: object, timeoutMs: number): Promise<T> {
  return client.call<T>(rpc, req, { service: serviceOf(rpc), timeoutMs });
}

/** Opens a server stream; resolves with the messages received until `stop` or the end. */
function collectStream<T>(
  client: CriClient,
  rpc: Rpc,
  req: object,
  opts: { until?: (msgs: T[]) => boolean; timeoutMs: number; onOpen?: () => void },
): { done: Promise<T[]>; cancel: () => void; live: T[] } {
  const svc = (serviceOf(rpc) === 'image' ? client.image : client.runtime) as unknown as Record<string, (req: object, opts: object) => ClientReadableStream<T>>;
  const fn = svc[rpc];
  if (typeof fn !== 'function') return { done: Promise.reject(new Error(`no RPC ${rpc}`)), cancel: () => undefined, live: [] };
  const stream = fn.call(svc, req, {});
  const msgs: T[] = [];
  let cancelled = false;
  const done = new Promise<T[]>((resolve, reject) => {
    const timer = setTimeout(() => {
      cancelled = true;
      stream.cancel();
      resolve(msgs);
    }, opts.timeoutMs);
    stream.on('data', (m: T) => {
      msgs.push(m);
      if (opts.until?.(msgs)) {
        clearTimeout(timer);
        cancelled = true;
        stream.cancel();
        resolve(msgs);
      }
    });
    stream.on('error', (e: ServiceError) => {
      clearTimeout(timer);
      if (cancelled && e.code === Code.CANCELLED) resolve(msgs);
      else reject(e);
    });
    stream.on('end', () => {
      clearTimeout(timer);
      resolve(msgs);
    });
  });
  return {
    done,
    live: msgs,
    cancel: () => {
      cancelled = true;
      stream.cancel();
    },
  };
}

/** Which RPCs the runtime implements: UNIMPLEMENTED means no; any other answer means yes. */
export async function probeRpcs(client: CriClient, timeScale = 1): Promise<ProbeResult> {
  const out: ProbeResult = new Map();
  const all = [...RUNTIME_RPCS, ...IMAGE_RPCS] as Rpc[];
  await Promise.all(
    all.map(async (rpc) => {
      const req = PROBE_REQUESTS[rpc];
      if (!req) return;
      try {
        if (STREAMING_RPCS.has(rpc)) {
          // A live stream (no error within a short while) counts as implemented.
          await collectStream(client, rpc, req, { timeoutMs: 500, until: () => true }).done;
        } else {
          await callUnary(client, rpc, req, scaleMs(10_000, timeScale));
        }
        out.set(rpc, { supported: true, detail: 'OK' });
      } catch (e) {
        if (isServiceError(e) && e.code === Code.UNIMPLEMENTED) out.set(rpc, { supported: false, detail: e.details });
        else out.set(rpc, { supported: true, detail: isServiceError(e) ? `${codeName(e.code)}: ${e.details}` : String(e) });
      }
    }),
  );
  return out;
}

/** Test-only details of a failure: the status code name and message of a gRPC error. */
function describe(e: unknown): string {
  if (isServiceError(e)) return `${codeName(e.code)}: ${e.details}`;
  if (e instanceof Error) return e.message;
  return String(e);
}

interface Tracker {
  pods: Set<string>;
  containers: Set<string>;
  logDirs: Set<string>;
  cgroupParents: Set<string>;
  images: Map<string, Promise<void>>;
}

let counter = 0;

/**
 * A deadline or timeout scaled by the suite's time scale (`--time-scale`: an emulated guest
 * runs everything 10-40x slower). A scale must be a positive finite number.
 */
export function scaleMs(ms: number, scale = 1): number {
  if (!Number.isFinite(scale) || scale <= 0) throw new Error(`time scale must be a positive number, not ${scale}`);
  return Math.round(ms * scale);
}

/** Whether a cgroup_parent prefix is a systemd slice prefix (not a cgroupfs path). */
export function isSlicePrefix(prefix: string): boolean {
  return prefix !== '' && !prefix.startsWith('/');
}

/**
 * The pod's cgroup_parent in the form the runtime's driver expects: cgroupfs
 * `<prefix>-pod<uid>`; systemd `<prefix>-pod<uid>.slice`, '-' in the uid as '_' (kubelet's
 * `kubepods-besteffort-pod<uid>.slice`: a '-' in a slice name is a level of the hierarchy).
 */
export function podCgroupParent(prefix: string, uid: string): string {
  if (!isSlicePrefix(prefix)) return `${prefix}-pod${uid}`;
  if (!/^[A-Za-z0-9_]+(-[A-Za-z0-9_]+)*$/.test(prefix)) throw new Error(`cgroup_parent slice prefix ${JSON.stringify(prefix)}: letters, digits and '_', levels separated by '-'`);
  return `${prefix}-pod${uid.replace(/[^A-Za-z0-9_]/g, '_')}.slice`;
}

type LinuxPart = { security_context?: Record<string, unknown> } & Record<string, unknown>;

/**
 * kubelet gives every container the namespace modes of its pod (network and IPC as the
 * pod's, PID per container unless the pod shares one). An omitted namespace_options
 * would mean POD for all three, which is not what kubelet sends.
 */
function withPodNamespaces<C extends Record<string, unknown>>(pod: PodHandle, config: C): C {
  const linux = (config.linux ?? {}) as LinuxPart;
  if (linux.security_context?.namespace_options) return config;
  const podNs = ((pod.config.linux as LinuxPart | undefined)?.security_context?.namespace_options ?? {}) as Record<string, string>;
  const namespace_options = { network: podNs.network ?? 'POD', pid: podNs.pid ?? 'CONTAINER', ipc: podNs.ipc ?? 'POD' };
  return { ...config, linux: { ...linux, security_context: { ...(linux.security_context ?? {}), namespace_options } } };
}

/** Cleanup of something a spec already removed: NOT_FOUND is success. */
function goneIsFine(e: unknown): void {
  if (isServiceError(e) && e.code === Code.NOT_FOUND) return;
  throw e;
}

function makeContext(spec: Spec, env: SuiteEnv, tracker: Tracker, notes: string[], deferred: Array<() => Promise<unknown>>): SpecContext {
  const { client } = env;
  const S = (ms: number) => scaleMs(ms, env.timeScale);
  const declared = new Set(spec.needs);
  const guard = (rpc: Rpc, e: unknown): never => {
    if (isServiceError(e) && e.code === Code.UNIMPLEMENTED) {
      if (declared.has(rpc)) throw new NotSupported(rpc, e.details);
      throw new AssertionFailed(`${rpc} answered UNIMPLEMENTED but the spec does not declare it in needs (a bug in the spec): ${e.details}`);
    }
    throw e;
  };
  const call = async <T>(rpc: Rpc, req: object, timeoutMs?: number): Promise<T> => {
    if (!declared.has(rpc)) throw new AssertionFailed(`the spec calls ${rpc} without declaring it in needs (a bug in the spec)`);
    let res: T;
    try {
      res = await callUnary<T>(client, rpc, req, S(timeoutMs ?? 60_000));
    } catch (e) {
      return guard(rpc, e);
    }
    // Whatever a spec creates is taken down after it, even if the spec did not expect
    // the call to succeed.
    if (rpc === 'RunPodSandbox') {
      const id = (res as { pod_sandbox_id?: string }).pod_sandbox_id;
      if (id) {
        tracker.pods.add(id);
        deferred.push(async () => {
          await callUnary(client, 'StopPodSandbox', { pod_sandbox_id: id }, S(60_000)).catch(goneIsFine);
          await callUnary(client, 'RemovePodSandbox', { pod_sandbox_id: id }, S(60_000)).catch(goneIsFine);
          tracker.pods.delete(id);
        });
      }
    } else if (rpc === 'CreateContainer') {
      const id = (res as { container_id?: string }).container_id;
      if (id) {
        tracker.containers.add(id);
        deferred.push(async () => {
          await callUnary(client, 'RemoveContainer', { container_id: id }, S(60_000)).catch(goneIsFine);
          tracker.containers.delete(id);
        });
      }
    }
    return res;
  };
  const ctx: SpecContext = {
    env,
    images: env.images,
    call,
    async callFails(rpc, req, codes, what) {
      try {
        await call(rpc, req);
      } catch (e) {
        if (e instanceof NotSupported || e instanceof AssertionFailed) throw e;
        if (!isServiceError(e)) throw e;
        if (codes && !codes.includes(e.code)) {
          throw new AssertionFailed(`${what ?? rpc}: expected ${codes.map(codeName).join(' or ')}, got ${codeName(e.code)}: ${e.details}`);
        }
        return e;
      }
      throw new AssertionFailed(`${what ?? rpc}: expected an error${codes ? ` (${codes.map(codeName).join(' or ')})` : ''}, but the call succeeded`);
    },
    async stream(rpc, req, opts) {
      if (!declared.has(rpc)) throw new AssertionFailed(`the spec calls ${rpc} without declaring it in needs (a bug in the spec)`);
      const s = collectStream<any>(client, rpc, req, { until: opts.until, timeoutMs: S(opts.timeoutMs) });
      try {
        if (opts.during) await opts.during(s.live);
        return await s.done;
      } catch (e) {
        s.cancel();
        await s.done.catch(() => undefined);
        return guard(rpc, e);
      }
    },
    defer(fn) {
      deferred.push(fn);
    },
    name(base) {
      counter += 1;
      return `${base}-${counter}`;
    },
    note(msg) {
      notes.push(msg);
    },
    podConfig(name, extra = {}) {
      const uid = `${env.runId}-${++counter}`;
      const namespace = 'conformance';
      const logDir = join(env.logRoot, `${namespace}_${name}_${uid}`);
      tracker.logDirs.add(logDir);
      const linuxExtra = (extra.linux ?? {}) as Record<string, unknown>;
      let cgroupParent: string | undefined;
      if (env.cgroupParent) {
        // One level per pod (kubelet nests pods under /kubepods/<qos>, which it creates
        // first; here nothing exists yet, and a flat name leaves no shared parent to race on).
        cgroupParent = podCgroupParent(env.cgroupParent, uid);
        tracker.cgroupParents.add(cgroupParent);
      }
      return {
        metadata: { name, namespace, uid, attempt: 0 },
        hostname: name,
        log_directory: logDir,
        labels: { 'conformance.berth.io/run': env.runId },
        annotations: { 'conformance.berth.io/spec': spec.id },
        ...extra,
        linux: { ...(cgroupParent ? { cgroup_parent: cgroupParent } : {}), ...linuxExtra },
      } as PodConfig;
    },
    async runPod(config, runtimeHandler) {
      await mkdir(config.log_directory, { recursive: true });
      const res = await call<{ pod_sandbox_id: string }>('RunPodSandbox', { config, runtime_handler: runtimeHandler ?? env.runtimeHandler });
      return { id: res.pod_sandbox_id, config };
    },
    async ensureImage(ref) {
      let p = tracker.images.get(ref);
      if (!p) {
        p = (async () => {
          const st = await callUnary<{ image: unknown }>(client, 'ImageStatus', { image: { image: ref } }, S(30_000)).catch(() => ({ image: null }));
          if (!st.image) await callUnary(client, 'PullImage', { image: { image: ref } }, S(120_000));
        })();
        tracker.images.set(ref, p);
        p.catch(() => tracker.images.delete(ref));
      }
      try {
        await p;
      } catch (e) {
        return guard('PullImage', e);
      }
    },
    containerConfig(name, extra = {}) {
      return {
        metadata: { name, attempt: 0 },
        image: { image: env.images.refs.busybox },
        command: ['sleep', '3600'],
        // As kubelet: <log_directory>/<container name>/<attempt>.log, the directory made by the caller.
        log_path: `${name}/0.log`,
        labels: { 'conformance.berth.io/run': env.runId },
        ...extra,
      } as Record<string, unknown> & { log_path: string };
    },
    async createContainer(pod, config) {
      const image = (config.image as { image: string } | undefined)?.image ?? env.images.refs.busybox;
      config = withPodNamespaces(pod, config);
      await mkdir(dirname(join(pod.config.log_directory, config.log_path)), { recursive: true });
      await ctx.ensureImage(image);
      const res = await call<{ container_id: string }>('CreateContainer', { pod_sandbox_id: pod.id, config: { image: { image }, ...config }, sandbox_config: pod.config });
      const id = res.container_id;
      return { id, pod, config, logFile: join(pod.config.log_directory, config.log_path) } satisfies ContainerHandle;
    },
    async startContainer(pod, config) {
      const c = await ctx.createContainer(pod, config);
      await call('StartContainer', { container_id: c.id });
      return c;
    },
    async waitContainer(id, state, timeout = 20_000) {
      let last: any;
      const timeoutMs = S(timeout);
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        last = (await call<{ status: any }>('ContainerStatus', { container_id: id })).status;
        if (last?.state === state) return last;
        if (Date.now() > deadline) throw new AssertionFailed(`container ${id} did not reach ${state} within ${timeoutMs} ms (state ${last?.state})`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async exec(id, cmd, timeout) {
      // A timeout the spec chose is what it tests (kept); the default one and the RPC deadline scale.
      const timeoutSeconds = timeout ?? Math.ceil(S(10_000) / 1000);
      const r = await call<{ stdout: Buffer; stderr: Buffer; exit_code: number }>('ExecSync', { container_id: id, cmd, timeout: timeoutSeconds }, timeoutSeconds * 1000 + 20_000);
      return { stdout: Buffer.from(r.stdout ?? '').toString('utf8'), stderr: Buffer.from(r.stderr ?? '').toString('utf8'), exitCode: r.exit_code } satisfies ExecResult;
    },
    async sh(id, script) {
      const r = await ctx.exec(id, ['sh', '-c', script]);
      if (r.exitCode !== 0) throw new AssertionFailed(`\`${script}\` exited ${r.exitCode}: ${r.stderr || r.stdout}`);
      return r.stdout;
    },
    async eventually(fn, what, timeout = 10_000) {
      const timeoutMs = S(timeout);
      const deadline = Date.now() + timeoutMs;
      let lastErr: unknown;
      for (;;) {
        try {
          const v = await fn();
          if (v) return v as NonNullable<typeof v>;
        } catch (e) {
          if (e instanceof NotSupported) throw e;
          lastErr = e;
        }
        if (Date.now() > deadline) {
          throw new AssertionFailed(`${what} (not within ${timeoutMs} ms)${lastErr ? `: ${describe(lastErr)}` : ''}`);
        }
        await new Promise((r) => setTimeout(r, 150));
      }
    },
  };
  return ctx;
}

export interface RunOptions {
  env: Omit<SuiteEnv, 'unsupported'>;
  specs: readonly Spec[];
  probe: ProbeResult;
  concurrency?: number;
  /** What the environment offers (for Spec.requires). */
  available?: ReadonlySet<string>;
  onResult?: (r: SpecResult) => void;
}

async function runOne(spec: Spec, env: SuiteEnv, tracker: Tracker, available: ReadonlySet<string>): Promise<SpecResult> {
  const base = { id: spec.id, area: spec.area, title: spec.title, needs: spec.needs };
  const started = Date.now();
  const missing = spec.needs.filter((r) => env.unsupported.has(r));
  if (missing.length) {
    return {
      ...base,
      status: 'not supported',
      durationMs: 0,
      unsupported: missing,
      message: `UNIMPLEMENTED: ${missing.join(', ')}`,
    };
  }
  const lacking = (spec.requires ?? []).filter((r) => !available.has(r));
  if (lacking.length) return { ...base, status: 'skipped', durationMs: 0, message: `the environment lacks: ${lacking.join(', ')}` };

  const notes: string[] = [];
  const deferred: Array<() => Promise<unknown>> = [];
  const ctx = makeContext(spec, env, tracker, notes, deferred);
  let outcome: { status: SpecStatus; message?: string; unsupported?: Rpc[] } = { status: 'passed' };
  const timeoutMs = scaleMs(spec.timeoutMs ?? 60_000, env.timeScale);
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      spec.run(ctx),
      new Promise((_r, reject) => {
        timer = setTimeout(() => reject(new AssertionFailed(`timed out after ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } catch (e) {
    if (e instanceof NotSupported) outcome = { status: 'not supported', message: e.message, unsupported: [e.rpc] };
    else if (e instanceof Skip) outcome = { status: 'skipped', message: e.message };
    else outcome = { status: 'failed', message: describe(e) };
  } finally {
    clearTimeout(timer);
  }
  // Cleanup, last first; a failed cleanup fails a spec that otherwise passed.
  for (const fn of deferred.reverse()) {
    try {
      await fn();
    } catch (e) {
      if (isServiceError(e) && e.code === Code.UNIMPLEMENTED) continue;
      if (outcome.status === 'passed') outcome = { status: 'failed', message: `cleanup: ${describe(e)}` };
      else notes.push(`cleanup: ${describe(e)}`);
    }
  }
  const limitation = spec.limitations?.[env.runtimeName];
  if (outcome.status === 'failed' && limitation) {
    notes.push(`failure: ${outcome.message ?? ''}`);
    outcome = { status: 'known limitation', message: limitation };
  }
  return { ...base, ...outcome, durationMs: Date.now() - started, ...(notes.length ? { notes } : {}) };
}

/** Runs the specs `concurrency` at a time, in the given order. */
export async function runSpecs(opts: RunOptions): Promise<{ results: SpecResult[]; warnings: string[] }> {
  const unsupported = new Map<Rpc, string>();
  for (const [rpc, p] of opts.probe) if (!p.supported) unsupported.set(rpc, p.detail);
  const env: SuiteEnv = { ...opts.env, unsupported };
  const tracker: Tracker = { pods: new Set(), containers: new Set(), logDirs: new Set(), cgroupParents: new Set(), images: new Map() };
  const results: SpecResult[] = new Array(opts.specs.length);
  let next = 0;
  const worker = async () => {
    while (next < opts.specs.length) {
      const i = next++;
      const r = await runOne(opts.specs[i]!, env, tracker, opts.available ?? new Set());
      results[i] = r;
      opts.onResult?.(r);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, opts.concurrency ?? 3) }, worker));
  const warnings = await sweep(env, tracker);
  return { results, warnings };
}

/**
 * After every spec: whatever a failed cleanup left (pods, containers), the shared images
 * the suite pulled, the pod log directories, and the cgroup parents (cgroupfs) — a
 * runtime such as containerd leaves the pod's cgroup_parent for kubelet to remove.
 */
async function sweep(env: SuiteEnv, tracker: Tracker): Promise<string[]> {
  const { client } = env;
  const ms = scaleMs(60_000, env.timeScale);
  for (const id of tracker.containers) await callUnary(client, 'RemoveContainer', { container_id: id }, ms).catch(() => undefined);
  for (const id of tracker.pods) {
    await callUnary(client, 'StopPodSandbox', { pod_sandbox_id: id }, ms).catch(() => undefined);
    await callUnary(client, 'RemovePodSandbox', { pod_sandbox_id: id }, ms).catch(() => undefined);
  }
  for (const ref of tracker.images.keys()) await callUnary(client, 'RemoveImage', { image: { image: ref } }, ms).catch(() => undefined);
  for (const d of tracker.logDirs) await rm(d, { recursive: true, force: true });
  if (isSlicePrefix(env.cgroupParent)) return stopSlices(env.cgroupParent, tracker.cgroupParents);
  return removeCgroupParents(env.cgroupParent, tracker.cgroupParents);
}

/**
 * The systemd driver's counterpart of removeCgroupParents: every pod slice the suite named,
 * and the prefix's own slice above them, that is still active is reported and stopped with
 * `systemctl stop` (a runtime that creates a missing pod slice should remove it, as berth
 * does; containerd leaves pod slices to kubelet, like cgroupfs parents). A slice that still
 * has processes is reported as such: stopping it kills them.
 */
async function stopSlices(prefix: string, parents: ReadonlySet<string>): Promise<string[]> {
  const warnings: string[] = [];
  for (const unit of [...parents, `${prefix}.slice`]) {
    const show = spawnSync('systemctl', ['show', '--property=ActiveState', '--value', unit], { encoding: 'utf8' });
    if (show.error) return [`cannot run systemctl to check the pod slices: ${show.error.message}`];
    const state = show.stdout.trim();
    if (state === '' || state === 'inactive') continue;
    const tasks = spawnSync('systemctl', ['show', '--property=TasksCurrent', '--value', unit], { encoding: 'utf8' }).stdout.trim();
    const busy = /^[1-9]\d*$/.test(tasks) ? ` with ${tasks} tasks in it (the runtime left processes)` : '';
    warnings.push(`slice ${unit} was left ${state}${busy}; the suite stopped it`);
    const stop = spawnSync('systemctl', ['stop', unit], { encoding: 'utf8' });
    if (stop.status !== 0) warnings.push(`systemctl stop ${unit}: ${stop.stderr.trim()}`);
  }
  return warnings;
}

/**
 * rmdir (never rm -r: only empty cgroups can go) of the pod cgroup parents in every
 * hierarchy. A parent that is not empty means the runtime left a container cgroup
 * behind: reported, not removed.
 */
async function removeCgroupParents(prefix: string, parents: ReadonlySet<string>): Promise<string[]> {
  const warnings: string[] = [];
  if (!prefix.startsWith('/') || parents.size === 0) return warnings;
  let hierarchies: string[] = [];
  try {
    hierarchies = (await readdir('/sys/fs/cgroup', { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => join('/sys/fs/cgroup', d.name));
  } catch {
    return warnings;
  }
  // On a v2-only host the hierarchy is /sys/fs/cgroup itself.
  hierarchies.push('/sys/fs/cgroup');
  for (const h of hierarchies) {
    for (const p of parents) {
      await rmdir(join(h, p)).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== 'ENOENT') warnings.push(`cgroup ${join(h, p)} is left (${e.code}): the runtime left something in it`);
      });
    }
  }
  return warnings;
}
