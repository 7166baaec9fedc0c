// cgroup stat readers (server/cgroups/stats.ts) on v1 and v2 file contents: CPU, memory
// working set, OOM kills, pids, blkio/io.stat, hugetlb, absent files and noisy input.
import test from 'ava';
import { flatKeyed, parseBlkio, parseFlatKeyed, parseIoStat, parseSingle, parseV1Stats, parseV2Stats } from '../../server/cgroups/stats.js';

// Taken from a Debian 12 test host (kernel 6.x, cgroup v1) and trimmed.
const V1_MEMORY_STAT = `cache 10313728
rss 7815168
rss_huge 0
shmem 9068544
mapped_file 7577600
swap 0
pgfault 49026
pgmajfault 0
inactive_anon 0
active_anon 1531904
inactive_file 331776
active_file 913408
hierarchical_memory_limit 9223372036854771712
total_cache 20971520
total_rss 14438400
total_mapped_file 10989568
total_pgfault 9785639
total_pgmajfault 1358
total_inactive_file 8388608
total_active_file 5711072
`;

const V1_FILES = {
  'cpuacct.usage': '602053538160\n',
  'cpuacct.usage_user': '506730000000\n',
  'cpuacct.usage_sys': '95310000000\n',
  'cpuacct.stat': 'user 50673\nsystem 9531\n',
  'cpu.stat': 'nr_periods 120\nnr_throttled 7\nthrottled_time 81234567\nnr_bursts 0\nburst_time 0\n',
  'memory.usage_in_bytes': '41943040\n',
  'memory.max_usage_in_bytes': '50331648\n',
  'memory.limit_in_bytes': '67108864\n',
  'memory.failcnt': '3\n',
  'memory.memsw.usage_in_bytes': '42991616\n',
  'memory.stat': V1_MEMORY_STAT,
  'memory.oom_control': 'oom_kill_disable 0\nunder_oom 0\noom_kill 2\n',
  'pids.current': '5\n',
  'pids.max': 'max\n',
  'blkio.io_service_bytes_recursive': 'Total 0\n',
  'blkio.io_serviced_recursive': 'Total 0\n',
  'blkio.throttle.io_service_bytes_recursive':
    '8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 12288\n8:0 Async 0\n8:0 Discard 0\n8:0 Total 12288\n8:16 Read 100\n8:16 Write 0\nTotal 12388\n',
  'blkio.throttle.io_serviced_recursive': '8:0 Read 1\n8:0 Write 2\n8:0 Total 3\n8:16 Read 1\nTotal 4\n',
  'hugetlb.2MB.usage_in_bytes': '2097152\n',
  'hugetlb.2MB.max_usage_in_bytes': '4194304\n',
  'hugetlb.2MB.failcnt': '1\n',
  'hugetlb.2MB.limit_in_bytes': '9223372036854771712\n',
};

test('v1: cpu from cpuacct (ns) and throttling from cpu.stat', (t) => {
  const s = parseV1Stats(V1_FILES);
  t.deepEqual(s.cpu, {
    usageNs: 602053538160n,
    userNs: 506730000000n,
    systemNs: 95310000000n,
    periods: 120n,
    throttledPeriods: 7n,
    throttledNs: 81234567n,
  });
});

test('v1: cpuacct.stat ticks are the fallback for user/system', (t) => {
  const { ['cpuacct.usage_user']: _u, ['cpuacct.usage_sys']: _s, ...older } = V1_FILES;
  const s = parseV1Stats(older);
  t.is(s.cpu?.userNs, 50673n * 10_000_000n);
  t.is(s.cpu?.systemNs, 9531n * 10_000_000n);
});

test('v1: memory working set = usage − total_inactive_file; rss, cache, limit, oom kills', (t) => {
  const m = parseV1Stats(V1_FILES).memory;
  t.is(m?.usage, 41943040);
  t.is(m?.workingSet, 41943040 - 8388608);
  t.is(m?.rss, 14438400);
  t.is(m?.cache, 20971520);
  t.is(m?.inactiveFile, 8388608);
  t.is(m?.mappedFile, 10989568);
  t.is(m?.limit, 67108864);
  t.is(m?.maxUsage, 50331648);
  t.is(m?.swapUsage, 42991616 - 41943040);
  t.is(m?.pageFaults, 9785639n);
  t.is(m?.majorPageFaults, 1358n);
  t.is(m?.failcnt, 3n);
  t.is(m?.oomKills, 2n);
});

test('v1: the huge "unlimited" value is reported as null; working set never negative', (t) => {
  const m = parseV1Stats({ 'memory.usage_in_bytes': '100\n', 'memory.limit_in_bytes': '9223372036854771712\n', 'memory.stat': 'total_inactive_file 4096\n' }).memory;
  t.is(m?.limit, null);
  t.is(m?.workingSet, 0);
});

test('v1: pids, io from the throttle files when the scheduler files are empty, hugetlb', (t) => {
  const s = parseV1Stats(V1_FILES);
  t.deepEqual(s.pids, { current: 5, limit: null });
  t.is(s.io?.readBytes, 4196n);
  t.is(s.io?.writeBytes, 8192n);
  t.is(s.io?.readOps, 2n);
  t.is(s.io?.writeOps, 2n);
  t.deepEqual(s.io?.devices.map((d) => [d.major, d.minor, d.readBytes, d.writeBytes]), [
    [8, 0, 4096n, 8192n],
    [8, 16, 100n, 0n],
  ]);
  t.deepEqual(s.hugetlb, [{ pageSize: '2MB', usage: 2097152, maxUsage: 4194304, failcnt: 1n }]);
});

test('v1: scheduler blkio files win when they have data', (t) => {
  const s = parseV1Stats({ ...V1_FILES, 'blkio.io_service_bytes_recursive': '8:0 Read 1\n8:0 Write 1\nTotal 2\n' });
  t.is(s.io?.readBytes, 1n);
});

test('v1: absent files leave their part out', (t) => {
  t.deepEqual(parseV1Stats({}), {});
  t.deepEqual(Object.keys(parseV1Stats({ 'pids.current': '1\n', 'pids.max': '100\n' })), ['pids']);
  t.deepEqual(parseV1Stats({ 'pids.current': '1\n', 'pids.max': '100\n' }).pids, { current: 1, limit: 100 });
});

// cgroup v2 samples in the kernel's formats (Documentation/admin-guide/cgroup-v2.rst).
const V2_FILES = {
  'cpu.stat': 'usage_usec 596982991\nuser_usec 502464032\nsystem_usec 94518958\nnice_usec 0\nnr_periods 50\nnr_throttled 10\nthrottled_usec 123456\nnr_bursts 0\nburst_usec 0\n',
  'memory.current': '73400320\n',
  'memory.max': '134217728\n',
  'memory.peak': '90000000\n',
  'memory.swap.current': '4096\n',
  'memory.stat':
    'anon 30000000\nfile 40000000\nkernel 2000000\nshmem 0\nfile_mapped 5000000\ninactive_anon 0\nactive_anon 30000000\ninactive_file 25000000\nactive_file 15000000\npgfault 1234\npgmajfault 12\n',
  'memory.events': 'low 0\nhigh 0\nmax 17\noom 3\noom_kill 1\noom_group_kill 0\n',
  'pids.current': '12\n',
  'pids.max': '4096\n',
  'io.stat': '8:0 rbytes=1048576 wbytes=2097152 rios=10 wios=20 dbytes=0 dios=0\n253:1 rbytes=512 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n',
  'hugetlb.2MB.current': '4194304\n',
  'hugetlb.2MB.max': 'max\n',
  'hugetlb.2MB.events': 'max 2\n',
  'hugetlb.1GB.current': '0\n',
};

test('v2: cpu.stat in µs becomes ns', (t) => {
  t.deepEqual(parseV2Stats(V2_FILES).cpu, {
    usageNs: 596982991000n,
    userNs: 502464032000n,
    systemNs: 94518958000n,
    periods: 50n,
    throttledPeriods: 10n,
    throttledNs: 123456000n,
  });
});

test('v2: memory working set = current − inactive_file; rss = anon; oom events from memory.events', (t) => {
  const m = parseV2Stats(V2_FILES).memory;
  t.deepEqual(m, {
    usage: 73400320,
    workingSet: 73400320 - 25000000,
    rss: 30000000,
    cache: 40000000,
    inactiveFile: 25000000,
    mappedFile: 5000000,
    pageFaults: 1234n,
    majorPageFaults: 12n,
    limit: 134217728,
    maxUsage: 90000000,
    swapUsage: 4096,
    failcnt: 17n,
    oomEvents: 3n,
    oomKills: 1n,
  });
  t.is(parseV2Stats({ 'memory.current': '1\n', 'memory.max': 'max\n' }).memory?.limit, null);
});

test('v2: pids, io.stat summed over devices, hugetlb per page size', (t) => {
  const s = parseV2Stats(V2_FILES);
  t.deepEqual(s.pids, { current: 12, limit: 4096 });
  t.is(s.io?.readBytes, 1048576n + 512n);
  t.is(s.io?.writeBytes, 2097152n);
  t.is(s.io?.readOps, 11n);
  t.is(s.io?.writeOps, 20n);
  t.is(s.io?.devices.length, 2);
  t.deepEqual(s.hugetlb, [
    { pageSize: '2MB', usage: 4194304, failcnt: 2n },
    { pageSize: '1GB', usage: 0 },
  ]);
});

test('parsers tolerate noise', (t) => {
  t.deepEqual([...parseFlatKeyed('a 1\n\nbad line here\nb -2\n')], [
    ['a', 1n],
    ['b', -2n],
  ]);
  t.is(parseSingle(' 42\n'), 42n);
  t.is(parseSingle('max\n'), null);
  t.is(parseSingle('garbage'), undefined);
  t.is(parseSingle(undefined), undefined);
  t.deepEqual(parseIoStat('').devices, []);
  t.is(parseBlkio('Total 0\n', '').readBytes, 0n);
});

test('flatKeyed finds what parseFlatKeyed parses, key by key, in every form', (t) => {
  const texts = [
    'cache 1\nrss 2\ntotal_rss 3\ntotal_cache 4\n',
    'rss 2\nrss 5\n', // the last wins, as in the map
    'rss 2\nrss x\n', // an odd last line: the earlier value
    'a 1\n\nbad line here\nb -2\n',
    'a\t1\nb  2\nc 3\r\n',
    'usage_usec 123\nuser_usec 4', // no final newline
    '',
  ];
  const keys = ['cache', 'rss', 'total_rss', 'total_cache', 'a', 'b', 'c', 'usage_usec', 'user_usec', 'missing', 'ss', 'bad'];
  for (const text of texts) {
    const whole = parseFlatKeyed(text);
    const lazy = flatKeyed(text);
    for (const k of keys) {
      t.is(lazy.get(k), whole.get(k), `${JSON.stringify(text)}: ${k}`);
      t.is(lazy.has(k), whole.has(k), `${JSON.stringify(text)}: has ${k}`);
    }
  }
});
