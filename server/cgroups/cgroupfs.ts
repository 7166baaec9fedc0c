// The cgroupfs driver (CRI-O's cgroupfs.go): cgroup_parent is a path (or a slice name,
// expanded to systemd's on-disk layout as runc does); berth makes the pod's directories in
// every hierarchy and the OCI runtime the container's, at "<pod cgroup>/<container id>".
// Parents shared by several pods (/kubepods) are owned by berth as a whole, not by one pod:
// the first pod makes them, the last one removes them (CreatedCgroups, kept in the store).
import { mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { failedPrecondition, internal } from '../errors.js';
import type { CgroupLayout } from './detect.js';
import type { CgroupDriver, ContainerCgroup, PodCgroup } from './driver.js';
import { cgroupfsParent, cgroupfsPodParent, containerCgroupPath } from './paths.js';
import { killPoint } from '../kill-points.js';
import { pathExists } from '../../hostutil/exists.js';

/** Cgroup parent for pods without one: berth's own, removed again when empty. */
export const BERTH_CGROUP_PARENT = '/berth';

export interface SettingsLike {
  get(k: string): string | undefined;
  set(k: string, v: string): void;
}

/**
 * Cgroups (or slices) berth created that several pods share, kept in the settings table so
 * that a berthd restart still knows which it may remove.
 */
export class CreatedCgroups {
  private readonly dirs: Set<string>;
  constructor(
    private readonly settings: SettingsLike,
    private readonly key = CreatedCgroups.KEY,
  ) {
    this.dirs = new Set(JSON.parse(settings.get(key) ?? '[]') as string[]);
  }
  static readonly KEY = 'pod_cgroup_dirs';
  has(rel: string): boolean {
    return this.dirs.has(rel);
  }
  add(rel: string): void {
    if (this.dirs.has(rel)) return;
    this.dirs.add(rel);
    this.save();
  }
  delete(rel: string): void {
    if (this.dirs.delete(rel)) this.save();
  }
  private save(): void {
    this.settings.set(this.key, JSON.stringify([...this.dirs].sort()));
  }
}

/** `/a/b/c` → [`/a`, `/a/b`, `/a/b/c`]. */
export function levels(path: string): string[] {
  const parts = path.split('/').filter(Boolean);
  return parts.map((_, i) => '/' + parts.slice(0, i + 1).join('/'));
}

/** cpuset needs cpus and mems set before a task may join; a new v1 cgroup starts with them empty. */
async function inheritCpuset(dir: string, parent: string): Promise<void> {
  for (const f of ['cpuset.cpus', 'cpuset.mems']) {
    const mine = join(dir, f);
    if (!(await pathExists(mine))) return;
    if ((await readFile(mine, 'utf8')).trim() === '') {
      await writeFile(mine, (await readFile(join(parent, f), 'utf8')).trim());
    }
  }
}

/** v2: a cgroup's children get a controller's files only when the cgroup enables it in cgroup.subtree_control. */
async function enableSubtree(dir: string, controllers: readonly string[]): Promise<void> {
  if (controllers.length === 0) return;
  let enabled: string[] = [];
  try {
    enabled = (await readFile(join(dir, 'cgroup.subtree_control'), 'utf8')).split(/\s+/);
  } catch {
    return;
  }
  const missing = controllers.filter((c) => !enabled.includes(c));
  if (missing.length > 0) await writeFile(join(dir, 'cgroup.subtree_control'), missing.map((c) => `+${c}`).join(' '));
}

/** v2 controllers a pod cgroup passes down to its containers, when the host offers them. */
const V2_POD_CONTROLLERS = ['cpuset', 'cpu', 'io', 'memory', 'hugetlb', 'pids'];

/** Where pod cgroups are made: one directory per v1 hierarchy, or the one cgroup2 tree. */
export function podRoots(layout: CgroupLayout): string[] {
  if (layout.mode === 'v2') return layout.unified === undefined ? [] : [layout.unified];
  return [...new Set(Object.values(layout.v1))];
}

/** Every mounted hierarchy (v1 controllers, name=systemd, cgroup2): runc makes the container's parents in each. */
export function allRoots(layout: CgroupLayout): string[] {
  return [
    ...new Set([
      ...Object.values(layout.v1),
      ...(layout.systemdHierarchy !== undefined ? [layout.systemdHierarchy] : []),
      ...(layout.unified !== undefined ? [layout.unified] : []),
    ]),
  ];
}

export function cgroupfsDriver(layout: CgroupLayout, shared: CreatedCgroups): CgroupDriver {
  const roots = podRoots(layout);
  const v2Controllers = layout.mode === 'v2' ? V2_POD_CONTROLLERS.filter((c) => layout.unifiedControllers?.includes(c) ?? true) : [];

  async function removePod(pc: PodCgroup): Promise<void> {
    const problems: string[] = [];
    for (const rel of levels(pc.path).reverse()) {
      if (!shared.has(rel) && !pc.created.includes(rel)) break;
      const leaf = rel === pc.path;
      let busy = false;
      for (const root of roots) {
        try {
          await rmdir(join(root, rel));
          killPoint('cgroup.pod.dir-removed');
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          if (code === 'ENOENT') continue;
          if (code === 'EBUSY' || code === 'ENOTEMPTY') {
            busy = true;
            if (!leaf) continue;
          }
          problems.push(`${join(root, rel)}: ${code}`);
        }
      }
      if (busy) break;
      shared.delete(rel);
    }
    if (problems.length) throw failedPrecondition(`cannot remove the pod cgroup: ${problems.join(', ')}`);
  }

  return {
    name: 'cgroupfs',
    runtimeSystemd: false,
    parsePodParent: cgroupfsPodParent,

    async createPod(parent, onPlanned) {
      const path = cgroupfsPodParent(parent);
      const result: PodCgroup = { path, created: [] };
      try {
        if (onPlanned) {
          const missing: string[] = [];
          for (const rel of levels(path)) {
            for (const root of roots) {
              if (!(await pathExists(join(root, rel)))) {
                missing.push(rel);
                break;
              }
            }
          }
          onPlanned({ path, created: missing });
        }
        for (const rel of levels(path)) {
          for (const root of roots) {
            const dir = join(root, rel);
            if (layout.mode === 'v2') await enableSubtree(join(dir, '..'), v2Controllers);
            try {
              await mkdir(dir);
              shared.add(rel);
              if (!result.created.includes(rel)) result.created.push(rel);
              killPoint('cgroup.pod.dir-made');
            } catch (e) {
              // Already there: made by kubelet, the operator, or another pod at the same moment.
              if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
            }
            if (layout.mode !== 'v2') await inheritCpuset(dir, join(dir, '..'));
          }
        }
      } catch (e) {
        await removePod(result).catch(() => undefined);
        throw failedPrecondition(`cannot create the pod cgroup ${path}: ${(e as Error).message}`, e);
      }
      return result;
    },

    removePod,

    async containerCgroup(pod, id): Promise<ContainerCgroup> {
      const parent = pod?.path || BERTH_CGROUP_PARENT;
      const path = containerCgroupPath(parent, id);
      const rels = levels(cgroupfsParent(parent));
      const roots = allRoots(layout);
      const parents = rels.flatMap((rel) => roots.map((root) => join(root, rel)));
      // Hierarchies side by side, each from its deepest level up to the first that exists (its
      // ancestors exist too): one check per hierarchy when the parent is there, not a pool
      // round trip per level and hierarchy one after another (~25 on a hybrid host).
      const missing = new Set(
        (
          await Promise.all(
            roots.map(async (root) => {
              const gone: string[] = [];
              for (let i = rels.length - 1; i >= 0; i--) {
                const dir = join(root, rels[i]!);
                if (await pathExists(dir)) break;
                gone.push(dir);
              }
              return gone;
            }),
          )
        ).flat(),
      );
      const created = parents.filter((dir) => missing.has(dir));
      return { cgroupsPath: path, path, created, parents };
    },

    pathOf: (cgroupsPath) => cgroupsPath,

    async removeContainerParents(created) {
      for (const dir of [...created].reverse()) {
        try {
          await rmdir(dir);
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          if (code !== 'ENOENT' && code !== 'EBUSY' && code !== 'ENOTEMPTY') throw internal(`removing the cgroup directory ${dir} failed: ${(e as Error).message}`, e);
        }
      }
    },

    scopeOomKilled: async () => false,

    forgetCreated: (entry) => shared.delete(entry),

    async placeMonitor() {
      // conmon stays where berth-shim started it, as before; nothing restarts berthd's cgroup here.
    },
  };
}
