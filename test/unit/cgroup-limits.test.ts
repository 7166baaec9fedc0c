// The limit files the cgroup manager reads back (server/cgroups: v1 cpu/cpuset/memory/pids/
// blkio throttle and weight, v2 cpu.max/cpu.weight/io.max/io.weight/memory.min/swap.max,
// hugetlb of both), on real file contents: v1 as our Debian hybrid hosts show them, v2 as the
// modern-nodes guest (kernel 6.1) does; and the managers' one reader (snapshot) on a temp tree
// shaped like each hierarchy and on this process's own cgroups.
import test from 'ava';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readCgroupLayout } from '../../server/cgroups/detect.js';
import { createCgroupManager } from '../../server/cgroups/hierarchy.js';
import { readProcessCgroup } from '../../server/cgroups/proc.js';
import { parseV1Limits, parseV2Limits } from '../../server/cgroups/stats.js';
import { parseDeviceValues } from '../../server/cgroups/v1/blkio.js';
import { cpuListCount } from '../../server/cgroups/v1/cpuset.js';
import { parseCpuMax } from '../../server/cgroups/v2/cpu.js';
import { parseIoMax, parseIoWeight } from '../../server/cgroups/v2/io.js';
import { readControlSync } from '../../server/cgroups/fs.js';

const V1_UNLIMITED = '9223372036854771712\n';

test('v2 cpu.max: "max PERIOD" and "QUOTA PERIOD"', (t) => {
  t.deepEqual(parseCpuMax('max 100000\n'), { quota: null, period: 100000 });
  t.deepEqual(parseCpuMax('50000 100000\n'), { quota: 50000, period: 100000 });
  t.is(parseCpuMax(''), undefined);
  t.is(parseCpuMax(undefined), undefined);
});

test('v1 blkio.throttle.*_device: empty when unset, one line per device', (t) => {
  t.deepEqual(parseDeviceValues(''), []);
  t.deepEqual(parseDeviceValues('254:0 1048576\n'), [{ major: 254, minor: 0, value: 1048576 }]);
  t.deepEqual(parseDeviceValues('8:0 100\n8:16 200\n'), [
    { major: 8, minor: 0, value: 100 },
    { major: 8, minor: 16, value: 200 },
  ]);
});

test('v2 io.max: per-device keys, "max" is no limit, unknown keys ignored', (t) => {
  t.deepEqual(parseIoMax('254:0 rbps=1048576 wbps=max riops=max wiops=120\n'), [{ major: 254, minor: 0, rbps: 1048576, wbps: null, riops: null, wiops: 120 }]);
  t.deepEqual(parseIoMax(''), []);
  t.is(parseIoMax('8:0 rbps=2 wbps=3 riops=4 wiops=5\n8:16 rbps=max wbps=max riops=max wiops=max\n').length, 2);
  t.deepEqual(parseIoMax('8:0 rbps=2 foo=3\n')[0], { major: 8, minor: 0, rbps: 2, wbps: null, riops: null, wiops: null });
});

test('io.weight (v2, "default N" plus overrides) and blkio.weight (v1, a bare number)', (t) => {
  t.deepEqual(parseIoWeight('default 100\n'), { default: 100, devices: [] });
  t.deepEqual(parseIoWeight('default 100\n8:0 250\n'), { default: 100, devices: [{ major: 8, minor: 0, value: 250 }] });
  t.deepEqual(parseIoWeight('500\n'), { default: 500, devices: [] });
  t.is(parseIoWeight(undefined), undefined);
});

test('cpuset lists', (t) => {
  t.is(cpuListCount('0-1\n'), 2);
  t.is(cpuListCount('0-3,8,10-11\n'), 7);
  t.is(cpuListCount('\n'), 0);
  t.is(cpuListCount('0-a'), undefined);
});

test('v1 limits: a container with a half-CPU quota, 64 MiB, a read throttle; unlimited as null; no blkio.weight on this kernel', (t) => {
  const l = parseV1Limits({
    'cpu.cfs_quota_us': '50000\n',
    'cpu.cfs_period_us': '100000\n',
    'cpu.shares': '512\n',
    'cpuset.cpus': '0-1\n',
    'cpuset.mems': '0\n',
    'memory.limit_in_bytes': '67108864\n',
    'memory.soft_limit_in_bytes': V1_UNLIMITED,
    'memory.memsw.limit_in_bytes': '67108864\n',
    'pids.max': 'max\n',
    'blkio.throttle.read_bps_device': '254:0 1048576\n',
    'blkio.throttle.write_bps_device': '',
    'blkio.throttle.read_iops_device': '',
    'blkio.throttle.write_iops_device': '',
    'hugetlb.2MB.limit_in_bytes': '4194304\n',
    'hugetlb.2MB.usage_in_bytes': '0\n',
  });
  t.deepEqual(l, {
    cpuQuotaUs: 50000,
    cpuPeriodUs: 100000,
    cpuShares: 512,
    cpusetCpus: '0-1',
    cpusetCpuCount: 2,
    cpusetMems: '0',
    memoryLimit: 64 << 20,
    memoryReservation: null,
    memorySwapLimit: 64 << 20,
    pidsLimit: null,
    blkioThrottle: { readBps: [{ major: 254, minor: 0, value: 1048576 }], writeBps: [], readIops: [], writeIops: [] },
    hugepages: [{ pageSize: '2MB', limit: 4 << 20 }],
  });
  t.is(parseV1Limits({ 'cpu.cfs_quota_us': '-1\n' }).cpuQuotaUs, null, 'no quota');
  t.deepEqual(parseV1Limits({}), { hugepages: [] }, 'no files, no limits');
});

test('v2 limits: cpu.max, weight back to shares, effective cpusets, memory.max/min/swap.max, io.max, io.weight, hugetlb max', (t) => {
  const l = parseV2Limits({
    'cpu.max': '50000 100000\n',
    'cpu.weight': '39\n',
    'cpuset.cpus.effective': '0-3\n',
    'cpuset.mems.effective': '0\n',
    'memory.max': '67108864\n',
    'memory.min': '0\n',
    'memory.swap.max': '0\n',
    'pids.max': '1024\n',
    'io.max': '254:0 rbps=1048576 wbps=max riops=max wiops=max\n',
    'io.weight': 'default 100\n',
    'hugetlb.2MB.max': 'max\n',
    'hugetlb.1GB.max': '1073741824\n',
  });
  t.deepEqual(l, {
    cpuQuotaUs: 50000,
    cpuPeriodUs: 100000,
    cpuShares: 999,
    cpusetCpus: '0-3',
    cpusetCpuCount: 4,
    cpusetMems: '0',
    memoryLimit: 64 << 20,
    memoryReservation: 0,
    memorySwapLimit: 64 << 20,
    pidsLimit: 1024,
    ioMax: [{ major: 254, minor: 0, rbps: 1048576, wbps: null, riops: null, wiops: null }],
    ioWeight: { default: 100, devices: [] },
    hugepages: [
      { pageSize: '2MB', limit: null },
      { pageSize: '1GB', limit: 1 << 30 },
    ],
  });
  t.is(parseV2Limits({ 'cpu.max': 'max 100000\n' }).cpuQuotaUs, null);
  t.is(parseV2Limits({ 'memory.max': 'max\n', 'memory.swap.max': 'max\n' }).memorySwapLimit, null, 'unlimited memory: unlimited memory+swap');
  t.is(parseV2Limits({ 'memory.max': '1000\n', 'memory.swap.max': '500\n' }).memorySwapLimit, 1500, 'memory+swap as on v1');
});

test('snapshot on a v2-shaped tree: usage, limits, pressure and processes in one read; a missing cgroup is undefined', (t) => {
  const root = mkdtempSync(join(tmpdir(), 'berth-snap2-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const dir = join(root, 'pod1/c1');
  mkdirSync(dir, { recursive: true });
  const files: Record<string, string> = {
    'cgroup.procs': '42\n43\n',
    'cpu.stat': 'usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\nnr_periods 10\nnr_throttled 4\nthrottled_usec 250000\n',
    'cpu.max': '50000 100000\n',
    'memory.current': '52428800\n',
    'memory.stat': 'anon 31457280\nfile 20971520\ninactive_file 10485760\nfile_mapped 1048576\npgfault 100\npgmajfault 2\n',
    'memory.max': '67108864\n',
    'io.max': '254:0 rbps=1048576 wbps=max riops=max wiops=max\n',
    // cpu.pressure of a kernel before 5.13: no "full" line.
    'cpu.pressure': 'some avg10=0.00 avg60=0.00 avg300=0.00 total=89\n',
    'io.pressure': 'some avg10=0.00 avg60=0.00 avg300=0.00 total=1234\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=567\n',
  };
  for (const [f, v] of Object.entries(files)) writeFileSync(join(dir, f), v);
  const m = createCgroupManager({ mode: 'v2', v1: {}, unified: root }, '/pod1/c1');
  const s = m.snapshot({ limits: true, pressure: true })!;
  t.deepEqual(s.procs, [42, 43]);
  t.is(s.stats.cpu?.usageNs, 1_500_000_000n);
  t.is(s.stats.memory?.workingSet, 52428800 - 10485760);
  t.is(s.limits?.cpuQuotaUs, 50000);
  t.is(s.limits?.ioMax?.[0]?.rbps, 1048576);
  t.is(s.pressure?.io?.full?.totalUs, 567n);
  t.is(s.pressure?.cpu?.some.totalUs, 89n);
  t.is(s.pressure?.cpu?.full, undefined);
  t.is(s.pressure?.memory, undefined, 'no memory.pressure file, no memory pressure');
  t.is(m.snapshot()?.limits, undefined, 'limits only when asked for');
  t.is(createCgroupManager({ mode: 'v2', v1: {}, unified: root }, '/pod1/gone').snapshot(), undefined);
});

test('snapshot on a v1-shaped tree: controllers in their own hierarchies; throttle files read back', (t) => {
  const root = mkdtempSync(join(tmpdir(), 'berth-snap1-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const mounts: Record<string, string> = {};
  const put = (c: string, f: string, v: string) => {
    mounts[c] = join(root, c);
    mkdirSync(join(root, c, 'pod1/c1'), { recursive: true });
    writeFileSync(join(root, c, 'pod1/c1', f), v);
  };
  put('pids', 'cgroup.procs', '7\n');
  put('pids', 'pids.current', '1\n');
  put('pids', 'pids.max', '100\n');
  put('cpuacct', 'cpuacct.usage', '2000000000\n');
  put('cpu', 'cpu.cfs_quota_us', '-1\n');
  put('cpu', 'cpu.cfs_period_us', '100000\n');
  put('memory', 'memory.usage_in_bytes', '4096\n');
  put('memory', 'memory.limit_in_bytes', V1_UNLIMITED);
  put('blkio', 'blkio.throttle.read_bps_device', '254:0 2097152\n');
  put('blkio', 'blkio.throttle.io_service_bytes_recursive', '254:0 Read 4096\n254:0 Write 8192\nTotal 12288\n');
  const s = createCgroupManager({ mode: 'v1', v1: mounts }, '/pod1/c1').snapshot({ limits: true, pressure: true })!;
  t.deepEqual(s.procs, [7]);
  t.is(s.stats.cpu?.usageNs, 2_000_000_000n);
  t.is(s.stats.io?.writeBytes, 8192n);
  t.deepEqual(s.limits, {
    hugepages: [],
    cpuQuotaUs: null,
    cpuPeriodUs: 100000,
    memoryLimit: null,
    pidsLimit: 100,
    blkioThrottle: { readBps: [{ major: 254, minor: 0, value: 2097152 }] },
  });
  t.is(s.pressure, undefined, 'no PSI on v1');
});

test('snapshot of this process\'s own cgroup on this host: stats and limits read from the real files', async (t) => {
  const layout = await readCgroupLayout();
  const path = (await readProcessCgroup(process.pid, layout))!;
  const s = createCgroupManager(layout, path).snapshot({ limits: true, pressure: true });
  t.truthy(s, `${path} reads`);
  t.true(s!.stats.memory !== undefined || s!.stats.cpu !== undefined);
  t.true(s!.limits !== undefined);
});

test('readControlSync: a file, a missing file, a file longer than the read buffer', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-rcs-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'small'), 'usage_usec 1\n');
  const big = 'x'.repeat(200_000);
  writeFileSync(join(dir, 'big'), big);
  t.is(readControlSync(dir, 'small'), 'usage_usec 1\n');
  t.is(readControlSync(dir, 'missing'), undefined);
  t.is(readControlSync(dir, 'big'), big);
  t.regex(readControlSync('/proc/self', 'status')!, /^Name:.*\n[\s\S]*Threads:\s+\d+\n[\s\S]*$/);
});
