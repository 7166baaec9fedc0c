// The parsers of metrics/cgroup-files.ts (limits, pressure, cpusets, /proc status) and the
// listen-address parser, on real file contents: v1 files as read on our Debian 12 hybrid test
// hosts, v2 files as the modern-nodes guest (kernel 6.1, cgroup2) shows them.
import test from 'ava';
import {
  cpuListCount,
  hugepageLimitFiles,
  pageSizeBytes,
  parseCpuMax,
  parseDeviceValues,
  parseIoMax,
  parseIoWeight,
  parseNumber,
  parsePressure,
  parseThreads,
  weightToShares,
} from '../../metrics/cgroup-files.js';
import { parseListenAddress } from '../../metrics/address.js';

test('single-number files: v1 quota -1, period, shares, "max"', (t) => {
  t.is(parseNumber('-1\n'), -1);
  t.is(parseNumber('100000\n'), 100000);
  t.is(parseNumber('9223372036854771712\n'), 9223372036854771712);
  t.is(parseNumber('max\n'), null);
  t.is(parseNumber(undefined), undefined);
  t.is(parseNumber('12 34\n'), undefined);
});

test('v2 cpu.max: "max PERIOD" and "QUOTA PERIOD"', (t) => {
  t.deepEqual(parseCpuMax('max 100000\n'), { quota: null, period: 100000 });
  t.deepEqual(parseCpuMax('50000 100000\n'), { quota: 50000, period: 100000 });
  t.is(parseCpuMax(''), undefined);
  t.is(parseCpuMax(undefined), undefined);
});

test('cpu.weight back to shares inverts kubelet/runc conversion at its ends and middle', (t) => {
  t.is(weightToShares(1), 2);
  t.is(weightToShares(10000), 262144);
  // 1024 shares → weight 39 (runc's formula); back is 998: the conversion loses precision, as in cAdvisor.
  t.is(weightToShares(39), 998);
  t.is(weightToShares(100), 2597);
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
  t.deepEqual(parseIoMax('8:0 rbps=2 wbps=3 riops=4 wiops=5\n8:16 rbps=max wbps=max riops=max wiops=max\n').length, 2);
});

test('io.weight (v2, "default N" plus overrides) and blkio.weight (v1, a bare number)', (t) => {
  t.deepEqual(parseIoWeight('default 100\n'), { default: 100, devices: [] });
  t.deepEqual(parseIoWeight('default 100\n8:0 250\n'), { default: 100, devices: [{ major: 8, minor: 0, value: 250 }] });
  t.deepEqual(parseIoWeight('500\n'), { default: 500, devices: [] });
  t.is(parseIoWeight(undefined), undefined);
});

test('PSI files: some/full totals in microseconds; cpu.pressure of old kernels has no full line', (t) => {
  t.deepEqual(parsePressure('some avg10=0.25 avg60=0.23 avg300=0.11 total=885592\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=15141\n'), { someTotalUs: 885592, fullTotalUs: 15141 });
  t.deepEqual(parsePressure('some avg10=77.77 avg60=58.48 avg300=49.99 total=328854746\n'), { someTotalUs: 328854746 });
  t.is(parsePressure(''), undefined);
  t.is(parsePressure(undefined), undefined);
});

test('cpuset lists', (t) => {
  t.is(cpuListCount('0-1\n'), 2);
  t.is(cpuListCount('0-3,8,10-11\n'), 7);
  t.is(cpuListCount('\n'), 0);
  t.is(cpuListCount('0-a'), undefined);
});

test('/proc/<pid>/status Threads', (t) => {
  t.is(parseThreads('Name:\tsh\nUmask:\t0022\nState:\tS (sleeping)\nThreads:\t3\nSigQ:\t0/7823\n'), 3);
  t.is(parseThreads('Name:\tsh\n'), undefined);
});

test('hugepage limit files of both hierarchies, page sizes in bytes', (t) => {
  t.deepEqual(hugepageLimitFiles(['hugetlb.2MB.limit_in_bytes', 'hugetlb.2MB.usage_in_bytes', 'hugetlb.1GB.max', 'hugetlb.1GB.current', 'cpu.max']), [
    { pageSize: '2MB', file: 'hugetlb.2MB.limit_in_bytes' },
    { pageSize: '1GB', file: 'hugetlb.1GB.max' },
  ]);
  t.is(pageSizeBytes('2MB'), 2 * 1024 * 1024);
  t.is(pageSizeBytes('64KB'), 64 * 1024);
  t.is(pageSizeBytes('2M'), undefined);
});

test('listen addresses', (t) => {
  t.deepEqual(parseListenAddress('127.0.0.1:9464'), { host: '127.0.0.1', port: 9464 });
  t.deepEqual(parseListenAddress('[::1]:9464'), { host: '::1', port: 9464 });
  t.deepEqual(parseListenAddress(':9464'), { host: '0.0.0.0', port: 9464 });
  t.throws(() => parseListenAddress('127.0.0.1'));
  t.throws(() => parseListenAddress('127.0.0.1:99999'));
});
