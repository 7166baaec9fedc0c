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

/** Pure parser; undefined when the text has no "some" line. (No map or regex per line: the sampler reads three of these per cgroup per round.) */
export function parsePressure(text: string): Pressure | undefined {
  let some: PsiLine | undefined;
  let full: PsiLine | undefined;
  for (const raw of text.split('\n')) {
    const parts = raw.trim().split(/\s+/);
    const kind = parts[0];
    if (kind !== 'some' && kind !== 'full') continue;
    let avg10 = NaN;
    let avg60 = NaN;
    let avg300 = NaN;
    let total: string | undefined;
    for (let i = 1; i < parts.length; i++) {
      const pair = parts[i]!;
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const v = pair.slice(eq + 1);
      switch (pair.slice(0, eq)) {
        case 'avg10':
          avg10 = Number(v);
          break;
        case 'avg60':
          avg60 = Number(v);
          break;
        case 'avg300':
          avg300 = Number(v);
          break;
        case 'total':
          total = v;
          break;
      }
    }
    if (total === undefined || !/^\d+$/.test(total) || Number.isNaN(avg10) || Number.isNaN(avg60) || Number.isNaN(avg300)) continue;
    const line: PsiLine = { avg10, avg60, avg300, totalUs: BigInt(total) };
    if (kind === 'some') some = line;
    else full = line;
  }
  if (!some) return undefined;
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
