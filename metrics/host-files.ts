// Parsers of the procfs and sysfs files the sampler reads beyond the cgroups (whose files
// are read and parsed by the cgroup manager, server/cgroups): threads from /proc/<pid>/status,
// hugepage sizes, and the veth counters of /proc/net/dev. Pure; unit-tested on real contents.

/** "Threads:\t3" from /proc/<pid>/status. */
export function parseThreads(status: string): number | undefined {
  const m = /^Threads:\s+(\d+)$/m.exec(status);
  return m ? Number(m[1]) : undefined;
}

/** "2MB" → bytes. */
export function pageSizeBytes(size: string): number | undefined {
  const m = /^(\d+)([KMGTP])B$/.exec(size);
  if (!m) return undefined;
  return Number(m[1]) * 1024 ** ('KMGTP'.indexOf(m[2]!) + 1);
}

/** The interface counters the network families use (as named in /sys/class/net/<if>/statistics). */
export const NET_COUNTERS = ['rx_bytes', 'rx_packets', 'rx_dropped', 'rx_errors', 'tx_bytes', 'tx_packets', 'tx_dropped', 'tx_errors'] as const;
export type NetCounter = (typeof NET_COUNTERS)[number];

/**
 * /proc/net/dev: per interface, 8 receive then 8 transmit columns (bytes packets errs drop
 * fifo frame compressed multicast | bytes packets errs drop fifo colls carrier compressed).
 * One read for every pod's veth instead of eight sysfs files each. "drop" is the driver's
 * dropped count plus missed errors (0 for a veth), as dev_seq_printf_stats prints it.
 */
export function parseNetDev(text: string): Map<string, Record<NetCounter, number>> {
  const out = new Map<string, Record<NetCounter, number>>();
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    const f = line.slice(colon + 1).trim().split(/\s+/).map(Number);
    if (name === '' || f.length < 16 || f.some((v) => !Number.isFinite(v))) continue;
    out.set(name, { rx_bytes: f[0]!, rx_packets: f[1]!, rx_errors: f[2]!, rx_dropped: f[3]!, tx_bytes: f[8]!, tx_packets: f[9]!, tx_errors: f[10]!, tx_dropped: f[11]! });
  }
  return out;
}
