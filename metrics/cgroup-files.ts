// Parsers for the cgroup files the metrics read beyond server/cgroups' usage stats: the
// limits (read back from the kernel, so a change by UpdateContainerResources or by an
// operator shows at the next sample), pressure (PSI) and per-process counts. Pure: text in,
// values out. Every function is unit-tested against real file contents
// (test/unit/metrics-cgroup-files.test.ts).

/** A per-device value ("8:0 1048576"). */
export interface DeviceValue {
  major: number;
  minor: number;
  value: number;
}

/** One device's io.max line; null = "max" (no limit). */
export interface IoMaxEntry {
  major: number;
  minor: number;
  rbps: number | null;
  wbps: number | null;
  riops: number | null;
  wiops: number | null;
}

/** PSI totals in microseconds: "some" (at least one task stalled) and "full" (all stalled). */
export interface Pressure {
  someTotalUs: number;
  fullTotalUs?: number;
}

/** A single number ("100000\n", "-1\n"); "max" → null. Undefined when absent or garbled. */
export function parseNumber(text: string | undefined): number | null | undefined {
  if (text === undefined) return undefined;
  const t = text.trim();
  if (t === 'max') return null;
  return /^-?\d+$/.test(t) ? Number(t) : undefined;
}

/** v2 cpu.max: "max 100000" or "50000 100000". */
export function parseCpuMax(text: string | undefined): { quota: number | null; period: number } | undefined {
  if (text === undefined) return undefined;
  const m = /^(max|\d+)\s+(\d+)\s*$/.exec(text.trim());
  if (!m) return undefined;
  return { quota: m[1] === 'max' ? null : Number(m[1]), period: Number(m[2]) };
}

/**
 * v2 cpu.weight (1..10000) back to v1 shares (2..262144), inverting the conversion runc
 * and kubelet use (weight = 1 + ((shares − 2) · 9999) / 262142), as cAdvisor reports
 * container_spec_cpu_shares on v2.
 */
export function weightToShares(weight: number): number {
  return Math.round(2 + ((weight - 1) * 262142) / 9999);
}

/** v1 blkio.throttle.{read,write}_{bps,iops}_device: "8:0 1048576" lines (empty = no limits). */
export function parseDeviceValues(text: string | undefined): DeviceValue[] {
  const out: DeviceValue[] = [];
  for (const line of (text ?? '').split('\n')) {
    const m = /^(\d+):(\d+)\s+(\d+)\s*$/.exec(line.trim());
    if (m) out.push({ major: Number(m[1]), minor: Number(m[2]), value: Number(m[3]) });
  }
  return out;
}

/** v2 io.max: "8:0 rbps=1048576 wbps=max riops=max wiops=100" per limited device. */
export function parseIoMax(text: string | undefined): IoMaxEntry[] {
  const out: IoMaxEntry[] = [];
  for (const line of (text ?? '').split('\n')) {
    const [dev, ...pairs] = line.trim().split(/\s+/);
    const m = dev ? /^(\d+):(\d+)$/.exec(dev) : null;
    if (!m) continue;
    const e: IoMaxEntry = { major: Number(m[1]), minor: Number(m[2]), rbps: null, wbps: null, riops: null, wiops: null };
    for (const p of pairs) {
      const kv = /^(rbps|wbps|riops|wiops)=(max|\d+)$/.exec(p);
      if (kv) e[kv[1] as 'rbps' | 'wbps' | 'riops' | 'wiops'] = kv[2] === 'max' ? null : Number(kv[2]);
    }
    out.push(e);
  }
  return out;
}

/**
 * v2 io.weight / io.bfq.weight: "default 100" then "8:0 200" overrides; v1 blkio.weight is a
 * bare number (taken as the default).
 */
export function parseIoWeight(text: string | undefined): { default?: number; devices: DeviceValue[] } | undefined {
  if (text === undefined) return undefined;
  const out: { default?: number; devices: DeviceValue[] } = { devices: [] };
  for (const line of text.split('\n')) {
    const t = line.trim();
    const d = /^(?:default\s+)?(\d+)$/.exec(t);
    if (d) {
      out.default = Number(d[1]);
      continue;
    }
    const m = /^(\d+):(\d+)\s+(\d+)$/.exec(t);
    if (m) out.devices.push({ major: Number(m[1]), minor: Number(m[2]), value: Number(m[3]) });
  }
  return out;
}

/** cpu.pressure / memory.pressure / io.pressure: "some avg10=… total=N" and "full … total=N". */
export function parsePressure(text: string | undefined): Pressure | undefined {
  if (text === undefined) return undefined;
  let some: number | undefined;
  let full: number | undefined;
  for (const line of text.split('\n')) {
    const m = /^(some|full)\s.*\btotal=(\d+)\b/.exec(line.trim());
    if (!m) continue;
    if (m[1] === 'some') some = Number(m[2]);
    else full = Number(m[2]);
  }
  if (some === undefined) return undefined;
  return full === undefined ? { someTotalUs: some } : { someTotalUs: some, fullTotalUs: full };
}

/** A cpuset list ("0-3,8,10-11") → how many CPUs (or memory nodes) it names; "" → 0. */
export function cpuListCount(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const t = text.trim();
  if (t === '') return 0;
  let n = 0;
  for (const part of t.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) return undefined;
    n += m[2] === undefined ? 1 : Number(m[2]) - Number(m[1]) + 1;
  }
  return n;
}

/** "Threads:\t3" from /proc/<pid>/status. */
export function parseThreads(status: string): number | undefined {
  const m = /^Threads:\s+(\d+)$/m.exec(status);
  return m ? Number(m[1]) : undefined;
}

/** Hugepage sizes with a limit file among a cgroup directory's file names (v1 limit_in_bytes, v2 max). */
export function hugepageLimitFiles(names: readonly string[]): { pageSize: string; file: string }[] {
  const out: { pageSize: string; file: string }[] = [];
  for (const f of names) {
    const m = /^hugetlb\.([0-9]+[KMGTP]B)\.(limit_in_bytes|max)$/.exec(f);
    if (m) out.push({ pageSize: m[1]!, file: f });
  }
  return out;
}

/** "2MB" → bytes. */
export function pageSizeBytes(size: string): number | undefined {
  const m = /^(\d+)([KMGTP])B$/.exec(size);
  if (!m) return undefined;
  return Number(m[1]) * 1024 ** ('KMGTP'.indexOf(m[2]!) + 1);
}

/** /sys/class/net/<if>/statistics counters the network families use. */
export const NET_COUNTERS = ['rx_bytes', 'rx_packets', 'rx_dropped', 'rx_errors', 'tx_bytes', 'tx_packets', 'tx_dropped', 'tx_errors'] as const;
export type NetCounter = (typeof NET_COUNTERS)[number];
