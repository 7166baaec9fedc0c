// Finding a runtime instance's processes and measuring their memory. A process belongs
// to an instance when its environment carries `BERTH_TEST_RUN=<dir>` or its command line
// names a path below `<dir>/` (berthd, containerd, shims, monitors: all started with or
// pointing at the instance's directory), or when it descends from one of those — except
// the pods' workload processes, which are the same on both sides and not runtime
// overhead. Pause (containerd) and pod inits (berth) count: they are the runtime's.
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';

export interface Proc {
  pid: number;
  ppid: number;
  comm: string;
  argv: string[];
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'latin1');
  } catch {
    return undefined;
  }
}

export function listProcs(): Proc[] {
  const out: Proc[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = read(`/proc/${name}/stat`);
    if (!stat) continue;
    const close = stat.lastIndexOf(')');
    const comm = stat.slice(stat.indexOf('(') + 1, close);
    const rest = stat.slice(close + 2).split(' ');
    if (rest[0] === 'Z') continue;
    out.push({ pid: Number(name), ppid: Number(rest[1]), comm, argv: (read(`/proc/${name}/cmdline`) ?? '').split('\0').filter(Boolean) });
  }
  return out;
}

function envHas(pid: number, entry: string): boolean {
  const env = read(`/proc/${pid}/environ`);
  return env !== undefined && env.split('\0').includes(entry);
}

/**
 * The instance's processes, minus workloads (`isWorkload` on the argv: the bench's
 * containers run a command it chose).
 */
export function instanceProcesses(dir: string, isWorkload: (argv: string[]) => boolean, procs: Proc[] = listProcs()): Proc[] {
  const marker = `BERTH_TEST_RUN=${dir}`;
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  const self = process.pid;
  const roots = new Set<number>();
  for (const p of procs) {
    if (p.pid === self) continue;
    if (p.argv.some((a) => a.includes(prefix) || a === dir) || envHas(p.pid, marker)) roots.add(p.pid);
  }
  const kids = new Map<number, Proc[]>();
  for (const p of procs) kids.set(p.ppid, [...(kids.get(p.ppid) ?? []), p]);
  const byPid = new Map(procs.map((p) => [p.pid, p]));
  const result = new Map<number, Proc>();
  const visit = (p: Proc) => {
    if (result.has(p.pid) || isWorkload(p.argv)) return;
    result.set(p.pid, p);
    for (const c of kids.get(p.pid) ?? []) visit(c);
  };
  for (const pid of roots) visit(byPid.get(pid)!);
  return [...result.values()];
}

/** Proportional set size of one process in KiB (0 if it is gone). */
export function pssKiB(pid: number): number {
  const s = read(`/proc/${pid}/smaps_rollup`);
  const m = s?.match(/^Pss:\s+(\d+) kB/m);
  return m ? Number(m[1]) : 0;
}

/** Memory only this process has (Private_Clean + Private_Dirty, KiB; 0 if it is gone):
 *  what a helper adds beyond the pages it shares, e.g. a node helper's binary and
 *  libraries, which the daemon's RSS already holds. */
export function privateKiB(pid: number): number {
  const s = read(`/proc/${pid}/smaps_rollup`);
  if (!s) return 0;
  let n = 0;
  for (const m of s.matchAll(/^Private_(?:Clean|Dirty):\s+(\d+) kB/gm)) n += Number(m[1]);
  return n;
}

function statusKiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const s = read(`/proc/${pid}/status`);
  const m = s?.match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'));
  return m ? Number(m[1]) : 0;
}
export const rssKiB = (pid: number) => statusKiB(pid, 'VmRSS');
export const peakRssKiB = (pid: number) => statusKiB(pid, 'VmHWM');

/** Resets a process's peak RSS (VmHWM) so a later read covers only what follows. */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** A short label for a process kind (for the density breakdown). */
export function processKind(p: Proc): string {
  const base = (p.argv[0] ?? p.comm).split('/').pop() ?? p.comm;
  if (base === 'node' || base.startsWith('node')) {
    const script = p.argv.find((a) => a.endsWith('.js'));
    if (!script) return 'node';
    const name = script.split('/').slice(-2).join('/').replace(/\.js$/, '');
    return name === 'server/main' ? 'berthd' : name;
  }
  return base;
}
