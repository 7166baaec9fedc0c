// The spec model: what a conformance spec declares (area, title, the CRI RPCs it needs)
// and the context it runs with (a CRI client that turns UNIMPLEMENTED for a declared RPC
// into "not supported", helpers that create pods and containers and clean them up, and
// a small set of assertions).
import { status as Code, type ServiceError } from '@grpc/grpc-js';
import type { CriClient } from './client.js';
import type { SuiteImages } from './images.js';

export const RUNTIME_RPCS = [
  'Version',
  'RunPodSandbox',
  'StopPodSandbox',
  'RemovePodSandbox',
  'PodSandboxStatus',
  'ListPodSandbox',
  'StreamPodSandboxes',
  'CreateContainer',
  'StartContainer',
  'StopContainer',
  'RemoveContainer',
  'ListContainers',
  'StreamContainers',
  'ContainerStatus',
  'UpdateContainerResources',
  'ReopenContainerLog',
  'ExecSync',
  'Exec',
  'Attach',
  'PortForward',
  'ContainerStats',
  'ListContainerStats',
  'StreamContainerStats',
  'PodSandboxStats',
  'ListPodSandboxStats',
  'StreamPodSandboxStats',
  'UpdateRuntimeConfig',
  'Status',
  'CheckpointContainer',
  'CheckpointPod',
  'RestorePod',
  'GetContainerEvents',
  'ListMetricDescriptors',
  'ListPodSandboxMetrics',
  'StreamPodSandboxMetrics',
  'RuntimeConfig',
  'UpdatePodSandboxResources',
] as const;

export const IMAGE_RPCS = ['ListImages', 'StreamImages', 'ImageStatus', 'PullImage', 'RemoveImage', 'ImageFsInfo'] as const;

export type RuntimeRpc = (typeof RUNTIME_RPCS)[number];
export type ImageRpc = (typeof IMAGE_RPCS)[number];
export type Rpc = RuntimeRpc | ImageRpc;

export const STREAMING_RPCS: ReadonlySet<Rpc> = new Set<Rpc>([
  'StreamPodSandboxes',
  'StreamContainers',
  'StreamContainerStats',
  'StreamPodSandboxStats',
  'GetContainerEvents',
  'StreamPodSandboxMetrics',
  'StreamImages',
]);

export function serviceOf(rpc: Rpc): 'runtime' | 'image' {
  return (IMAGE_RPCS as readonly string[]).includes(rpc) ? 'image' : 'runtime';
}

/** The areas of the report, in the order they are printed (critest's, and more). */
export const AREAS = [
  'runtime info',
  'pod sandbox',
  'pod namespaces',
  'pod networking',
  'images',
  'containers',
  'logs',
  'exec',
  'streaming',
  'security context',
  'resources',
  'stats',
  'events',
  'error contracts',
] as const;
export type Area = (typeof AREAS)[number];

export interface Spec {
  /** Unique and stable: `area-slug/short-name`. */
  id: string;
  area: Area;
  title: string;
  /** Every CRI RPC the spec calls. UNIMPLEMENTED for one of them → "not supported". */
  needs: readonly Rpc[];
  /** Environment the spec needs besides the runtime (else it is skipped, with the reason). */
  requires?: ReadonlyArray<'authRegistry' | 'hostNetworkAccess'>;
  /** Default 60 s. */
  timeoutMs?: number;
  /**
   * Runtimes (by Version.runtime_name) known to fail this spec, with the reason. A failure
   * there is reported as "known limitation", not as a failure; a pass is a pass.
   */
  limitations?: Readonly<Record<string, string>>;
  run(t: SpecContext): Promise<void>;
}

/** Thrown when the runtime answers UNIMPLEMENTED for an RPC the spec declared. */
export class NotSupported extends Error {
  constructor(
    readonly rpc: Rpc,
    detail: string,
  ) {
    super(`${rpc} is not implemented (${detail})`);
    this.name = 'NotSupported';
  }
}

/** Thrown by a spec for a reason outside the runtime (the environment lacks something). */
export class Skip extends Error {
  override name = 'Skip';
}

export class AssertionFailed extends Error {
  override name = 'AssertionFailed';
}

export function isServiceError(e: unknown): e is ServiceError {
  return typeof e === 'object' && e !== null && typeof (e as ServiceError).code === 'number' && 'details' in e;
}

export function codeName(code: number): string {
  return Code[code] ?? String(code);
}

const show = (v: unknown) => {
  try {
    const s = typeof v === 'string' ? JSON.stringify(v) : JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x));
    return s && s.length > 400 ? `${s.slice(0, 400)}…` : String(s);
  } catch {
    return String(v);
  }
};

/** Assertions: each throws AssertionFailed with what was expected and what came. */
export interface Expect {
  ok(cond: unknown, msg: string): asserts cond;
  equal<T>(actual: T, expected: T, what: string): void;
  deepEqual(actual: unknown, expected: unknown, what: string): void;
  match(actual: string, re: RegExp, what: string): void;
  includes<T>(list: readonly T[], item: T, what: string): void;
  notIncludes<T>(list: readonly T[], item: T, what: string): void;
  contains(text: string, part: string, what: string): void;
  recentNs(value: string | number | undefined, what: string): bigint;
}

export const expect: Expect = {
  ok(cond: unknown, msg: string) {
    if (!cond) throw new AssertionFailed(msg);
  },
  equal<T>(actual: T, expected: T, what: string): void {
    if (actual !== expected) throw new AssertionFailed(`${what}: expected ${show(expected)}, got ${show(actual)}`);
  },
  deepEqual(actual: unknown, expected: unknown, what: string): void {
    if (show(sortKeys(actual)) !== show(sortKeys(expected))) throw new AssertionFailed(`${what}: expected ${show(expected)}, got ${show(actual)}`);
  },
  match(actual: string, re: RegExp, what: string): void {
    if (typeof actual !== 'string' || !re.test(actual)) throw new AssertionFailed(`${what}: expected to match ${re}, got ${show(actual)}`);
  },
  includes<T>(list: readonly T[], item: T, what: string): void {
    if (!Array.isArray(list) || !list.includes(item)) throw new AssertionFailed(`${what}: expected ${show(list)} to include ${show(item)}`);
  },
  notIncludes<T>(list: readonly T[], item: T, what: string): void {
    if (Array.isArray(list) && list.includes(item)) throw new AssertionFailed(`${what}: expected ${show(list)} not to include ${show(item)}`);
  },
  contains(text: string, part: string, what: string): void {
    if (typeof text !== 'string' || !text.includes(part)) throw new AssertionFailed(`${what}: expected ${show(text)} to contain ${show(part)}`);
  },
  /** A CRI int64 timestamp (decimal string) in nanoseconds, within the last hour or so. */
  recentNs(value: string | number | undefined, what: string): bigint {
    let n: bigint;
    try {
      n = BigInt(value ?? '0');
    } catch {
      throw new AssertionFailed(`${what}: ${show(value)} is not an integer`);
    }
    const now = BigInt(Date.now()) * 1_000_000n;
    const hour = 3600n * 1_000_000_000n;
    if (n < now - hour || n > now + 60n * 1_000_000_000n) {
      throw new AssertionFailed(`${what}: ${n} is not a nanosecond timestamp near now (${now})`);
    }
    return n;
  },
};

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object' && !Buffer.isBuffer(v)) {
    return Object.fromEntries(
      Object.keys(v as object)
        .sort()
        .map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]),
    );
  }
  return v;
}

/** Options the runner gives every spec. */
export interface SuiteEnv {
  client: CriClient;
  images: SuiteImages;
  /** Parent directory for pod log directories (must be allowed by the runtime). */
  logRoot: string;
  /** A scratch directory of the suite on the node (host paths for mounts, seccomp profiles). */
  workDir: string;
  /**
   * cgroup_parent prefix for pods, or '' to set none. A prefix starting with '/' is a cgroupfs
   * path (each pod gets `<prefix>-pod<uid>`); any other is a systemd slice prefix for a runtime
   * with the systemd driver (each pod gets `<prefix>-pod<uid with '_' for '-'>.slice`).
   */
  cgroupParent: string;
  /** Every deadline and timeout of the runner multiplied by this (emulated guests: 10-40). Default 1. */
  timeScale?: number;
  /** Runtime handler for pods ('' = the runtime's default). */
  runtimeHandler: string;
  /** Basic-auth credentials of the auth registry, when there is one. */
  auth?: { username: string; password: string; serverAddress: string };
  /** Unique per suite run; in pod names, uids and labels. */
  runId: string;
  /** Version.runtime_name of the runtime under test. */
  runtimeName: string;
  /** RPCs found UNIMPLEMENTED by the probe. */
  unsupported: ReadonlyMap<Rpc, string>;
}

export interface PodHandle {
  id: string;
  config: PodConfig;
}

export type PodConfig = Record<string, unknown> & {
  metadata: { name: string; namespace: string; uid: string; attempt: number };
  log_directory: string;
  labels: Record<string, string>;
};

export interface ContainerHandle {
  id: string;
  pod: PodHandle;
  config: Record<string, unknown> & { log_path: string };
  /** Absolute path of the container's log file. */
  logFile: string;
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/** What a spec uses: `call` for any RPC, helpers for the common steps, `defer` for cleanup. */
export interface SpecContext {
  readonly env: SuiteEnv;
  readonly images: SuiteImages;
  /** A unary RPC by name; UNIMPLEMENTED for a declared RPC aborts the spec as "not supported". */
  call<T = any>(rpc: Rpc, req: object, timeoutMs?: number): Promise<T>;
  /** The call must fail; with `codes`, its status code must be one of them. Returns the error. */
  callFails(rpc: Rpc, req: object, codes?: readonly Code[], what?: string): Promise<ServiceError>;
  /**
   * A server-streaming RPC: collects messages until `until` says stop, the stream ends, or
   * `timeoutMs`. `during` runs while the stream is open, with the messages so far (live).
   */
  stream<T = any>(rpc: Rpc, req: object, opts: { until?: (msgs: T[]) => boolean; timeoutMs: number; during?: (live: T[]) => Promise<void> }): Promise<T[]>;
  /** Runs `fn` after the spec (last deferred first), whatever the outcome. */
  defer(fn: () => Promise<unknown>): void;
  /** A name unique in this run: `<base>-<n>`. */
  name(base: string): string;
  note(msg: string): void;
  podConfig(name: string, extra?: Record<string, unknown>): PodConfig;
  /** RunPodSandbox (and deferred stop + remove). */
  runPod(config: PodConfig, runtimeHandler?: string): Promise<PodHandle>;
  /** Pulls once per run (shared images stay pulled until the suite ends). */
  ensureImage(ref: string): Promise<void>;
  containerConfig(name: string, extra?: Record<string, unknown>): Record<string, unknown> & { log_path: string };
  /** CreateContainer with the busybox image unless `config.image` is given (and deferred remove). */
  createContainer(pod: PodHandle, config: Record<string, unknown> & { log_path: string }): Promise<ContainerHandle>;
  /** createContainer + StartContainer. */
  startContainer(pod: PodHandle, config: Record<string, unknown> & { log_path: string }): Promise<ContainerHandle>;
  /** Polls ContainerStatus until its state is `state`. Returns the status. */
  waitContainer(id: string, state: 'CONTAINER_RUNNING' | 'CONTAINER_EXITED' | 'CONTAINER_CREATED', timeoutMs?: number): Promise<any>;
  exec(id: string, cmd: string[], timeoutSeconds?: number): Promise<ExecResult>;
  /** exec that must exit 0; returns stdout. */
  sh(id: string, script: string): Promise<string>;
  /** Polls `fn` until it returns a truthy value (returned) or the time is up (last error thrown). */
  eventually<T>(fn: () => Promise<T>, what: string, timeoutMs?: number): Promise<NonNullable<T>>;
}
