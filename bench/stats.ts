// Percentiles and summaries of samples (linear interpolation between closest ranks).

export function percentile(samples: readonly number[], q: number): number {
  if (samples.length === 0) return NaN;
  const s = [...samples].sort((a, b) => a - b);
  const idx = q * (s.length - 1);
  const lo = Math.floor(idx);
  const hi = Math.ceil(idx);
  return s[lo]! + (s[hi]! - s[lo]!) * (idx - lo);
}

export const p50 = (s: readonly number[]) => percentile(s, 0.5);
export const p95 = (s: readonly number[]) => percentile(s, 0.95);
export const mean = (s: readonly number[]) => (s.length ? s.reduce((a, b) => a + b, 0) / s.length : NaN);
export const max = (s: readonly number[]) => (s.length ? Math.max(...s) : NaN);
export const min = (s: readonly number[]) => (s.length ? Math.min(...s) : NaN);

export function round(n: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}
