// CRI timestamps are int64 nanoseconds since the epoch (~1.8e18): beyond a JS number's
// exact range, so berth carries them as bigint and puts them on the wire as decimal strings.

/** Wall-clock now in nanoseconds, with the sub-millisecond part from the monotonic clock. */
export function nowNs(): bigint {
  const ms = performance.timeOrigin + performance.now();
  const whole = Math.floor(ms);
  return BigInt(whole) * 1_000_000n + BigInt(Math.floor((ms - whole) * 1e6));
}
