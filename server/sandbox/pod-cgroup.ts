// The pod-level cgroup under the pod's cgroup_parent (cgroupfs driver): created in
// every hierarchy, removed again with only the directories berth itself created.
import { mkdir, readFile, rmdir, writeFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { failedPrecondition } from '../errors.js';
import { detectCgroupLayout } from '../../shim/cgroups/detect.js';
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

/** cpuset needs cpus and mems set before a task may join; a new v1 cgroup starts with them empty. */
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
 * Creates `path` in every hierarchy root. Returns the relative directories created (the
 * same in every root, shallowest first) so removal takes back exactly those.
 */
export async function createPodCgroup(path: string, cg: CgroupRoots = hostCgroupRoots()): Promise<PodCgroup> {
  const parts = path.split('/').filter(Boolean);
  const created: string[] = [];
  const result: PodCgroup = { path, created };
  try {
    for (let i = 1; i <= parts.length; i++) {
      const rel = '/' + parts.slice(0, i).join('/');
      let made = false;
      for (const root of cg.roots) {
        const dir = join(root, rel);
        if (!(await exists(dir))) {
          await mkdir(dir);
          made = true;
        }
        await inheritCpuset(dir, join(dir, '..'));
      }
      if (made) created.push(rel);
    }
  } catch (e) {
    await removePodCgroup(result, cg).catch(() => undefined);
    throw failedPrecondition(`cannot create the pod cgroup ${path}: ${(e as Error).message}`, e);
  }
  return result;
}

/**
 * Removes the directories berth created (kubelet may have made the pod cgroup itself:
 * then it is kubelet's to remove), deepest first. Missing ones are fine; a parent still
 * used by another pod is left in place.
 */
export async function removePodCgroup(pc: PodCgroup, cg: CgroupRoots = hostCgroupRoots()): Promise<void> {
  const problems: string[] = [];
  for (const rel of [...pc.created].reverse()) {
    const leaf = rel === pc.path;
    for (const root of cg.roots) {
      try {
        await rmdir(join(root, rel));
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') continue;
        if (!leaf && (code === 'EBUSY' || code === 'ENOTEMPTY')) continue;
        problems.push(`${join(root, rel)}: ${code}`);
      }
    }
  }
  if (problems.length) throw failedPrecondition(`cannot remove the pod cgroup: ${problems.join(', ')}`);
}

