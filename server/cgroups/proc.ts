// Where a process actually is: /proc/<pid>/cgroup (cgroups(7)). A container's cgroup is read
// from here, never assumed from the cgroupsPath berth asked for: crun puts the process in a
// `container` child of its systemd scope, runc in the scope itself, and a runtime may nest
// further (e.g. an init cgroup) in later versions.
import { readFile } from 'node:fs/promises';
import type { CgroupLayout } from './detect.js';

/** One line "hierarchy-ID:controller-list:cgroup-path". */
export interface ProcCgroupEntry {
  id: number;
  /** v1 controllers of the hierarchy ("cpu,cpuacct" → ["cpu", "cpuacct"], "name=systemd"); [] for cgroup2. */
  controllers: string[];
  path: string;
}

/** Pure parser; lines that do not fit are skipped (a path may contain ':', so split at the first two). */
export function parseProcCgroup(text: string): ProcCgroupEntry[] {
  const out: ProcCgroupEntry[] = [];
  for (const line of text.split('\n')) {
    const a = line.indexOf(':');
    const b = a < 0 ? -1 : line.indexOf(':', a + 1);
    if (a < 0 || b < 0) continue;
    const id = line.slice(0, a);
    if (!/^\d+$/.test(id)) continue;
    const list = line.slice(a + 1, b);
    const path = line.slice(b + 1);
    if (!path.startsWith('/')) continue;
    out.push({ id: Number(id), controllers: list === '' ? [] : list.split(','), path });
  }
  return out;
}

/**
 * The one path berth manages a process's cgroup by, for the host's layout: the cgroup2 path
 * on v2; on v1 and hybrid hosts the memory hierarchy's path (runc and crun keep every v1
 * controller at the same path; memory is the one OOM and stats are read from), falling back
 * to cpu, then pids. Undefined when the text has none of them.
 */
export function cgroupPathFor(entries: readonly ProcCgroupEntry[], layout: Pick<CgroupLayout, 'mode'>): string | undefined {
  if (layout.mode === 'v2') return entries.find((e) => e.id === 0 && e.controllers.length === 0)?.path;
  for (const c of ['memory', 'cpu', 'pids']) {
    const e = entries.find((x) => x.controllers.includes(c));
    if (e) return e.path;
  }
  return undefined;
}

/** The cgroup path of a live process, or undefined when it is gone. */
export async function readProcessCgroup(pid: number, layout: Pick<CgroupLayout, 'mode'>, procRoot = '/proc'): Promise<string | undefined> {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  let text: string;
  try {
    text = await readFile(`${procRoot}/${pid}/cgroup`, 'utf8');
  } catch {
    return undefined;
  }
  return cgroupPathFor(parseProcCgroup(text), layout);
}
