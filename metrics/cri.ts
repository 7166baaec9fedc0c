// The CRI views of a Sample: ContainerStats / PodSandboxStats for the stats RPCs and the
// Metric messages of ListPodSandboxMetrics / StreamPodSandboxMetrics, from the same
// TargetSamples the Prometheus endpoint shows. CRI label keys are kubelet's CRI-metrics
// convention (id, name, image, then the family's own labels). CRI's Metric.value is a
// UInt64Value, so seconds-valued counters are rounded to the nearest second there (not
// truncated); the Prometheus endpoint keeps their fractions.
import { familiesFor, type Family } from './families.js';
import type { Sample, TargetSample } from './sampler.js';
import type { MetricSet } from './sets.js';
import type { ContainerStats } from '../wire/cri/generated/runtime/v1/ContainerStats.js';
import type { CpuUsage } from '../wire/cri/generated/runtime/v1/CpuUsage.js';
import type { MemoryUsage } from '../wire/cri/generated/runtime/v1/MemoryUsage.js';
import type { LinuxPodSandboxStats } from '../wire/cri/generated/runtime/v1/LinuxPodSandboxStats.js';
import type { Metric } from '../wire/cri/generated/runtime/v1/Metric.js';
import type { MetricDescriptor } from '../wire/cri/generated/runtime/v1/MetricDescriptor.js';
import type { NetworkUsage } from '../wire/cri/generated/runtime/v1/NetworkUsage.js';

export const CRI_LABEL_KEYS = ['id', 'name', 'image'];

const u64 = (v: bigint | number | undefined | null) => (v === undefined || v === null ? null : { value: String(typeof v === 'number' ? Math.max(0, Math.round(v)) : v) });
const nsOf = (ms: number) => (BigInt(ms) * 1_000_000n).toString();

export function criCpu(s: TargetSample | undefined): CpuUsage | null {
  const c = s?.cgroup?.stats.cpu;
  if (!s || !c) return null;
  return { timestamp: nsOf(s.ts), usage_core_nano_seconds: u64(c.usageNs), usage_nano_cores: u64(s.cpuNanoCores) };
}

export function criMemory(s: TargetSample | undefined): MemoryUsage | null {
  const m = s?.cgroup?.stats.memory;
  if (!s || !m) return null;
  const available = m.limit !== undefined && m.limit !== null && m.limit > m.workingSet ? m.limit - m.workingSet : undefined;
  return {
    timestamp: nsOf(s.ts),
    working_set_bytes: u64(m.workingSet),
    available_bytes: u64(available),
    usage_bytes: u64(m.usage),
    rss_bytes: u64(m.rss),
    page_faults: u64(m.pageFaults),
    major_page_faults: u64(m.majorPageFaults),
  };
}

/** A container's ContainerStats; `attributes` and the writable layer's mount point come from the record. */
export function criContainerStats(s: TargetSample | undefined, attributes: ContainerStats['attributes'], upperDir: string, nowMs: number): ContainerStats {
  const ts = nsOf(s?.ts ?? nowMs);
  return {
    attributes,
    cpu: criCpu(s),
    memory: criMemory(s),
    writable_layer: s?.writable ? { timestamp: ts, fs_id: { mountpoint: upperDir }, used_bytes: u64(s.writable.bytes), inodes_used: u64(s.writable.inodes) } : null,
  };
}

function criNetwork(s: TargetSample): NetworkUsage | null {
  if (!s.net || s.net.length === 0) return null;
  // Host-side veth counters: the pod received what the host side transmitted.
  const interfaces = s.net.map((n) => ({ name: n.ifname, rx_bytes: u64(n.counters.tx_bytes), rx_errors: u64(n.counters.tx_errors), tx_bytes: u64(n.counters.rx_bytes), tx_errors: u64(n.counters.rx_errors) }));
  return { timestamp: nsOf(s.ts), default_interface: interfaces[0]!, interfaces };
}

/** A pod's linux stats: its own cgroup's, or (no pod cgroup) the sum of its containers'. */
export function criPodLinuxStats(pod: TargetSample | undefined, containers: ContainerStats[], nowMs: number): LinuxPodSandboxStats {
  const ts = nsOf(pod?.ts ?? nowMs);
  let cpu = criCpu(pod);
  let memory = criMemory(pod);
  if (!pod?.cgroup) {
    const sum = (pick: (c: ContainerStats) => { value?: unknown } | null | undefined) => containers.reduce((a, c) => a + BigInt(String(pick(c)?.value ?? '0')), 0n);
    cpu = { timestamp: ts, usage_core_nano_seconds: u64(sum((c) => c.cpu?.usage_core_nano_seconds)), usage_nano_cores: u64(sum((c) => c.cpu?.usage_nano_cores)) };
    memory = { timestamp: ts, working_set_bytes: u64(sum((c) => c.memory?.working_set_bytes)), usage_bytes: u64(sum((c) => c.memory?.usage_bytes)), rss_bytes: u64(sum((c) => c.memory?.rss_bytes)) };
  }
  const procs = pod?.processes?.processes ?? pod?.cgroup?.pids.length;
  return {
    cpu,
    memory,
    network: pod ? criNetwork(pod) : null,
    containers,
    process: procs !== undefined ? { timestamp: ts, process_count: u64(procs) } : null,
  };
}

export function criDescriptors(include: ReadonlySet<MetricSet>): MetricDescriptor[] {
  return familiesFor(include).map((f) => ({ name: f.name, help: f.help, label_keys: [...CRI_LABEL_KEYS, ...f.labels] }));
}

const SECONDS = /_seconds(_total)?$/;

/** The Metric messages of one target; `ids` are the CRI id, name and image label values. */
export function criMetrics(s: TargetSample, sample: Sample, families: readonly Family[], ids: [string, string, string]): Metric[] {
  const out: Metric[] = [];
  const ts = nsOf(s.ts);
  for (const f of families) {
    if (f.scope && f.scope !== s.target.kind) continue;
    for (const [extra, value] of f.values(s, sample)) {
      const v = SECONDS.test(f.name) ? Math.round(value) : value;
      out.push({ name: f.name, timestamp: ts, metric_type: f.type === 'counter' ? 'COUNTER' : 'GAUGE', label_values: [...ids, ...extra], value: u64(v) });
    }
  }
  return out;
}
