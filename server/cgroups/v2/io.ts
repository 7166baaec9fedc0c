// cgroup v2 `io` controller: usage (io.stat) and the limits read back (io.max, io.weight).
// CRI has no I/O fields; the limits arrive through the unified map (io.max) or an operator.
import type { DeviceValue } from '../v1/blkio.js';

/** Lines "MAJ:MIN rbytes=N wbytes=N rios=N wios=N dbytes=N dios=N". */
export const IO_STAT = 'io.stat';
/** Lines "MAJ:MIN rbps=N|max wbps=… riops=… wiops=…", one per limited device. */
export const IO_MAX = 'io.max';
/** "default N" then "MAJ:MIN N" overrides. */
export const IO_WEIGHT = 'io.weight';

/** One device's io.max line; null = "max" (no limit). */
export interface IoMaxEntry {
  major: number;
  minor: number;
  rbps: number | null;
  wbps: number | null;
  riops: number | null;
  wiops: number | null;
}

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

/** io.weight ("default 100" plus "8:0 200" overrides); v1 blkio.weight, a bare number, is the default. */
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
