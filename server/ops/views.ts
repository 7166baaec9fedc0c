// What `berth ps`, `berth inspect` and `berth top` show (issue 13), computed from berth's
// records and the host in one place for both of the CLI's modes: berthd serves it on its
// admin socket (server/admin.ts, live records, its event ring), and with berthd down the CLI
// computes the same from the store opened read-only (cli/node-source.ts). Nothing here
// writes: it reads records, /proc, mountinfo, cgroup files, bundle files, and asks the OCI
// runtime for `state`.
import { readFile, readlink, stat, readdir } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join } from 'node:path';
import type { SandboxRecord } from '../sandbox/types.js';
import type { ContainerRecord } from '../container/types.js';
import type { ImageStore } from '../image/image-store.js';
import { resolveImageRef } from '../image/image-manager.js';
import type { Cgroups } from '../cgroups/manager.js';
import type { CgroupStats } from '../cgroups/common.js';
import { containerFiles } from '../runtime/files.js';
import { OciRuntime } from '../runtime/oci-runtime.js';
import { parseMountInfo, type MountInfo } from '../../hostutil/mountinfo.js';
import { invalidArgument, notFound } from '../errors.js';
import { digestHex } from '../image/digest.js';
import type { RecentEvent } from '../event-ring.js';
import { pathExists } from '../../hostutil/exists.js';

/** Everything the views read; berthd and the read-only CLI each make one. */
export interface ViewSource {
  sandboxes(): readonly Readonly<SandboxRecord>[];
  containers(): readonly Readonly<ContainerRecord>[];
  images: ImageStore;
  /** berth's root directory (layers live under <root>/layers/sha256). */
  root: string;
  /** undefined when the host's cgroups could not be read. */
  cgroups?: Cgroups;
  /** berthd's ring of recent events (absent read-only: berthd keeps it in memory). */
  events?: (id: string) => RecentEvent[];
}

const iso = (ns: string | undefined): string | null => (!ns || ns === '0' ? null : new Date(Number(BigInt(ns) / 1_000_000n)).toISOString());
const CONTAINER_STATE: Record<string, string> = { CONTAINER_CREATED: 'created', CONTAINER_RUNNING: 'running', CONTAINER_EXITED: 'exited', CONTAINER_UNKNOWN: 'unknown' };
const POD_STATE: Record<string, string> = { SANDBOX_READY: 'ready', SANDBOX_NOTREADY: 'notready' };

// ---------------------------------------------------------------- ps

export interface PsContainer {
  id: string;
  name: string;
  /** The restart count kubelet keeps (CRI attempt). */
  attempt: number;
  /** created | running | exited | unknown | creating (CreateContainer not finished). */
  state: string;
  createdAt: string | null;
  startedAt: string | null;
  finishedAt: string | null;
  pid: number;
  image: string;
  imageId: string;
  exitCode: number | null;
  reason: string;
  cgroupsPath: string;
}

export interface PsPod {
  id: string;
  name: string;
  namespace: string;
  uid: string;
  attempt: number;
  /** ready | notready. */
  state: string;
  createdAt: string | null;
  stoppedAt: string | null;
  handler: string;
  ips: string[];
  /** The pod's init process (shared PID namespace pods), 0 otherwise. */
  pid: number;
  cgroup: string;
  labels: Record<string, string>;
  containers: PsContainer[];
}

export interface PsFilter {
  /** Pod id prefix or name. */
  pod?: string;
  namespace?: string;
  /** ready | notready | running | exited | created | unknown | creating. */
  state?: string;
  /** key or key=value, all must match the pod's labels. */
  labels?: string[];
}

export const PS_STATES = ['ready', 'notready', 'running', 'exited', 'created', 'unknown', 'creating'];

export function psContainer(c: Readonly<ContainerRecord>): PsContainer {
  const state = c.creating ? 'creating' : (CONTAINER_STATE[c.state] ?? c.state);
  return {
    id: c.id,
    name: c.name,
    attempt: c.attempt,
    state,
    createdAt: iso(c.createdAt),
    startedAt: iso(c.startedAt),
    finishedAt: iso(c.finishedAt),
    pid: c.pid,
    image: c.image.ref,
    imageId: c.image.id,
    exitCode: c.state === 'CONTAINER_EXITED' ? c.exitCode : null,
    reason: c.reason,
    cgroupsPath: c.cgroupsPath,
  };
}

/** Pods (oldest first) with their containers (oldest first), filtered. */
export function podTree(src: Pick<ViewSource, 'sandboxes' | 'containers'>, f: PsFilter = {}): PsPod[] {
  if (f.state && !PS_STATES.includes(f.state)) throw invalidArgument(`state must be one of ${PS_STATES.join(', ')}, not "${f.state}"`);
  const byPod = new Map<string, PsContainer[]>();
  for (const c of src.containers()) {
    const list = byPod.get(c.sandboxId) ?? [];
    list.push(psContainer(c));
    byPod.set(c.sandboxId, list);
  }
  const out: PsPod[] = [];
  const known = new Set<string>();
  for (const sb of src.sandboxes()) {
    known.add(sb.id);
    const pod: PsPod = {
      id: sb.id,
      name: sb.name,
      namespace: sb.namespace,
      uid: sb.uid,
      attempt: sb.attempt,
      state: POD_STATE[sb.state] ?? sb.state,
      createdAt: iso(sb.createdAt),
      stoppedAt: iso(sb.runtime.stoppedAt),
      handler: sb.handler,
      ips: sb.runtime.ips ?? [],
      pid: sb.runtime.init?.pid ?? 0,
      cgroup: sb.runtime.cgroup?.path ?? '',
      labels: { ...(sb.config.labels ?? {}) },
      containers: (byPod.get(sb.id) ?? []).sort((a, b) => (a.createdAt ?? '').localeCompare(b.createdAt ?? '')),
    };
    if (f.pod && !(sb.id.startsWith(f.pod) || sb.name === f.pod)) continue;
    if (f.namespace && sb.namespace !== f.namespace) continue;
    if (f.labels && !f.labels.every((l) => labelMatches(pod.labels, l))) continue;
    if (f.state) {
      const own = pod.state === f.state;
      const cs = pod.containers.filter((c) => c.state === f.state);
      if (!own && cs.length === 0) continue;
      if (!own) pod.containers = cs;
    }
    out.push(pod);
  }
  // Containers whose pod has no record (a leak `berth leaks` names): shown under a placeholder.
  for (const [podId, cs] of byPod) {
    if (known.has(podId) || f.pod || f.namespace || f.labels?.length) continue;
    const shown = f.state ? cs.filter((c) => c.state === f.state) : cs;
    if (shown.length === 0) continue;
    out.push({ id: podId, name: '<no pod record>', namespace: '', uid: '', attempt: 0, state: 'unknown', createdAt: null, stoppedAt: null, handler: '', ips: [], pid: 0, cgroup: '', labels: {}, containers: shown });
  }
  return out;
}

function labelMatches(labels: Record<string, string>, want: string): boolean {
  const eq = want.indexOf('=');
  if (eq < 0) return want in labels;
  return labels[want.slice(0, eq)] === want.slice(eq + 1);
}

// ---------------------------------------------------------------- resolve

export type Resolved = { kind: 'pod'; id: string } | { kind: 'container'; id: string } | { kind: 'image'; id: string };

/** A full id or unique prefix of a pod or container, or an image id/prefix/reference. */
export function resolveAny(src: ViewSource, query: string): Resolved {
  if (!query) throw invalidArgument('an id is required');
  const hits: Resolved[] = [];
  const q = query.replace(/^sha256:/, '');
  for (const sb of src.sandboxes()) {
    if (sb.id === q) return { kind: 'pod', id: sb.id };
    if (sb.id.startsWith(q)) hits.push({ kind: 'pod', id: sb.id });
  }
  for (const c of src.containers()) {
    if (c.id === q) return { kind: 'container', id: c.id };
    if (c.id.startsWith(q)) hits.push({ kind: 'container', id: c.id });
  }
  let image: string | undefined;
  try {
    image = resolveImageRef(src.images, query);
  } catch {
    image = undefined;
  }
  if (image && !hits.some((h) => h.id === image)) hits.push({ kind: 'image', id: image });
  if (hits.length === 1) return hits[0]!;
  if (hits.length > 1) throw invalidArgument(`"${query}" is ambiguous: it matches ${hits.map((h) => `${h.kind} ${h.id.slice(0, 13)}`).join(', ')}; give more of the id`);
  throw notFound(`no pod, container or image "${query}" here`);
}

// ---------------------------------------------------------------- host facts

/** Whether a process is alive (its /proc entry exists; not a zombie). */
export async function processAlive(pid: number): Promise<boolean> {
  if (!(pid > 0)) return false;
  try {
    const s = await readFile(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2, s.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

async function mounts(): Promise<MountInfo[]> {
  try {
    return parseMountInfo(await readFile('/proc/self/mountinfo', 'utf8'));
  } catch {
    return [];
  }
}

/** The rootfs mount as the kernel has it; lowerdirs are relative to the layers directory (shim/rootfs.ts mounts from there). */
function overlayOf(all: readonly MountInfo[], rootfs: string, layersDir: string) {
  const m = [...all].reverse().find((x) => x.mountPoint === rootfs);
  if (!m) return { mounted: false, lowerDirs: [] as string[], upperDir: null as string | null, workDir: null as string | null };
  const opt = (k: string) => m.superOptions.find((o) => o.startsWith(`${k}=`))?.slice(k.length + 1);
  return { mounted: true, fsType: m.fsType, lowerDirs: (opt('lowerdir') ?? '').split(':').filter(Boolean).map((l) => (isAbsolute(l) ? l : join(layersDir, l))), upperDir: opt('upperdir') ?? null, workDir: opt('workdir') ?? null };
}

async function fileFacts(path: string): Promise<{ path: string; exists: boolean; size: number | null; modifiedAt: string | null }> {
  try {
    const s = await stat(path);
    return { path, exists: true, size: s.size, modifiedAt: s.mtime.toISOString() };
  } catch {
    return { path, exists: false, size: null, modifiedAt: null };
  }
}

/** bigint counters as decimal strings, so the JSON keeps them exact. */
function jsonable(v: unknown): unknown {
  return JSON.parse(JSON.stringify(v, (_, x: unknown) => (typeof x === 'bigint' ? x.toString() : x))) as unknown;
}

/** The cgroup's limits as the kernel has them now (not as requested). */
async function cgroupLimits(cg: Cgroups, path: string, stats: CgroupStats | undefined) {
  const limits: Record<string, unknown> = { memoryBytes: stats?.memory?.limit ?? null, pids: stats?.pids?.limit ?? null };
  const read = async (p: string) => (await readFile(p, 'utf8').catch(() => '')).trim();
  if (cg.layout.mode === 'v2' && cg.layout.unified) {
    const dir = join(cg.layout.unified, path);
    const max = await read(join(dir, 'cpu.max'));
    if (max) {
      const [q, p] = max.split(/\s+/);
      limits.cpu = q === 'max' ? null : Number(q) / Number(p);
      limits.cpuMax = max;
    }
    const w = await read(join(dir, 'cpu.weight'));
    if (w) limits.cpuWeight = Number(w);
  } else if (cg.layout.v1.cpu) {
    const dir = join(cg.layout.v1.cpu, path);
    const q = Number(await read(join(dir, 'cpu.cfs_quota_us')));
    const p = Number(await read(join(dir, 'cpu.cfs_period_us')));
    if (p > 0) limits.cpu = q > 0 ? q / p : null;
    const sh = await read(join(dir, 'cpu.shares'));
    if (sh) limits.cpuShares = Number(sh);
  }
  return limits;
}

async function cgroupFacts(cg: Cgroups | undefined, path: string) {
  if (!cg || !path) return { path, exists: false, limits: null, usage: null };
  const stats = await cg.stats(path);
  return { path, exists: stats !== undefined, limits: stats ? await cgroupLimits(cg, path, stats) : null, usage: stats ? jsonable(stats) : null };
}

async function nsLinks(pid: number): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  if (!(pid > 0)) return out;
  for (const ns of ['cgroup', 'ipc', 'mnt', 'net', 'pid', 'user', 'uts']) {
    const l = await readlink(`/proc/${pid}/ns/${ns}`).catch(() => undefined);
    if (l) out[ns] = l;
  }
  return out;
}

// ---------------------------------------------------------------- inspect

export async function inspectContainer(src: ViewSource, id: string): Promise<Record<string, unknown>> {
  const rec = src.containers().find((c) => c.id === id);
  if (!rec) throw notFound(`container "${id}" not found`);
  const files = containerFiles(rec);
  const all = await mounts();
  const spec = await readFile(files.config, 'utf8').then(
    (t) => JSON.parse(t) as unknown,
    (e: Error) => ({ error: `cannot read ${files.config}: ${e.message}` }),
  );
  let runtimeState: unknown;
  try {
    runtimeState = (await new OciRuntime({ name: rec.handler, path: rec.runtimePath, root: rec.runtimeRoot }).state(rec.id)) ?? { status: 'unknown to the runtime' };
  } catch (e) {
    runtimeState = { error: (e as Error).message };
  }
  const cgPath = src.cgroups ? await src.cgroups.containerPath({ cgroupsPath: rec.cgroupsPath, pid: rec.state === 'CONTAINER_RUNNING' ? rec.pid : 0 }).catch(() => '') : '';
  const pod = src.sandboxes().find((s) => s.id === rec.sandboxId);
  const logDir = rec.logPath ? dirname(rec.logPath) : '';
  const rotated = logDir ? (await readdir(logDir).catch(() => [] as string[])).filter((f) => f.startsWith(basename(rec.logPath) + '.')).sort() : [];
  return {
    kind: 'container',
    id: rec.id,
    summary: psContainer(rec),
    pod: pod ? { id: pod.id, name: pod.name, namespace: pod.namespace } : { id: rec.sandboxId, missing: true },
    record: rec,
    spec,
    paths: { bundle: rec.paths.bundle, rootfs: rec.paths.rootfs, upper: rec.paths.upper, work: rec.paths.work, dir: rec.paths.dir },
    overlay: overlayOf(all, rec.paths.rootfs, join(src.root, 'layers', 'sha256')),
    process: { pid: rec.pid, alive: await processAlive(rec.pid), namespaces: await nsLinks(rec.state === 'CONTAINER_RUNNING' ? rec.pid : 0) },
    conmon: {
      pid: rec.conmonPid,
      alive: await processAlive(rec.conmonPid),
      files: Object.fromEntries(await Promise.all(Object.entries(files).map(async ([k, p]) => [k, { path: p, exists: await pathExists(p) }] as const))),
    },
    runtime: { handler: rec.handler, path: rec.runtimePath, root: rec.runtimeRoot, state: runtimeState },
    cgroup: { cgroupsPath: rec.cgroupsPath, ...(await cgroupFacts(src.cgroups, cgPath)) },
    log: { ...(await fileFacts(rec.logPath || rec.monitorLogPath)), monitorLogPath: rec.monitorLogPath, rotated: rotated.map((f) => join(logDir, f)) },
    events: src.events ? src.events(rec.id) : null,
  };
}

export async function inspectPod(src: ViewSource, id: string): Promise<Record<string, unknown>> {
  const sb = src.sandboxes().find((s) => s.id === id);
  if (!sb) throw notFound(`pod "${id}" not found`);
  const all = await mounts();
  const mounted = (p: string | undefined) => (p ? all.some((m) => m.mountPoint === p) : false);
  const ns = sb.runtime.namespaces;
  const pinned: Record<string, unknown> = { dir: ns.dir };
  for (const k of ['net', 'ipc', 'uts'] as const) if (ns[k]) pinned[k] = { path: ns[k], mounted: mounted(ns[k]) };
  const [tree] = podTree({ sandboxes: () => [sb], containers: src.containers });
  return {
    kind: 'pod',
    id: sb.id,
    summary: tree,
    record: sb,
    namespaces: { network: sb.runtime.networkMode, ipc: sb.runtime.ipcMode, pid: sb.runtime.pidMode, pinned },
    network: { ips: sb.runtime.ips, cni: sb.runtime.cni ? { ifname: sb.runtime.cni.ifname, netns: sb.runtime.cni.netns, deleted: sb.runtime.cni.deleted, network: (sb.runtime.cni.conflist as { name?: string }).name ?? '', result: sb.runtime.cni.result ?? null } : null },
    init: sb.runtime.init ? { ...sb.runtime.init, alive: await processAlive(sb.runtime.init.pid) } : null,
    shm: sb.runtime.shmPath ? { path: sb.runtime.shmPath, mounted: mounted(sb.runtime.shmPath) } : null,
    files: { dir: sb.runtime.filesDir, hostname: sb.runtime.hostnamePath, hosts: sb.runtime.hostsPath, resolvConf: sb.runtime.resolvConfPath },
    logDirectory: sb.config.log_directory ?? '',
    cgroup: sb.runtime.cgroup ? { ...sb.runtime.cgroup, ...(await cgroupFacts(src.cgroups, sb.runtime.cgroup.path)) } : null,
    events: src.events ? src.events(sb.id) : null,
  };
}

export async function inspectImage(src: ViewSource, id: string): Promise<Record<string, unknown>> {
  const rec = src.images.get(id);
  if (!rec) throw notFound(`image "${id}" not found`);
  const refs = src.images.refs(id);
  const layers = await Promise.all(
    src.images.layers(id).map(async (l) => {
      const lr = src.images.layer(l.chainId);
      const path = join(src.root, 'layers', 'sha256', digestHex(l.chainId));
      return { position: l.position, blobDigest: l.blobDigest, chainId: l.chainId, diffId: lr?.diffId ?? null, size: lr?.size ?? null, inodes: lr?.inodes ?? null, path, present: await pathExists(path), users: src.images.layerRefCount(l.chainId) };
    }),
  );
  let config: unknown;
  try {
    config = JSON.parse(rec.config);
  } catch {
    config = rec.config;
  }
  return {
    kind: 'image',
    id: rec.id,
    summary: { id: rec.id, repoTags: refs.filter((r) => r.kind === 'tag').map((r) => r.name), repoDigests: refs.filter((r) => r.kind === 'digest').map((r) => r.name), size: rec.size, pulledAt: iso(rec.createdAt) },
    record: { id: rec.id, manifestDigest: rec.manifestDigest, mediaType: rec.mediaType, size: rec.size, createdAt: rec.createdAt },
    config,
    layers,
    containers: src.containers().filter((c) => c.image.id === rec.id).map((c) => ({ id: c.id, name: c.name, podId: c.sandboxId, state: psContainer(c).state })),
  };
}

export async function inspect(src: ViewSource, query: string): Promise<Record<string, unknown>> {
  const r = resolveAny(src, query);
  if (r.kind === 'pod') return inspectPod(src, r.id);
  if (r.kind === 'container') return inspectContainer(src, r.id);
  return inspectImage(src, r.id);
}
