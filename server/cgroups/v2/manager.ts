// cgroup v2 manager: one directory in the unified hierarchy. Controllers must be enabled in
// every ancestor's cgroup.subtree_control before their files appear in the child.
import { join, posix } from 'node:path';
import type { CgroupManager, CgroupResources, CgroupSnapshot, CgroupStats, SnapshotParts } from '../common.js';
import { v2ControllerOf, v2Writes } from '../convert.js';
import { applyWrites, listControlsSync, makeCgroupDir, parseProcs, readControl, readControlSync, removeCgroupDir, writeControl } from '../fs.js';
import { parseV2Limits, parseV2Stats, V2_LIMIT_FILES, V2_STAT_FILES } from '../stats.js';
import { MEMORY_MAX, MEMORY_SWAP_MAX } from './memory.js';
import { PIDS_MAX } from './pids.js';
import { readPressure, readPressureSync, type PsiResource } from './psi.js';
import type { CgroupReadCache } from '../read-cache.js';

/** The limit files among the usage stats' (see SnapshotParts.statLimits). */
const V2_STAT_LIMIT_FILES: readonly string[] = [MEMORY_MAX, PIDS_MAX];

/** Controllers berth wants for a container cgroup, when the host offers them. */
const WANTED = ['cpuset', 'cpu', 'io', 'memory', 'hugetlb', 'pids'];

export interface V2ManagerOptions {
  /** The cgroup2 mount point, e.g. /sys/fs/cgroup. */
  root: string;
  /** Cgroup path relative to the root. */
  path: string;
  /** mkdir -p / rmdir by default; see V1ManagerOptions. */
  makeDir?: (dir: string) => Promise<void>;
  removeDir?: (dir: string) => Promise<void>;
  /** What snapshot() remembers between reads (the host's hierarchy only, never temp dirs). */
  readCache?: CgroupReadCache;
}

export function createV2Manager(opts: V2ManagerOptions): CgroupManager {
  const path = posix.normalize(`/${opts.path}`);
  const rel = path.slice(1);
  const parts = rel === '' ? [] : rel.split('/');
  const dir = join(opts.root, rel);
  const removeDir = opts.removeDir ?? removeCgroupDir;
  const makeDir = opts.makeDir ?? makeCgroupDir;

  /**
   * Top-down from the root: make each ancestor of our cgroup and enable in it each wanted
   * controller the root offers, so that the next level down gets that controller's files.
   */
  async function enableControllers(extra: readonly string[] = []): Promise<void> {
    const available = ((await readControl(opts.root, 'cgroup.controllers')) ?? '').split(/\s+/).filter((c) => c !== '');
    const wanted = [...new Set([...WANTED, ...extra])].filter((c) => available.includes(c));
    for (let i = 0; i < parts.length; i++) {
      const ancestor = join(opts.root, ...parts.slice(0, i));
      if (i > 0) await makeDir(ancestor);
      if (wanted.length === 0) continue;
      const enabled = ((await readControl(ancestor, 'cgroup.subtree_control')) ?? '').split(/\s+/);
      const missing = wanted.filter((c) => !enabled.includes(c));
      if (missing.length > 0) await writeControl(ancestor, 'cgroup.subtree_control', missing.map((c) => `+${c}`).join(' '));
    }
  }

  return {
    version: 2,
    path,

    async create() {
      await enableControllers();
      await makeDir(dir);
    },

    async apply(resources: CgroupResources) {
      // A unified key may name a controller beyond the usual set (e.g. "rdma.max").
      const extra = Object.keys(resources.unified ?? {}).map(v2ControllerOf).filter((c) => c !== 'cgroup');
      if (extra.some((c) => !WANTED.includes(c))) await enableControllers(extra);
      const swapAccounting = (await readControl(dir, MEMORY_SWAP_MAX)) !== undefined;
      await applyWrites(v2Writes(resources, { swapAccounting }), () => dir);
    },

    async addPid(pid: number) {
      await writeControl(dir, 'cgroup.procs', String(pid));
    },

    async pids() {
      return parseProcs(await readControl(dir, 'cgroup.procs'));
    },

    async stats(): Promise<CgroupStats> {
      return snapshotV2(dir)?.stats ?? {};
    },

    snapshot: (parts) => snapshotV2(dir, parts, opts.readCache),

    pressure(resource: PsiResource) {
      return readPressure(dir, resource);
    },

    async destroy() {
      await removeDir(dir);
    },
  };
}

/** The files of `names` that exist in `dir`, into `files`. */
export function readFilesSync(dir: string | undefined, names: readonly string[], files: Record<string, string> = {}): Record<string, string> {
  for (const name of names) {
    const text = readControlSync(dir, name);
    if (text !== undefined) files[name] = text;
  }
  return files;
}

/** PSI of the three resources in a cgroup2 directory; undefined when it has none. */
export function pressureSync(dir: string | undefined): CgroupSnapshot['pressure'] {
  const out: NonNullable<CgroupSnapshot['pressure']> = {};
  for (const r of ['cpu', 'memory', 'io'] as const) {
    const p = readPressureSync(dir, r);
    // The three are cgroup core files, present together: no cpu.pressure (no such cgroup2
    // directory on a hybrid host, or PSI off) means none.
    if (!p && r === 'cpu') return undefined;
    if (p) out[r] = p;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

function snapshotV2(dir: string, parts: SnapshotParts = {}, cache?: CgroupReadCache): CgroupSnapshot | undefined {
  const procs = readControlSync(dir, 'cgroup.procs');
  // A cgroup without cgroup.procs is gone (the files below would all be missing too).
  const hugetlb = procs === undefined && cache ? [] : cache ? cache.hugetlbNames(dir) : listControlsSync(dir).filter((n) => n.startsWith('hugetlb.'));
  const skip = parts.statLimits === false && !parts.limits ? V2_STAT_LIMIT_FILES : undefined;
  const files = readFilesSync(dir, [...(skip ? V2_STAT_FILES.filter((n) => !skip.includes(n)) : V2_STAT_FILES), ...hugetlb.filter((n) => !n.endsWith('.max'))]);
  // A cgroup always has cgroup.procs; a tree made by tests may have only stat files.
  if (procs === undefined && Object.keys(files).length === 0) {
    cache?.dropDir(dir);
    return undefined;
  }
  const out: CgroupSnapshot = { stats: parseV2Stats(files), procs: parseProcs(procs) };
  if (parts.limits) {
    // Files both sides use (memory.max, pids.max) are read once.
    readFilesSync(dir, [...V2_LIMIT_FILES, ...hugetlb.filter((n) => n.endsWith('.max'))].filter((n) => files[n] === undefined), files);
    out.limits = parseV2Limits(files);
  }
  if (parts.pressure) {
    const p = pressureSync(dir);
    if (p) out.pressure = p;
  }
  return out;
}
