// The exposition of metrics/families.ts (names, types, labels, escaping, pod vs container
// scope, unlimited limits as 0, families absent where their files are), its CRI view
// (metrics/cri.ts: same values, seconds rounded rather than truncated), the host side of a
// pod's veth from a CNI result, and the [metrics] config checks.
import test from 'ava';
import { exposeSample, familiesFor, FAMILIES, escapeLabel } from '../../metrics/families.js';
import { criMetrics, criDescriptors, criPodLinuxStats } from '../../metrics/cri.js';
import { METRIC_SETS, type MetricSet } from '../../metrics/sets.js';
import type { Sample, TargetSample } from '../../metrics/sampler.js';
import { hostInterfaces } from '../../server/metrics-wiring.js';
import { defaultConfig, mergeConfig, printConfig, validateConfig } from '../../server/config.js';
import type { SandboxRecord } from '../../server/sandbox/types.js';

const ALL = new Set<MetricSet>(METRIC_SETS);

function container(over: Partial<TargetSample> = {}): TargetSample {
  return {
    target: { key: 'c1', kind: 'container', podId: 'p1', cgroupPath: '/kubepods/pod1/c1', labels: { container: 'app', id: '/kubepods/pod1/c1', image: 'busybox:1', name: 'c1', namespace: 'ns', pod: 'web' }, startTime: 1700000000.5 },
    ts: 1700000010000,
    cgroup: {
      stats: {
        cpu: { usageNs: 1_600_000_000n, userNs: 1_000_000_000n, systemNs: 600_000_000n, periods: 10n, throttledPeriods: 4n, throttledNs: 250_000_000n },
        memory: { usage: 50 << 20, workingSet: 40 << 20, rss: 30 << 20, cache: 20 << 20, pageFaults: 100n, majorPageFaults: 2n, failcnt: 1n, oomKills: 3n, limit: 64 << 20 },
        io: { readBytes: 4096n, writeBytes: 8192n, readOps: 1n, writeOps: 2n, devices: [{ major: 254, minor: 0, readBytes: 4096n, writeBytes: 8192n, readOps: 1n, writeOps: 2n }] },
      },
      limits: { cpuQuotaUs: 50000, cpuPeriodUs: 100000, cpuShares: 1024, memoryLimit: 64 << 20, memoryReservation: null, memorySwapLimit: null, pidsLimit: null, hugepages: [], blkioThrottle: { readBps: [{ major: 254, minor: 0, value: 1048576 }], writeBps: [] } },
      pids: [42],
    },
    processes: { processes: 1, threads: 2, fds: 3, sockets: 1 },
    writable: { bytes: 20480n, inodes: 8n },
    ...over,
  };
}

function pod(): TargetSample {
  return {
    target: { key: 'pod:p1', kind: 'pod', podId: 'p1', labels: { container: '', id: '', image: '', name: '', namespace: 'ns', pod: 'web' }, startTime: 1700000000, interfaces: [{ ifname: 'eth0', hostIf: 'veth1' }] },
    ts: 1700000010000,
    net: [{ ifname: 'eth0', counters: { rx_bytes: 100, rx_packets: 1, rx_dropped: 0, rx_errors: 0, tx_bytes: 900, tx_packets: 9, tx_dropped: 0, tx_errors: 0 } }],
  };
}

function sample(...targets: TargetSample[]): Sample {
  return {
    ts: 1700000010000,
    targets: new Map(targets.map((t) => [t.target.key, t])),
    fs: { device: '/dev/vda', capacityBytes: 1000, availableBytes: 500, inodesTotal: 64, inodesFree: 40 },
    devices: new Map([['254:0', '/dev/vda']]),
  };
}

const lines = (text: string, name: string) => text.split('\n').filter((l) => l.startsWith(`${name}{`));

test('cAdvisor names, types, label sets; CPU seconds keep their fractions', (t) => {
  const text = exposeSample(sample(container()), familiesFor(ALL));
  t.true(text.includes('# TYPE container_cpu_usage_seconds_total counter\n'));
  t.deepEqual(lines(text, 'container_cpu_usage_seconds_total'), ['container_cpu_usage_seconds_total{container="app",id="/kubepods/pod1/c1",image="busybox:1",name="c1",namespace="ns",pod="web",cpu="total"} 1.6']);
  t.deepEqual(lines(text, 'container_cpu_cfs_throttled_seconds_total'), ['container_cpu_cfs_throttled_seconds_total{container="app",id="/kubepods/pod1/c1",image="busybox:1",name="c1",namespace="ns",pod="web"} 0.25']);
  t.is(lines(text, 'container_memory_failures_total').length, 4, 'pgfault/pgmajfault × container/hierarchy');
  t.regex(text, /container_oom_events_total\{[^}]*\} 3\n/);
  t.regex(text, /container_blkio_device_usage_total\{[^}]*,device="\/dev\/vda",major="254",minor="0",operation="Write"\} 8192\n/);
  t.regex(text, /container_fs_inodes_total\{[^}]*,device="\/dev\/vda"\} 64\n/, 'total inodes of the filesystem, not used');
  t.regex(text, /container_fs_inodes_used\{[^}]*\} 8\n/);
  t.regex(text, /container_spec_memory_reservation_limit_bytes\{[^}]*\} 0\n/, 'unlimited is 0, as cAdvisor');
  t.regex(text, /container_spec_fs_read_bytes_per_second_limit\{[^}]*,device="\/dev\/vda",major="254",minor="0"\} 1048576\n/);
  t.is(lines(text, 'container_spec_fs_write_bytes_per_second_limit').length, 0, 'an empty throttle file gives no series');
  t.false(text.includes('container_spec_io_weight'), 'no weight file, no family');
  t.false(text.includes('container_pressure_'), 'no PSI files, no family');
  t.false(text.includes('container_network_'), 'network is pod-level');
  t.regex(text, /container_start_time_seconds\{[^}]*\} 1700000000.5\n/);
});

test('pod-level series: container="" and image="", network from the host veth with receive and transmit swapped', (t) => {
  const text = exposeSample(sample(pod()), familiesFor(ALL));
  t.deepEqual(lines(text, 'container_network_receive_bytes_total'), ['container_network_receive_bytes_total{container="",id="",image="",name="",namespace="ns",pod="web",interface="eth0"} 900']);
  t.deepEqual(lines(text, 'container_network_transmit_packets_total'), ['container_network_transmit_packets_total{container="",id="",image="",name="",namespace="ns",pod="web",interface="eth0"} 1']);
  t.false(text.includes('container_fs_usage_bytes'), 'the writable layer is per container');
});

test('metric sets switch families off; base families stay', (t) => {
  const text = exposeSample(sample(container()), familiesFor(new Set<MetricSet>(['memory'])));
  t.false(text.includes('container_cpu_usage_seconds_total'));
  t.false(text.includes('container_spec_'));
  t.true(text.includes('container_memory_working_set_bytes'));
  t.true(text.includes('container_last_seen'));
});

test('label values are escaped; every family has HELP and TYPE once', (t) => {
  t.is(escapeLabel('a"b\\c\nd'), 'a\\"b\\\\c\\nd');
  const c = container();
  c.target.labels.image = 'img"x';
  const text = exposeSample(sample(c, pod()), familiesFor(ALL));
  t.true(text.includes('image="img\\"x"'));
  for (const f of FAMILIES) t.true(text.split('\n').filter((l) => l.startsWith(`# TYPE ${f.name} `)).length <= 1);
  t.true(FAMILIES.every((f) => f.type === 'gauge' || /_total$|_failcnt$/.test(f.name)), 'counters end in _total (cAdvisor\'s failcnt aside)');
});

test('CRI metrics: same families and values, id/name/image then family labels, seconds rounded', (t) => {
  const s = sample(container());
  const fams = familiesFor(ALL);
  const m = criMetrics(s.targets.get('c1')!, s, fams, ['c1', 'app', 'busybox:1']);
  const cpu = m.find((x) => x.name === 'container_cpu_usage_seconds_total')!;
  t.deepEqual(cpu.label_values, ['c1', 'app', 'busybox:1', 'total']);
  t.is(cpu.value!.value, '2', '1.6 s rounds to 2, not down to 1');
  t.is(cpu.metric_type, 'COUNTER');
  t.is(m.find((x) => x.name === 'container_spec_cpu_quota')!.value!.value, '50000');
  const text = exposeSample(s, fams);
  const exposed = new Set(text.split('\n').filter((l) => l.startsWith('container_')).map((l) => l.slice(0, l.indexOf('{'))));
  t.deepEqual(new Set(m.map((x) => x.name)), exposed);
  const d = criDescriptors(ALL).find((x) => x.name === 'container_blkio_device_usage_total')!;
  t.deepEqual(d.label_keys, ['id', 'name', 'image', 'device', 'major', 'minor', 'operation']);
});

test('pod stats: network from the host veth (swapped); without a pod cgroup, CPU and memory sum the containers', (t) => {
  const linux = criPodLinuxStats(pod(), [{ cpu: { usage_core_nano_seconds: { value: '5' }, usage_nano_cores: { value: '7' } }, memory: { working_set_bytes: { value: '11' } } }], 0);
  t.is(linux.network!.default_interface!.rx_bytes!.value, '900');
  t.is(linux.network!.default_interface!.tx_bytes!.value, '100');
  t.is(linux.cpu!.usage_core_nano_seconds!.value, '5');
  t.is(linux.memory!.working_set_bytes!.value, '11');
});

test('the host side of a pod veth from a bridge CNI result', (t) => {
  const sb = {
    state: 'SANDBOX_READY',
    runtime: {
      cni: {
        conflist: { plugins: [{ type: 'bridge', bridge: 'cni0' }, { type: 'portmap' }] },
        ifname: 'eth0',
        netns: '/run/netns/x',
        args: '',
        runtimeConfig: {},
        deleted: false,
        result: { interfaces: [{ name: 'cni0', mac: 'aa' }, { name: 'veth1234', mac: 'bb' }, { name: 'eth0', mac: 'cc', sandbox: '/run/netns/x' }] },
      },
    },
  } as unknown as SandboxRecord;
  t.deepEqual(hostInterfaces(sb), [{ ifname: 'eth0', hostIf: 'veth1234' }]);
  (sb.runtime.cni as { deleted: boolean }).deleted = true;
  t.deepEqual(hostInterfaces(sb), []);
});

test('[metrics] config: defaults, checks, print-config shows them', (t) => {
  const d = defaultConfig();
  t.deepEqual({ ...d.metrics, include: undefined }, { enabled: true, address: '127.0.0.1:9464', path: '/metrics', tls_cert: '', tls_key: '', interval_seconds: 10, include: undefined });
  t.deepEqual(d.metrics.include, [...METRIC_SETS]);
  const bad = (m: Record<string, unknown>) => () => validateConfig(mergeConfig(defaultConfig(), { metrics: m }));
  t.throws(bad({ address: 'localhost' }), { message: /metrics\.address/ });
  t.throws(bad({ include: ['cpu', 'gpu'] }), { message: /unknown metric set "gpu"/ });
  t.throws(bad({ tls_cert: '/a.pem' }), { message: /go together/ });
  t.throws(bad({ interval_seconds: -1 }), { message: /interval_seconds/ });
  t.throws(bad({ path: 'metrics' }), { message: /path/ });
  t.notThrows(bad({ interval_seconds: 0, include: ['cpu', 'memory'], address: '[::1]:0' }));
  const printed = printConfig(validateConfig(defaultConfig()));
  t.regex(printed, /\[metrics\]\nenabled = true\naddress = "127\.0\.0\.1:9464"\npath = "\/metrics"/);
});
