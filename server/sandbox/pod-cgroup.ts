// The pod-level cgroup under the pod's cgroup_parent (cgroupfs driver): created in
// every hierarchy, removed again with only the directories berth itself created.
import { mkdir, readFile, rmdir, writeFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { failedPrecondition } from '../errors.js';
import { detectCgroupLayout } from '../cgroups/detect.js';
import type { PodCgroup } from './types.js';

export interface CgroupRoots {
  /** v1: one mount per controller set; v2: the unified mount. */
  roots: string[];
  version: 1 | 2;
}

/** Hierarchy roots from a mountinfo text: the v1 controller mounts (v1 and hybrid hosts), or the v2 mount. */
export function cgroupRootsFromMountinfo(mountinfo: string): CgroupRoots {
  const layout = detectCgroupLayout(mountinfo);
  if (layout.mode === 'v2') return { roots: [layout.unified!], version: 2 };
  return { roots: [...new Set(Object.values(layout.v1))], version: 1 };
}

let detected: CgroupRoots | undefined;
export function hostCgroupRoots(): CgroupRoots {
  detected ??= cgroupRootsFromMountinfo(readFileSync('/proc/self/mountinfo', 'utf8'));
  return detected;
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

/**
 * cpuset needs cpus and mems set before a task may join; a new v1 cgroup starts with them
 * empty. Only v1: on v2 an empty cpuset.cpus means "the parent's", and the root cgroup has
 * no cpuset.cpus to copy (only cpuset.cpus.effective).
 */
async function inheritCpuset(dir: string, parent: string): Promise<void> {
  for (const f of ['cpuset.cpus', 'cpuset.mems']) {
    const mine = join(dir, f);
    if (!(await exists(mine))) return;
    if ((await readFile(mine, 'utf8')).trim() === '') {
      await writeFile(mine, (await readFile(join(parent, f), 'utf8')).trim());
    }
  }
}

/**
 * The cgroup directories berth created for pods, shared by all pods: parents such as
 * /kubepods are created by whichever pod comes first and must be removed by whichever
 * goes last, so ownership belongs to berth, not to one pod. Kept in the settings table.
 */
export class CreatedCgroups {
  private readonly dirs: Set<string>;
  constructor(private readonly settings: { get(k: string): string | undefined; set(k: string, v: string): void }) {
    this.dirs = new Set(JSON.parse(settings.get(CreatedCgroups.KEY) ?? '[]') as string[]);
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
    this.settings.set(CreatedCgroups.KEY, JSON.stringify([...this.dirs].sort()));
  }
}

/** `/a/b/c` → [`/a`, `/a/b`, `/a/b/c`]. */
function levels(path: string): string[] {
  const parts = path.split('/').filter(Boolean);
  return parts.map((_, i) => '/' + parts.slice(0, i + 1).join('/'));
}

/** Creates `path` in every hierarchy root, recording each directory berth made. */
export async function createPodCgroup(path: string, cg: CgroupRoots, created: CreatedCgroups): Promise<PodCgroup> {
  const result: PodCgroup = { path, created: [] };
  try {
    for (const rel of levels(path)) {
      for (const root of cg.roots) {
        const dir = join(root, rel);
        try {
          await mkdir(dir);
          created.add(rel);
          if (!result.created.includes(rel)) result.created.push(rel);
        } catch (e) {
          // Already there: made by kubelet, the operator, or another pod at the same moment.
          if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        }
        if (cg.version === 1) await inheritCpuset(dir, join(dir, '..'));
      }
    }
  } catch (e) {
    await removePodCgroup(result, cg, created).catch(() => undefined);
    throw failedPrecondition(`cannot create the pod cgroup ${path}: ${(e as Error).message}`, e);
  }
  return result;
}

/**
 * Removes the pod's cgroup and then each parent berth made, deepest first, while they are
 * empty (kubelet may have made the pod cgroup itself: then it is kubelet's to remove).
 * A parent still used by another pod stays; the last pod under it takes it away.
 */
export async function removePodCgroup(pc: PodCgroup, cg: CgroupRoots, created: CreatedCgroups): Promise<void> {
  const problems: string[] = [];
  for (const rel of levels(pc.path).reverse()) {
    if (!created.has(rel) && !pc.created.includes(rel)) break;
    const leaf = rel === pc.path;
    let busy = false;
    for (const root of cg.roots) {
      try {
        await rmdir(join(root, rel));
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
    created.delete(rel);
  }
  if (problems.length) throw failedPrecondition(`cannot remove the pod cgroup: ${problems.join(', ')}`);
}
