// cgroup v2 `memory` controller: memory.max and memory.swap.max (swap alone, not memory+swap).
import type { CgroupWrite } from '../common.js';

export const MEMORY_MAX = 'memory.max';
export const MEMORY_SWAP_MAX = 'memory.swap.max';
export const MEMORY_CURRENT = 'memory.current';
/** Protected memory: cAdvisor reports it as the reservation. */
export const MEMORY_MIN = 'memory.min';
export const MEMORY_PEAK = 'memory.peak';
export const MEMORY_SWAP_CURRENT = 'memory.swap.current';
export const MEMORY_STAT = 'memory.stat';
/** low, high, max, oom, oom_kill (and oom_group_kill) counters. */
export const MEMORY_EVENTS = 'memory.events';

const v2Value = (n: number) => (n === -1 ? 'max' : String(n));

/** `swap` is swap alone (convert.ts derives it from memory+swap); -1 = max. */
export function memoryWrites(v: { max?: number; swap?: number }): CgroupWrite<'memory'>[] {
  const out: CgroupWrite<'memory'>[] = [];
  // runc writes swap first; v2 has no ordering rule between the two.
  if (v.swap !== undefined) out.push({ controller: 'memory', file: MEMORY_SWAP_MAX, value: v2Value(v.swap) });
  if (v.max !== undefined) out.push({ controller: 'memory', file: MEMORY_MAX, value: v2Value(v.max) });
  return out;
}
