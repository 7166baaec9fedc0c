// Which cgroup layout the host has, from /proc/self/mountinfo:
// - v2: cgroup2 mounted at the cgroup root (/sys/fs/cgroup) — the unified hierarchy;
// - hybrid: v1 controller hierarchies plus a cgroup2 mount (e.g. /sys/fs/cgroup/unified),
//   as on our Debian 12 test hosts, where the cgroup2 mount holds hugetlb;
// - v1: v1 controller hierarchies only.
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { failedPrecondition } from '../errors.js';
import { parseMountInfo } from '../../hostutil/mountinfo.js';

export type CgroupMode = 'v1' | 'hybrid' | 'v2';

export interface CgroupLayout {
  mode: CgroupMode;
  /** v1 controller → the mount point of its hierarchy ("cpu" → "/sys/fs/cgroup/cpu,cpuacct"). */
  v1: Record<string, string>;
  /** The cgroup2 mount point, when there is one. */
  unified?: string;
  /** Controllers available in the cgroup2 hierarchy (its root cgroup.controllers), when read. */
  unifiedControllers?: string[];
  /** v1 and hybrid hosts: the mount point of systemd's own named hierarchy (name=systemd), when mounted. */
  systemdHierarchy?: string;
}

/** v1 controllers berth knows; other super options of a cgroup mount (rw, name=…, xattr) are not controllers. */
const V1_CONTROLLERS = new Set([
  'cpu',
  'cpuacct',
  'cpuset',
  'memory',
  'devices',
  'freezer',
  'net_cls',
  'net_prio',
  'blkio',
  'perf_event',
  'hugetlb',
  'pids',
  'rdma',
  'misc',
]);

/**
 * The layout from mountinfo text. Only mounts whose root is "/" count: inside a container,
 * bind mounts of sub-cgroups show up with other roots and are not hierarchy roots.
 */
export function detectCgroupLayout(mountinfoText: string, cgroupRoot = '/sys/fs/cgroup'): CgroupLayout {
  const v1: Record<string, string> = {};
  let unified: string | undefined;
  let unifiedAtRoot = false;
  let systemdHierarchy: string | undefined;
  for (const m of parseMountInfo(mountinfoText)) {
    if (m.fsType === 'cgroup2') {
      if (m.mountPoint === cgroupRoot) unifiedAtRoot = true;
      if (unified === undefined || m.mountPoint === cgroupRoot) unified = m.mountPoint;
    } else if (m.fsType === 'cgroup') {
      if (m.superOptions.includes('name=systemd') && systemdHierarchy === undefined) systemdHierarchy = m.mountPoint;
      for (const opt of m.superOptions) {
        // The first mount of a controller wins; later ones are usually bind mounts of it.
        if (V1_CONTROLLERS.has(opt) && v1[opt] === undefined) v1[opt] = m.mountPoint;
      }
    }
  }
  const hasV1 = Object.keys(v1).length > 0;
  if (unifiedAtRoot && !hasV1) return { mode: 'v2', v1: {}, unified: cgroupRoot };
  const named = systemdHierarchy === undefined ? {} : { systemdHierarchy };
  if (hasV1) return unified === undefined ? { mode: 'v1', v1, ...named } : { mode: 'hybrid', v1, unified, ...named };
  if (unified !== undefined) return { mode: 'v2', v1: {}, unified };
  throw failedPrecondition('no cgroup filesystem is mounted');
}

/** The host's layout, with the cgroup2 hierarchy's available controllers filled in. */
export async function readCgroupLayout(procRoot = '/proc'): Promise<CgroupLayout> {
  const layout = detectCgroupLayout(await readFile(join(procRoot, 'self/mountinfo'), 'utf8'));
  await fillUnifiedControllers(layout);
  return layout;
}

async function fillUnifiedControllers(layout: CgroupLayout): Promise<void> {
  if (layout.unified !== undefined) {
    try {
      const text = await readFile(join(layout.unified, 'cgroup.controllers'), 'utf8');
      layout.unifiedControllers = text.split(/\s+/).filter((c) => c !== '');
    } catch {
      layout.unifiedControllers = [];
    }
  }
}

/** What berthd learns about the host's cgroups once, at start, and hands to everything that needs it. */
export interface CgroupHost {
  layout: CgroupLayout;
  /** systemd is PID 1 (sd_booted(3): /run/systemd/system exists), so it owns the cgroup tree. */
  systemd: boolean;
}

export interface DetectOptions {
  procRoot?: string;
  /** sd_booted's marker directory. */
  systemdRunDir?: string;
}

/** Reads the layout and whether systemd runs the host (async: it runs in berthd's start-up). */
export async function detectCgroupHost(opts: DetectOptions = {}): Promise<CgroupHost> {
  const layout = await readCgroupLayout(opts.procRoot ?? '/proc');
  let systemd = false;
  try {
    systemd = (await stat(opts.systemdRunDir ?? '/run/systemd/system')).isDirectory();
  } catch {
    systemd = false;
  }
  return { layout, systemd };
}
