// The cgroup directory each runtime's pods go under (cgroupfs driver). Pods get
// `<parent>/pod<uid>` as their cgroup_parent, as kubelet does; the bench creates the parent
// in every hierarchy first (so neither runtime owns it) and removes the whole subtree at
// the end, deepest first (runc leaves the pod-level directories of containerd's pods).
import { mkdir, readFile, readdir, rmdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { parseMountInfo, type MountInfo } from '../hostutil/mountinfo.js';

// The bench reads the host's cgroup mounts itself rather than asking berthd's cgroup
// module: the parent it creates must suit both runtimes, so it should not agree with
// berth by construction.
function cgroupMounts(): MountInfo[] {
  return parseMountInfo(readFileSync('/proc/self/mountinfo', 'utf8')).filter((m) => m.fsType === 'cgroup' || m.fsType === 'cgroup2');
}

/** Every mounted cgroup hierarchy (v1 controllers, named ones such as name=systemd, cgroup2). */
function allHierarchies(): string[] {
  return [...new Set(cgroupMounts().map((m) => m.mountPoint))];
}

/**
 * Where pods go: the v1 controller hierarchies on v1 and hybrid hosts (not named ones, not
 * the hybrid cgroup2 mount), else the v2 mount. Controllers are the kernel's list in /proc/cgroups.
 */
function podHierarchies(): string[] {
  const controllers = new Set(
    readFileSync('/proc/cgroups', 'utf8')
      .split('\n')
      .filter((l) => l && !l.startsWith('#'))
      .map((l) => l.split('\t')[0]),
  );
  const mounts = cgroupMounts();
  const v1 = mounts.filter((m) => m.fsType === 'cgroup' && m.superOptions.some((o) => controllers.has(o)));
  if (v1.length) return [...new Set(v1.map((m) => m.mountPoint))];
  return [...new Set(mounts.filter((m) => m.fsType === 'cgroup2').map((m) => m.mountPoint))];
}

async function isDir(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}

export async function createCgroupParent(rel: string): Promise<void> {
  for (const root of podHierarchies()) {
    const dir = join(root, rel);
    await mkdir(dir, { recursive: true });
    // v1 cpuset: a new group starts with no cpus/mems and no task may join it.
    for (const f of ['cpuset.cpus', 'cpuset.mems']) {
      try {
        if ((await readFile(join(dir, f), 'utf8')).trim() === '') await writeFile(join(dir, f), (await readFile(join(root, f), 'utf8')).trim());
      } catch {
        /* not the cpuset hierarchy */
      }
    }
  }
}

async function removeTree(dir: string, problems: string[]): Promise<void> {
  if (!(await isDir(dir))) return;
  for (const e of await readdir(dir, { withFileTypes: true })) if (e.isDirectory()) await removeTree(join(dir, e.name), problems);
  try {
    await rmdir(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT') problems.push(`${dir}: ${code}`);
  }
}

/**
 * Removes the parent and everything below it in every hierarchy (runc also creates the
 * path in name=systemd and the hybrid cgroup2 mount); throws naming what stays.
 */
export async function removeCgroupParent(rel: string): Promise<void> {
  const problems: string[] = [];
  for (const root of allHierarchies()) await removeTree(join(root, rel), problems);
  if (problems.length) throw new Error(`cannot remove cgroups: ${problems.join(', ')}`);
}
