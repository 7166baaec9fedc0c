// The procfs/sysfs parsers of metrics/host-files.ts (/proc/<pid>/status threads, hugepage
// sizes, /proc/net/dev) and the listen-address parser, on real file contents. The cgroup files' parsers are
// the cgroup manager's (test/unit/cgroup-limits.test.ts, cgroup-files.test.ts).
import test from 'ava';
import { readFileSync } from 'node:fs';
import { pageSizeBytes, parseNetDev, parseThreads } from '../../metrics/host-files.js';
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

test('/proc/net/dev: receive and transmit counters per interface; this host\'s file parses', (t) => {
  const text = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo: 29846641576  867435    0    0    0     0          0         0 29846641576  867435    0    0    0     0       0          0
vethb1c2d3e4:    1426      17    1    2    0     0          0         0     9216      88    3    4    0     0       0          0
`;
  const m = parseNetDev(text);
  t.deepEqual([...m.keys()], ['lo', 'vethb1c2d3e4']);
  t.deepEqual(m.get('vethb1c2d3e4'), { rx_bytes: 1426, rx_packets: 17, rx_errors: 1, rx_dropped: 2, tx_bytes: 9216, tx_packets: 88, tx_errors: 3, tx_dropped: 4 });
  const host = parseNetDev(readFileSync('/proc/net/dev', 'utf8'));
  t.true(host.has('lo'));
  t.is(host.size, readFileSync('/proc/net/dev', 'utf8').trim().split('\n').length - 2, 'every interface line is understood');
});
