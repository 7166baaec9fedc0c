// Parsers of the procfs and sysfs files the sampler reads beyond the cgroups (whose files
// are read and parsed by the cgroup manager, server/cgroups): threads from /proc/<pid>/status,
// hugepage sizes, and the veth counters of /sys/class/net. Pure; unit-tested on real contents.

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

/** /sys/class/net/<if>/statistics counters the network families use. */
export const NET_COUNTERS = ['rx_bytes', 'rx_packets', 'rx_dropped', 'rx_errors', 'tx_bytes', 'tx_packets', 'tx_dropped', 'tx_errors'] as const;
export type NetCounter = (typeof NET_COUNTERS)[number];
