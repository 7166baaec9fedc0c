// Helpers shared by specs: CRI log parsing, /proc status fields, namespace links.
import { readFile } from 'node:fs/promises';
import { AssertionFailed, type SpecContext } from '../spec.js';

export interface LogLine {
  time: string;
  stream: 'stdout' | 'stderr';
  tag: 'P' | 'F';
  text: string;
}

const LINE = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:\d\d)) (stdout|stderr) ([PF])(?:\S*)? (.*)$/s;

/** Parses a CRI log file; every line must be `<RFC3339Nano> <stdout|stderr> <P|F> <text>`. */
export function parseCriLog(text: string): LogLine[] {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines.map((l, i) => {
    const m = LINE.exec(l);
    if (!m) throw new AssertionFailed(`log line ${i + 1} is not in CRI format: ${JSON.stringify(l.slice(0, 200))}`);
    if (Number.isNaN(Date.parse(m[1]!))) throw new AssertionFailed(`log line ${i + 1}: bad timestamp ${m[1]}`);
    return { time: m[1]!, stream: m[2] as 'stdout' | 'stderr', tag: m[3] as 'P' | 'F', text: m[4]! };
  });
}

/** Joins P…F runs per stream into whole lines: `stdout`/`stderr` → full lines in order. */
export function joinPartials(lines: readonly LogLine[]): Array<{ stream: string; text: string }> {
  const out: Array<{ stream: string; text: string }> = [];
  const pending: Record<string, string> = {};
  for (const l of lines) {
    pending[l.stream] = (pending[l.stream] ?? '') + l.text;
    if (l.tag === 'F') {
      out.push({ stream: l.stream, text: pending[l.stream]! });
      pending[l.stream] = '';
    }
  }
  for (const [stream, text] of Object.entries(pending)) if (text) out.push({ stream, text });
  return out;
}

export async function readLogFile(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw e;
  }
}

/** Waits until the container exits, then returns its log as whole lines. */
export async function logOfExited(t: SpecContext, c: { id: string; logFile: string }): Promise<Array<{ stream: string; text: string }>> {
  await t.waitContainer(c.id, 'CONTAINER_EXITED');
  // The log writer may flush a moment after the exit is recorded.
  let lines: LogLine[] = [];
  for (let i = 0; i < 20; i++) {
    lines = parseCriLog(await readLogFile(c.logFile));
    if (lines.length) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return joinPartials(lines);
}

/** A field of /proc/self/status inside the container (e.g. CapEff, NoNewPrivs, Seccomp). */
export async function procStatus(t: SpecContext, id: string, field: string): Promise<string> {
  const out = await t.sh(id, `grep '^${field}:' /proc/self/status`);
  return out.split(':')[1]?.trim() ?? '';
}

export async function hostProcStatus(field: string): Promise<string> {
  const s = await readFile('/proc/self/status', 'utf8');
  return s.split('\n').find((l) => l.startsWith(`${field}:`))?.split(':')[1]?.trim() ?? '';
}

/** Capability bit numbers set in a CapEff-style hex mask. */
export function capBits(hex: string): number[] {
  const n = BigInt(`0x${hex}`);
  const bits: number[] = [];
  for (let i = 0; i < 64; i++) if ((n >> BigInt(i)) & 1n) bits.push(i);
  return bits;
}

export const CAP = { CHOWN: 0, DAC_OVERRIDE: 1, FOWNER: 3, FSETID: 4, KILL: 5, SETGID: 6, SETUID: 7, SETPCAP: 8, NET_BIND_SERVICE: 10, NET_ADMIN: 12, NET_RAW: 13, SYS_CHROOT: 18, SYS_ADMIN: 21, MKNOD: 27, AUDIT_WRITE: 29, SETFCAP: 31 } as const;

/** The default capability set of containerd, CRI-O and Docker. */
export const DEFAULT_CAPS = [CAP.CHOWN, CAP.DAC_OVERRIDE, CAP.FOWNER, CAP.FSETID, CAP.KILL, CAP.SETGID, CAP.SETUID, CAP.SETPCAP, CAP.NET_BIND_SERVICE, CAP.NET_RAW, CAP.SYS_CHROOT, CAP.MKNOD, CAP.AUDIT_WRITE, CAP.SETFCAP];

/** An environment variable for ContainerConfig.envs (KeyValue.value is bytes in the proto). */
export function env(key: string, value: string): { key: string; value: Buffer } {
  return { key, value: Buffer.from(value, 'utf8') };
}

/** The target of /proc/<pid>/ns/<kind> as seen by this (the suite's) process: the host's. */
export async function hostNamespace(kind: 'net' | 'ipc' | 'pid' | 'uts'): Promise<string> {
  const { readlink } = await import('node:fs/promises');
  return readlink(`/proc/self/ns/${kind}`);
}

export async function containerNamespace(t: SpecContext, id: string, kind: 'net' | 'ipc' | 'pid' | 'uts'): Promise<string> {
  return (await t.sh(id, `readlink /proc/self/ns/${kind}`)).trim();
}
