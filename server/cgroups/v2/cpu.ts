// cgroup v2 `cpu` controller: weight and bandwidth (cpu.max).
import type { CgroupWrite } from '../common.js';

export const CPU_WEIGHT = 'cpu.weight';
/** "$QUOTA $PERIOD" or "max $PERIOD". */
export const CPU_MAX = 'cpu.max';
/** usage_usec, user_usec, system_usec, nr_periods, nr_throttled, throttled_usec (µs). */
export const CPU_STAT = 'cpu.stat';

/** cpu.max as runc writes it: quota or "max", then the period when one is given. */
export function cpuMaxValue(quota: number | undefined, period: number | undefined): string | undefined {
  if (quota === undefined && period === undefined) return undefined;
  let value = quota !== undefined && quota > 0 ? String(quota) : 'max';
  if (period !== undefined) value += ` ${period}`;
  return value;
}

/** The weight comes converted from shares by convert.ts. */
export function cpuWrites(v: { weight?: number; quota?: number; period?: number }): CgroupWrite<'cpu'>[] {
  const out: CgroupWrite<'cpu'>[] = [];
  if (v.weight !== undefined) out.push({ controller: 'cpu', file: CPU_WEIGHT, value: String(v.weight) });
  const max = cpuMaxValue(v.quota, v.period);
  if (max !== undefined) out.push({ controller: 'cpu', file: CPU_MAX, value: max });
  return out;
}

/** cpu.max back: "max 100000" or "50000 100000" → quota (null = no limit) and period, in µs. */
export function parseCpuMax(text: string | undefined): { quota: number | null; period: number } | undefined {
  if (text === undefined) return undefined;
  const m = /^(max|\d+)\s+(\d+)\s*$/.exec(text.trim());
  if (!m) return undefined;
  return { quota: m[1] === 'max' ? null : Number(m[1]), period: Number(m[2]) };
}
