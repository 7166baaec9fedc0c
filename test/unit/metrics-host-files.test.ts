// The procfs/sysfs parsers of metrics/host-files.ts (/proc/<pid>/status threads, hugepage
// sizes) and the listen-address parser, on real file contents. The cgroup files' parsers are
// the cgroup manager's (test/unit/cgroup-limits.test.ts, cgroup-files.test.ts).
import test from 'ava';
import { pageSizeBytes, parseThreads } from '../../metrics/host-files.js';
import { parseListenAddress } from '../../metrics/address.js';

test('/proc/<pid>/status Threads', (t) => {
  t.is(parseThreads('Name:\tsh\nUmask:\t0022\nState:\tS (sleeping)\nThreads:\t3\nSigQ:\t0/7823\n'), 3);
  t.is(parseThreads('Name:\tsh\n'), undefined);
});

test('page sizes in bytes', (t) => {
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
