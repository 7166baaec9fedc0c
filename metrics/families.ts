// The per-container and per-pod families: cAdvisor's names, types, units and labels (as
// kubelet's /metrics/cadvisor serves them), plus the limits and counters no runtime exports
// (marked "berth" below and documented in the README). One table serves the Prometheus
// exposition and the CRI metrics (ListMetricDescriptors / ListPodSandboxMetrics).
import type { Sample, TargetSample } from './sampler.js';
import type { MetricSet } from './sets.js';
import type { NetCounter } from './host-files.js';

export type FamilyType = 'counter' | 'gauge';

/** Extra label values (in the order of Family.labels) and the value. */
export type SeriesValue = [extra: string[], value: number];

export interface Family {
  name: string;
  help: string;
  type: FamilyType;
  set: MetricSet | 'base';
  /** Labels beyond the six every series has (container, id, image, name, namespace, pod). */
  labels: string[];
  /** Which targets it applies to (cAdvisor: network at the pod level, the writable layer per container). */
  scope?: 'pod' | 'container';
  /** True for the families cAdvisor does not have. */
  berth?: boolean;
  values(t: TargetSample, sample: Sample): SeriesValue[];
}

export const BASE_LABELS = ['container', 'id', 'image', 'name', 'namespace', 'pod'] as const;

const NS = 1e9;
const one = (v: number | bigint | undefined | null, scale = 1): SeriesValue[] => (v === undefined || v === null ? [] : [[[], Number(v) / scale]]);
/** cAdvisor reports "unlimited" memory-like limits as 0 (anything above 2^62). */
const limitValue = (v: number | null | undefined): SeriesValue[] => (v === undefined ? [] : [[[], v === null ? 0 : v]]);

function devName(sample: Sample, major: number, minor: number): string {
  return sample.devices.get(`${major}:${minor}`) ?? `${major}:${minor}`;
}

function perDevice(field: 'readBytes' | 'writeBytes' | 'readOps' | 'writeOps') {
  return (t: TargetSample, s: Sample): SeriesValue[] => (t.cgroup?.stats.io?.devices ?? []).map((d) => [[devName(s, d.major, d.minor)], Number(d[field])]);
}

function net(counter: NetCounter) {
  return (t: TargetSample): SeriesValue[] => (t.net ?? []).map((n) => [[n.ifname], n.counters[counter]]);
}

/** Pod receive = host-side veth transmit, and the other way round. */
const swap = (c: NetCounter): NetCounter => (c.startsWith('rx_') ? (`tx_${c.slice(3)}` as NetCounter) : (`rx_${c.slice(3)}` as NetCounter));

function ioLimit(v1: 'readBps' | 'writeBps' | 'readIops' | 'writeIops', v2: 'rbps' | 'wbps' | 'riops' | 'wiops') {
  return (t: TargetSample, s: Sample): SeriesValue[] => {
    const l = t.cgroup?.limits;
    if (l?.ioMax) return l.ioMax.filter((e) => e[v2] !== null).map((e) => [[devName(s, e.major, e.minor), String(e.major), String(e.minor)], e[v2]!]);
    return (l?.blkioThrottle?.[v1] ?? []).map((d) => [[devName(s, d.major, d.minor), String(d.major), String(d.minor)], d.value]);
  };
}

function pressure(res: 'cpu' | 'memory' | 'io', which: 'some' | 'full') {
  return (t: TargetSample): SeriesValue[] => {
    const p = t.cgroup?.pressure?.[res];
    const us = p?.[which]?.totalUs;
    return us === undefined ? [] : [[[], Number(us) / 1e6]];
  };
}

const mem = (t: TargetSample) => t.cgroup?.stats.memory;
const cpu = (t: TargetSample) => t.cgroup?.stats.cpu;
const lim = (t: TargetSample) => t.cgroup?.limits;
const hasQuota = (t: TargetSample) => typeof t.cgroup?.limits.cpuQuotaUs === 'number';

export const FAMILIES: readonly Family[] = [
  // cpu
  { name: 'container_cpu_usage_seconds_total', help: 'Cumulative cpu time consumed in seconds.', type: 'counter', set: 'cpu', labels: ['cpu'], values: (t) => (cpu(t) ? [[['total'], Number(cpu(t)!.usageNs) / NS]] : []) },
  { name: 'container_cpu_user_seconds_total', help: 'Cumulative user cpu time consumed in seconds.', type: 'counter', set: 'cpu', labels: [], values: (t) => one(cpu(t)?.userNs, NS) },
  { name: 'container_cpu_system_seconds_total', help: 'Cumulative system cpu time consumed in seconds.', type: 'counter', set: 'cpu', labels: [], values: (t) => one(cpu(t)?.systemNs, NS) },
  // As in cAdvisor, the CFS families exist only for a cgroup with a quota.
  { name: 'container_cpu_cfs_periods_total', help: 'Number of elapsed enforcement period intervals.', type: 'counter', set: 'cpu', labels: [], values: (t) => (hasQuota(t) ? one(cpu(t)?.periods) : []) },
  { name: 'container_cpu_cfs_throttled_periods_total', help: 'Number of throttled period intervals.', type: 'counter', set: 'cpu', labels: [], values: (t) => (hasQuota(t) ? one(cpu(t)?.throttledPeriods) : []) },
  { name: 'container_cpu_cfs_throttled_seconds_total', help: 'Total time duration the container has been throttled.', type: 'counter', set: 'cpu', labels: [], values: (t) => (hasQuota(t) ? one(cpu(t)?.throttledNs, NS) : []) },
  // memory
  { name: 'container_memory_usage_bytes', help: 'Current memory usage in bytes, including all memory regardless of when it was accessed', type: 'gauge', set: 'memory', labels: [], values: (t) => one(mem(t)?.usage) },
  { name: 'container_memory_working_set_bytes', help: 'Current working set in bytes.', type: 'gauge', set: 'memory', labels: [], values: (t) => one(mem(t)?.workingSet) },
  { name: 'container_memory_rss', help: 'Size of RSS in bytes.', type: 'gauge', set: 'memory', labels: [], values: (t) => one(mem(t)?.rss) },
  { name: 'container_memory_cache', help: 'Number of bytes of page cache memory.', type: 'gauge', set: 'memory', labels: [], values: (t) => one(mem(t)?.cache) },
  { name: 'container_memory_mapped_file', help: 'Size of memory mapped files in bytes.', type: 'gauge', set: 'memory', labels: [], values: (t) => one(mem(t)?.mappedFile) },
  { name: 'container_memory_swap', help: 'Container swap usage in bytes.', type: 'gauge', set: 'memory', labels: [], values: (t) => one(mem(t)?.swapUsage) },
  { name: 'container_memory_max_usage_bytes', help: 'Maximum memory usage recorded in bytes', type: 'gauge', set: 'memory', labels: [], values: (t) => one(mem(t)?.maxUsage) },
  { name: 'container_memory_failcnt', help: 'Number of memory usage hits limits', type: 'counter', set: 'memory', labels: [], values: (t) => one(mem(t)?.failcnt) },
  {
    name: 'container_memory_failures_total', help: 'Cumulative count of memory allocation failures.', type: 'counter', set: 'memory', labels: ['failure_type', 'scope'],
    // The cgroup's totals include its descendants: "hierarchy"; a leaf container's own count is the same.
    values: (t) => {
      const m = mem(t);
      if (m?.pageFaults === undefined) return [];
      const out: SeriesValue[] = [];
      for (const scope of ['container', 'hierarchy']) {
        out.push([['pgfault', scope], Number(m.pageFaults)]);
        if (m.majorPageFaults !== undefined) out.push([['pgmajfault', scope], Number(m.majorPageFaults)]);
      }
      return out;
    },
  },
  // oom
  { name: 'container_oom_events_total', help: 'Count of out of memory events observed for the container', type: 'counter', set: 'oom', labels: [], values: (t) => one(mem(t)?.oomKills ?? mem(t)?.oomEvents) },
  // diskIO
  { name: 'container_fs_reads_bytes_total', help: 'Cumulative count of bytes read', type: 'counter', set: 'diskIO', labels: ['device'], values: perDevice('readBytes') },
  { name: 'container_fs_writes_bytes_total', help: 'Cumulative count of bytes written', type: 'counter', set: 'diskIO', labels: ['device'], values: perDevice('writeBytes') },
  { name: 'container_fs_reads_total', help: 'Cumulative count of reads completed', type: 'counter', set: 'diskIO', labels: ['device'], values: perDevice('readOps') },
  { name: 'container_fs_writes_total', help: 'Cumulative count of writes completed', type: 'counter', set: 'diskIO', labels: ['device'], values: perDevice('writeOps') },
  {
    name: 'container_blkio_device_usage_total', help: 'Blkio Device bytes usage', type: 'counter', set: 'diskIO', labels: ['device', 'major', 'minor', 'operation'],
    values: (t, s) =>
      (t.cgroup?.stats.io?.devices ?? []).flatMap((d): SeriesValue[] => {
        const dev = [devName(s, d.major, d.minor), String(d.major), String(d.minor)];
        return [[[...dev, 'Read'], Number(d.readBytes)], [[...dev, 'Write'], Number(d.writeBytes)]];
      }),
  },
  // disk: the writable layer, on the filesystem holding berth's root
  { name: 'container_fs_usage_bytes', help: 'Number of bytes that are consumed by the container on this filesystem.', type: 'gauge', set: 'disk', scope: 'container', labels: ['device'], values: (t, s) => (t.writable ? [[[s.fs?.device ?? ''], Number(t.writable.bytes)]] : []) },
  { name: 'container_fs_limit_bytes', help: 'Number of bytes that can be consumed by the container on this filesystem.', type: 'gauge', set: 'disk', scope: 'container', labels: ['device'], values: (t, s) => (t.writable && s.fs ? [[[s.fs.device], s.fs.capacityBytes]] : []) },
  { name: 'container_fs_inodes_total', help: 'Number of Inodes', type: 'gauge', set: 'disk', scope: 'container', labels: ['device'], values: (t, s) => (t.writable && s.fs ? [[[s.fs.device], s.fs.inodesTotal]] : []) },
  { name: 'container_fs_inodes_free', help: 'Number of available Inodes', type: 'gauge', set: 'disk', scope: 'container', labels: ['device'], values: (t, s) => (t.writable && s.fs ? [[[s.fs.device], s.fs.inodesFree]] : []) },
  { name: 'container_fs_inodes_used', help: 'Number of inodes used by the container\'s writable layer (berth).', type: 'gauge', set: 'disk', scope: 'container', berth: true, labels: ['device'], values: (t, s) => (t.writable ? [[[s.fs?.device ?? ''], Number(t.writable.inodes)]] : []) },
  // network: the pod's interfaces, from the host side of their veth
  ...(
    [
      ['container_network_receive_bytes_total', 'Cumulative count of bytes received', 'rx_bytes'],
      ['container_network_receive_packets_total', 'Cumulative count of packets received', 'rx_packets'],
      ['container_network_receive_packets_dropped_total', 'Cumulative count of packets dropped while receiving', 'rx_dropped'],
      ['container_network_receive_errors_total', 'Cumulative count of errors encountered while receiving', 'rx_errors'],
      ['container_network_transmit_bytes_total', 'Cumulative count of bytes transmitted', 'tx_bytes'],
      ['container_network_transmit_packets_total', 'Cumulative count of packets transmitted', 'tx_packets'],
      ['container_network_transmit_packets_dropped_total', 'Cumulative count of packets dropped while transmitting', 'tx_dropped'],
      ['container_network_transmit_errors_total', 'Cumulative count of errors encountered while transmitting', 'tx_errors'],
    ] as const
  ).map(([name, help, c]): Family => ({ name, help, type: 'counter', set: 'network', scope: 'pod', labels: ['interface'], values: net(swap(c)) })),
  // process
  { name: 'container_processes', help: 'Number of processes running inside the container.', type: 'gauge', set: 'process', labels: [], values: (t) => one(t.processes?.processes) },
  { name: 'container_threads', help: 'Number of threads running inside the container', type: 'gauge', set: 'process', labels: [], values: (t) => one(t.processes?.threads) },
  { name: 'container_threads_max', help: 'Maximum number of threads allowed inside the container, infinity if value is zero', type: 'gauge', set: 'process', labels: [], values: (t) => limitValue(lim(t)?.pidsLimit) },
  { name: 'container_file_descriptors', help: 'Number of open file descriptors for the container.', type: 'gauge', set: 'process', labels: [], values: (t) => one(t.processes?.fds) },
  { name: 'container_sockets', help: 'Number of open sockets for the container.', type: 'gauge', set: 'process', labels: [], values: (t) => one(t.processes?.sockets) },
  // spec: limits, read back from the cgroup
  { name: 'container_spec_cpu_quota', help: 'CPU quota of the container.', type: 'gauge', set: 'spec', labels: [], values: (t) => (typeof lim(t)?.cpuQuotaUs === 'number' ? [[[], lim(t)!.cpuQuotaUs!]] : []) },
  { name: 'container_spec_cpu_period', help: 'CPU period of the container.', type: 'gauge', set: 'spec', labels: [], values: (t) => one(lim(t)?.cpuPeriodUs) },
  { name: 'container_spec_cpu_shares', help: 'CPU share of the container.', type: 'gauge', set: 'spec', labels: [], values: (t) => one(lim(t)?.cpuShares) },
  { name: 'container_spec_memory_limit_bytes', help: 'Memory limit for the container.', type: 'gauge', set: 'spec', labels: [], values: (t) => limitValue(lim(t)?.memoryLimit) },
  { name: 'container_spec_memory_reservation_limit_bytes', help: 'Memory reservation limit for the container.', type: 'gauge', set: 'spec', labels: [], values: (t) => limitValue(lim(t)?.memoryReservation) },
  { name: 'container_spec_memory_swap_limit_bytes', help: 'Memory swap limit for the container.', type: 'gauge', set: 'spec', labels: [], values: (t) => limitValue(lim(t)?.memorySwapLimit) },
  { name: 'container_spec_pids_limit', help: 'Maximum number of tasks (pids.max) of the container, 0 if unlimited (berth).', type: 'gauge', set: 'spec', berth: true, labels: [], values: (t) => limitValue(lim(t)?.pidsLimit) },
  { name: 'container_spec_cpuset_cpus', help: 'Number of CPUs in the container\'s cpuset; the list in label cpus (berth).', type: 'gauge', set: 'spec', berth: true, labels: ['cpus'], values: (t) => (lim(t)?.cpusetCpuCount !== undefined ? [[[lim(t)!.cpusetCpus ?? ''], lim(t)!.cpusetCpuCount!]] : []) },
  { name: 'container_spec_fs_read_bytes_per_second_limit', help: 'Read bandwidth limit per device (v1 blkio.throttle.read_bps_device, v2 io.max rbps) (berth).', type: 'gauge', set: 'spec', berth: true, labels: ['device', 'major', 'minor'], values: ioLimit('readBps', 'rbps') },
  { name: 'container_spec_fs_write_bytes_per_second_limit', help: 'Write bandwidth limit per device (v1 blkio.throttle.write_bps_device, v2 io.max wbps) (berth).', type: 'gauge', set: 'spec', berth: true, labels: ['device', 'major', 'minor'], values: ioLimit('writeBps', 'wbps') },
  { name: 'container_spec_fs_reads_per_second_limit', help: 'Read IOPS limit per device (v1 blkio.throttle.read_iops_device, v2 io.max riops) (berth).', type: 'gauge', set: 'spec', berth: true, labels: ['device', 'major', 'minor'], values: ioLimit('readIops', 'riops') },
  { name: 'container_spec_fs_writes_per_second_limit', help: 'Write IOPS limit per device (v1 blkio.throttle.write_iops_device, v2 io.max wiops) (berth).', type: 'gauge', set: 'spec', berth: true, labels: ['device', 'major', 'minor'], values: ioLimit('writeIops', 'wiops') },
  {
    name: 'container_spec_io_weight', help: 'I/O weight (v1 blkio.weight, v2 io.weight); device "" is the default (berth).', type: 'gauge', set: 'spec', berth: true, labels: ['device', 'major', 'minor'],
    values: (t, s) => {
      const w = lim(t)?.ioWeight;
      if (!w) return [];
      const out: SeriesValue[] = w.default === undefined ? [] : [[['', '', ''], w.default]];
      for (const d of w.devices) out.push([[devName(s, d.major, d.minor), String(d.major), String(d.minor)], d.value]);
      return out;
    },
  },
  // hugetlb
  { name: 'container_spec_hugetlb_limit_bytes', help: 'Hugepage limit per page size, 0 if unlimited (berth).', type: 'gauge', set: 'hugetlb', berth: true, labels: ['pagesize'], values: (t) => (lim(t)?.hugepages ?? []).map((h) => [[h.pageSize], h.limit ?? 0]) },
  { name: 'container_hugetlb_usage_bytes', help: 'Hugepage usage per page size (berth).', type: 'gauge', set: 'hugetlb', berth: true, labels: ['pagesize'], values: (t) => (t.cgroup?.stats.hugetlb ?? []).map((h) => [[h.pageSize], h.usage]) },
  { name: 'container_hugetlb_failures_total', help: 'Hugepage allocations that failed on the limit, per page size (berth).', type: 'counter', set: 'hugetlb', berth: true, labels: ['pagesize'], values: (t) => (t.cgroup?.stats.hugetlb ?? []).flatMap((h): SeriesValue[] => (h.failcnt === undefined ? [] : [[[h.pageSize], Number(h.failcnt)]])) },
  // pressure (PSI; cgroup v2 files)
  { name: 'container_pressure_cpu_waiting_seconds_total', help: 'Total time duration tasks in the container have waited due to CPU congestion.', type: 'counter', set: 'pressure', labels: [], values: pressure('cpu', 'some') },
  { name: 'container_pressure_cpu_stalled_seconds_total', help: 'Total time duration no tasks in the container could make progress due to CPU congestion.', type: 'counter', set: 'pressure', labels: [], values: pressure('cpu', 'full') },
  { name: 'container_pressure_memory_waiting_seconds_total', help: 'Total time duration tasks in the container have waited due to memory congestion.', type: 'counter', set: 'pressure', labels: [], values: pressure('memory', 'some') },
  { name: 'container_pressure_memory_stalled_seconds_total', help: 'Total time duration no tasks in the container could make progress due to memory congestion.', type: 'counter', set: 'pressure', labels: [], values: pressure('memory', 'full') },
  { name: 'container_pressure_io_waiting_seconds_total', help: 'Total time duration tasks in the container have waited due to IO congestion.', type: 'counter', set: 'pressure', labels: [], values: pressure('io', 'some') },
  { name: 'container_pressure_io_stalled_seconds_total', help: 'Total time duration no tasks in the container could make progress due to IO congestion.', type: 'counter', set: 'pressure', labels: [], values: pressure('io', 'full') },
  // base
  { name: 'container_start_time_seconds', help: 'Start time of the container since unix epoch in seconds.', type: 'gauge', set: 'base', labels: [], values: (t) => (t.target.startTime > 0 ? [[[], t.target.startTime]] : []) },
  { name: 'container_last_seen', help: 'Last time a container was seen by the exporter', type: 'gauge', set: 'base', labels: [], values: (t) => [[[], Math.floor(t.ts / 1000)]] },
];

export function familiesFor(include: ReadonlySet<MetricSet>): Family[] {
  return FAMILIES.filter((f) => f.set === 'base' || include.has(f.set));
}

const applies = (f: Family, t: TargetSample) => !f.scope || f.scope === t.target.kind;

/** Text exposition format 0.0.4: "\\", "\"" and newlines escaped in label values. */
export function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function formatValue(v: number): string {
  if (Number.isInteger(v)) return String(v);
  if (Number.isNaN(v)) return 'NaN';
  if (!Number.isFinite(v)) return v > 0 ? '+Inf' : '-Inf';
  return String(v);
}

/**
 * The families in Prometheus text format, pods and containers of one Sample. Without
 * timestamps: a series that stops appearing is marked stale by Prometheus at once (with
 * explicit timestamps it would linger for five minutes).
 */
export function exposeSample(sample: Sample, families: readonly Family[]): string {
  const targets = [...sample.targets.values()];
  const base = targets.map((t) => {
    const l = t.target.labels;
    return `container="${escapeLabel(l.container)}",id="${escapeLabel(l.id)}",image="${escapeLabel(l.image)}",name="${escapeLabel(l.name)}",namespace="${escapeLabel(l.namespace)}",pod="${escapeLabel(l.pod)}"`;
  });
  const parts: string[] = [];
  for (const f of families) {
    let body = '';
    for (let i = 0; i < targets.length; i++) {
      const t = targets[i]!;
      if (!applies(f, t)) continue;
      for (const [extra, value] of f.values(t, sample)) {
        let labels = base[i]!;
        for (let j = 0; j < f.labels.length; j++) labels += `,${f.labels[j]}="${escapeLabel(extra[j] ?? '')}"`;
        body += `${f.name}{${labels}} ${formatValue(value)}\n`;
      }
    }
    if (body !== '') parts.push(`# HELP ${f.name} ${f.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}\n# TYPE ${f.name} ${f.type}\n${body}`);
  }
  return parts.join('');
}
