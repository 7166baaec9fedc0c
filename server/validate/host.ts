// What the host offers that a request may name: CPUs and memory nodes (for cpusets) and
// hugepage sizes. Read once at start-up; the checks themselves are pure (resources.ts).
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface HostOffer {
  /** Online CPUs. */
  cpus: ReadonlySet<number>;
  /** Online memory nodes. */
  mems: ReadonlySet<number>;
  /** Hugepage sizes in the form CRI and the cgroup files use ("2MB", "1GB"). */
  hugepageSizes: readonly string[];
}

/** A kernel list ("0-3,8,10-11") as numbers; undefined when it is not one. Bounded: at most 65536 numbers. */
export function parseCpuList(text: string): Set<number> | undefined {
  const out = new Set<number>();
  const t = text.trim();
  if (t === '') return out;
  for (const part of t.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) return undefined;
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (!Number.isSafeInteger(lo) || !Number.isSafeInteger(hi) || hi < lo || hi - lo > 65_536 || out.size + (hi - lo) > 65_536) return undefined;
    for (let i = lo; i <= hi; i++) out.add(i);
  }
  return out;
}

/** "hugepages-2048kB" → "2MB", as runc names hugetlb files (units of 1024: KB, MB, GB …). */
export function hugepageSizeName(dirName: string): string | undefined {
  const m = /^hugepages-(\d+)kB$/.exec(dirName);
  if (!m) return undefined;
  let size = Number(m[1]);
  const units = ['KB', 'MB', 'GB', 'TB', 'PB'];
  let u = 0;
  while (size >= 1024 && size % 1024 === 0 && u < units.length - 1) {
    size /= 1024;
    u++;
  }
  return `${size}${units[u]}`;
}

async function readList(path: string, fallback: Set<number>): Promise<Set<number>> {
  try {
    return parseCpuList(await readFile(path, 'utf8')) ?? fallback;
  } catch {
    return fallback;
  }
}

export async function readHostOffer(sys = '/sys'): Promise<HostOffer> {
  const [cpus, mems, hp] = await Promise.all([
    readList(join(sys, 'devices/system/cpu/online'), new Set([0])),
    // A kernel without NUMA has no node directory: one node, 0.
    readList(join(sys, 'devices/system/node/online'), new Set([0])),
    readdir(join(sys, 'kernel/mm/hugepages')).catch(() => [] as string[]),
  ]);
  const hugepageSizes = hp.map(hugepageSizeName).filter((s): s is string => s !== undefined);
  return { cpus, mems, hugepageSizes };
}
