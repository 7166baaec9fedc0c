// cgroup v2 pressure stall information: cpu.pressure, memory.pressure, io.pressure
// (Documentation/accounting/psi.rst). Each file has a "some" line and, for memory and io
// (and cpu since Linux 5.13), a "full" line:
//   some avg10=0.12 avg60=0.05 avg300=0.01 total=123456
// avg* are percentages over 10/60/300 s; total is stalled time in µs. Read only; the
// metrics sampler exports them. v1 has no per-cgroup PSI.
import { readControl, readControlSync } from '../fs.js';

export const PSI_FILES = { cpu: 'cpu.pressure', memory: 'memory.pressure', io: 'io.pressure' } as const;
export type PsiResource = keyof typeof PSI_FILES;

export interface PsiLine {
  avg10: number;
  avg60: number;
  avg300: number;
  /** Total stalled time in µs. */
  totalUs: bigint;
}

export interface Pressure {
  some: PsiLine;
  /** Absent where the kernel reports no full line (cpu before 5.13). */
  full?: PsiLine;
}

/** Pure parser; undefined when the text has no "some" line. */
export function parsePressure(text: string): Pressure | undefined {
  const lines = new Map<string, PsiLine>();
  for (const line of text.split('\n')) {
    const m = /^(some|full)\s+(.*)$/.exec(line.trim());
    if (!m || m[1] === undefined || m[2] === undefined) continue;
    const kv = new Map<string, string>();
    for (const pair of m[2].split(/\s+/)) {
      const eq = pair.indexOf('=');
      if (eq > 0) kv.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
    const avg = (k: string) => {
      const v = Number(kv.get(k));
      return Number.isFinite(v) ? v : NaN;
    };
    const total = kv.get('total');
    if (total === undefined || !/^\d+$/.test(total) || [avg('avg10'), avg('avg60'), avg('avg300')].some(Number.isNaN)) continue;
    lines.set(m[1], { avg10: avg('avg10'), avg60: avg('avg60'), avg300: avg('avg300'), totalUs: BigInt(total) });
  }
  const some = lines.get('some');
  if (!some) return undefined;
  const full = lines.get('full');
  return full ? { some, full } : { some };
}

/** The pressure of one resource in a cgroup directory; undefined when the file is missing (PSI off, or v1). */
export async function readPressure(dir: string, resource: PsiResource): Promise<Pressure | undefined> {
  let text: string | undefined;
  try {
    text = await readControl(dir, PSI_FILES[resource]);
  } catch (err) {
    // A kernel booted with psi=0 keeps the files but refuses reads.
    if ((err as NodeJS.ErrnoException).code === 'EOPNOTSUPP') return undefined;
    throw err;
  }
  return text === undefined ? undefined : parsePressure(text);
}

/** The same, synchronously, for the managers' snapshot (see fs.ts readControlSync). */
export function readPressureSync(dir: string | undefined, resource: PsiResource): Pressure | undefined {
  let text: string | undefined;
  try {
    text = readControlSync(dir, PSI_FILES[resource]);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EOPNOTSUPP') return undefined;
    throw err;
  }
  return text === undefined ? undefined : parsePressure(text);
}
