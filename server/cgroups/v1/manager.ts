// cgroup v1 (and hybrid) manager: one directory per controller hierarchy. On hybrid hosts a
// controller may live on the cgroup2 mount instead (hugetlb on our Debian test hosts); such
// controllers are driven with their v2 files there.
import { join, posix } from 'node:path';
import { failedPrecondition } from '../../errors.js';
import type { CgroupManager, CgroupResources, CgroupSnapshot, CgroupStats, CgroupWrite, SnapshotParts, V1Controller } from '../common.js';
import { v1Writes } from '../convert.js';
import { applyWrites, listControlsSync, makeCgroupDir, parseProcs, readControl, readControlSync, removeCgroupDir, writeControl } from '../fs.js';
import { parseSingle, parseV1Limits, parseV1Stats, parseV2Stats, V1_LIMIT_FILES, V1_STAT_FILES } from '../stats.js';
import { pressureSync, readFilesSync } from '../v2/manager.js';
import { CPUACCT_STAT, CPUACCT_USAGE_SYS, CPUACCT_USAGE_USER } from './cpuacct.js';
import { hugetlbMaxFile } from '../v2/hugetlb.js';
import { CPUSET_CPUS, CPUSET_MEMS } from './cpuset.js';
import { MEMORY_LIMIT, MEMORY_MEMSW_LIMIT } from './memory.js';
import { PIDS_MAX } from './pids.js';
import type { CgroupReadCache } from '../read-cache.js';

/** The limit files among the usage stats' (see SnapshotParts.statLimits). */
const V1_STAT_LIMIT_FILES: readonly string[] = [MEMORY_LIMIT, PIDS_MAX];

/** Controllers a container cgroup is created in (others, like net_cls, are left to the host). */
const MANAGED: readonly V1Controller[] = ['cpu', 'cpuacct', 'cpuset', 'memory', 'pids', 'blkio', 'hugetlb', 'devices', 'freezer'];

export interface V1ManagerOptions {
  /** Controller → mount point of its hierarchy (CgroupLayout.v1). */
  mounts: Readonly<Record<string, string>>;
  /** Cgroup path relative to each hierarchy root, e.g. "/kubepods/pod1/abc". */
  path: string;
  /** Hybrid hosts: the cgroup2 mount and the controllers it holds. */
  unified?: { root: string; controllers: readonly string[] };
  /**
   * How to make and remove a cgroup directory. The defaults are mkdir -p and rmdir, as on
   * cgroupfs; tests on a plain temp dir pass versions that play the kernel's part (control
   * files appear with the directory, rmdir of a populated directory works).
   */
  makeDir?: (dir: string) => Promise<void>;
  removeDir?: (dir: string) => Promise<void>;
  /** What snapshot() remembers between reads (the host's hierarchies only, never temp dirs). */
  readCache?: CgroupReadCache;
}

export function createV1Manager(opts: V1ManagerOptions): CgroupManager {
  const path = posix.normalize(`/${opts.path}`);
  const removeDir = opts.removeDir ?? removeCgroupDir;
  const makeDir = opts.makeDir ?? makeCgroupDir;
  const rel = path.slice(1);

  const mountOf = (c: string): string | undefined => opts.mounts[c];
  const dirOf = (c: string): string | undefined => {
    const m = mountOf(c);
    return m === undefined ? undefined : join(m, rel);
  };
  // Controllers mounted together (cpu,cpuacct) share one directory.
  const dirs = (): string[] => [...new Set(MANAGED.flatMap((c) => dirOf(c) ?? []))];

  const onUnified = (c: string): boolean => mountOf(c) === undefined && (opts.unified?.controllers.includes(c) ?? false);
  const unifiedDir = opts.unified ? join(opts.unified.root, rel) : undefined;
  const unifiedExists = async (): Promise<boolean> =>
    unifiedDir !== undefined && (await readControl(unifiedDir, 'cgroup.procs')) !== undefined;

  /** A new cpuset cgroup has empty cpus/mems and refuses tasks: copy them down from the closest ancestor. */
  async function fillCpuset(): Promise<void> {
    const root = mountOf('cpuset');
    if (root === undefined) return;
    const parts = rel === '' ? [] : rel.split('/');
    for (let i = 1; i <= parts.length; i++) {
      const parent = join(root, ...parts.slice(0, i - 1));
      const dir = join(root, ...parts.slice(0, i));
      for (const file of [CPUSET_CPUS, CPUSET_MEMS]) {
        const own = (await readControl(dir, file))?.trim();
        if (own) continue;
        const inherited = (await readControl(parent, file))?.trim();
        if (inherited) await writeControl(dir, file, inherited);
      }
    }
  }

  /** A v1 controller's files of this cgroup into `files` (through the read cache when there is one). */
  function readV1(controller: string, names: readonly string[], files: Record<string, string>): void {
    const dir = dirOf(controller);
    if (dir === undefined) return;
    if (opts.readCache) opts.readCache.readV1(mountOf(controller)!, dir, names, files);
    else readFilesSync(dir, names, files);
  }

  /** Hybrid hosts: top-down, make each cgroup2 ancestor and enable the controllers we drive there. */
  async function enableUnified(controllers: readonly string[]): Promise<void> {
    if (!opts.unified || controllers.length === 0) return;
    const parts = rel === '' ? [] : rel.split('/');
    for (let i = 0; i < parts.length; i++) {
      const dir = join(opts.unified.root, ...parts.slice(0, i));
      if (i > 0) await makeDir(dir);
      const enabled = ((await readControl(dir, 'cgroup.subtree_control')) ?? '').split(/\s+/);
      const missing = controllers.filter((c) => !enabled.includes(c));
      if (missing.length > 0) await writeControl(dir, 'cgroup.subtree_control', missing.map((c) => `+${c}`).join(' '));
    }
  }

  async function pids(): Promise<number[]> {
    const dir = dirOf('pids') ?? dirOf('memory') ?? dirs()[0];
    return dir === undefined ? [] : parseProcs(await readControl(dir, 'cgroup.procs'));
  }

  /**
   * The one reader of this cgroup's files (stats() and the metrics sampler). On hybrid hosts
   * the hugetlb controller and PSI live on the cgroup2 side (v2 file names).
   */
  function snapshot(parts: SnapshotParts = {}): CgroupSnapshot | undefined {
    const procs = readControlSync(dirOf('pids') ?? dirOf('memory') ?? dirOf('cpu') ?? dirs()[0], 'cgroup.procs');
    const files: Record<string, string> = {};
    const skip = parts.statLimits === false && !parts.limits ? V1_STAT_LIMIT_FILES : undefined;
    for (const [controller, names] of Object.entries(V1_STAT_FILES)) {
      // cpuacct.stat (ticks) only where the kernel lacks usage_user/usage_sys.
      readV1(controller, names.filter((n) => n !== CPUACCT_STAT && !skip?.includes(n)), files);
      if (controller === 'cpuacct' && (files[CPUACCT_USAGE_USER] === undefined || files[CPUACCT_USAGE_SYS] === undefined)) readV1(controller, [CPUACCT_STAT], files);
    }
    const hugeDir = dirOf('hugetlb');
    const hybridHuge = hugeDir === undefined && onUnified('hugetlb') ? unifiedDir : undefined;
    // A cgroup always has cgroup.procs; a tree made by tests may have only stat files.
    if (procs === undefined && Object.keys(files).length === 0) {
      if (hugeDir ?? hybridHuge) opts.readCache?.dropDir((hugeDir ?? hybridHuge)!);
      return undefined;
    }
    const hugeListDir = hugeDir ?? hybridHuge;
    const hugeNames = hugeListDir === undefined ? [] : opts.readCache ? opts.readCache.hugetlbNames(hugeListDir) : listControlsSync(hugeListDir).filter((n) => n.startsWith('hugetlb.'));
    const isLimit = (n: string) => n.endsWith('.limit_in_bytes') || n.endsWith('.max');
    let stats: CgroupStats;
    if (hybridHuge) {
      stats = parseV1Stats(files);
      const h = parseV2Stats(readFilesSync(hybridHuge, hugeNames.filter((n) => !isLimit(n)))).hugetlb;
      if (h) stats.hugetlb = h;
    } else {
      stats = parseV1Stats(readFilesSync(hugeDir, hugeNames.filter((n) => !isLimit(n)), files));
    }
    const out: CgroupSnapshot = { stats, procs: parseProcs(procs) };
    if (parts.limits) {
      // Files both sides use (pids.max, memory.limit_in_bytes) are read once.
      for (const [controller, names] of Object.entries(V1_LIMIT_FILES)) readV1(controller, names.filter((n) => files[n] === undefined), files);
      readFilesSync(hugeDir ?? hybridHuge, hugeNames.filter(isLimit), files);
      out.limits = parseV1Limits(files);
    }
    if (parts.pressure && unifiedDir) {
      const p = pressureSync(unifiedDir);
      if (p) out.pressure = p;
    }
    return out;
  }

  return {
    version: 1,
    path,

    async create() {
      for (const dir of dirs()) await makeDir(dir);
      await fillCpuset();
    },

    async apply(resources: CgroupResources) {
      const memDir = dirOf('memory');
      const current = memDir === undefined ? undefined : parseSingle(await readControl(memDir, MEMORY_LIMIT));
      const swapAccounting = memDir !== undefined && (await readControl(memDir, MEMORY_MEMSW_LIMIT)) !== undefined;
      const writes = v1Writes(resources, {
        ...(typeof current === 'bigint' ? { currentLimit: current > BigInt(Number.MAX_SAFE_INTEGER) ? -1 : Number(current) } : {}),
        swapAccounting,
      });
      const where = (w: CgroupWrite<V1Controller>): string => {
        const dir = dirOf(w.controller);
        if (dir !== undefined) return dir;
        if (onUnified(w.controller) && unifiedDir) return unifiedDir;
        throw failedPrecondition(`cgroup controller ${w.controller} is not available on this host (needed for ${w.file})`);
      };
      // hugetlb on the cgroup2 mount takes the v2 file name for the same limit.
      const fileOf = (w: CgroupWrite<V1Controller>): string => {
        if (w.controller === 'hugetlb' && onUnified('hugetlb')) {
          const size = /^hugetlb\.(.+)\.limit_in_bytes$/.exec(w.file)?.[1];
          if (size) return hugetlbMaxFile(size);
        }
        return w.file;
      };
      // The cgroup2 side is enabled only when a limit needs it, so that hosts where no pod asks
      // for hugepages never see their root subtree_control touched. runc may already have made
      // the directory (it mirrors v1 cgroups there on hybrid hosts); if not, processes already
      // in the cgroup follow it there.
      const viaUnified = [...new Set(writes.filter((w) => dirOf(w.controller) === undefined && onUnified(w.controller)).map((w) => w.controller))];
      if (unifiedDir && viaUnified.length > 0) {
        await enableUnified(viaUnified);
        if (!(await unifiedExists())) {
          await makeDir(unifiedDir);
          for (const pid of await pids()) await writeControl(unifiedDir, 'cgroup.procs', String(pid));
        }
      }
      await applyWrites(writes, where, fileOf);
    },

    async addPid(pid: number) {
      const targets = dirs();
      if (unifiedDir && (await unifiedExists())) targets.push(unifiedDir);
      for (const dir of targets) await writeControl(dir, 'cgroup.procs', String(pid));
    },

    pids,

    async stats(): Promise<CgroupStats> {
      return snapshot()?.stats ?? {};
    },

    snapshot,

    async pressure() {
      return undefined;
    },

    async destroy() {
      const targets = dirs();
      if (unifiedDir && (await unifiedExists())) targets.push(unifiedDir);
      for (const dir of targets) await removeDir(dir);
    },
  };
}
