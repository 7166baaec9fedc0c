// The cgroup v2 readers against files read from a real v2 kernel: the cgroup of a running
// container (crun under the systemd driver, after UpdateContainerResources to cpu.max
// "100000 200000", shares 1024 and a 128 MiB memory limit) in the test guest (Debian 12,
// Linux 6.1.0-57-amd64, systemd, pure cgroup v2), copied by the guest tier on 2026-12-03.
// What a v1 host cannot show: memory.stat/events/peak, io.stat, pids, hugetlb and PSI of a
// container cgroup, and crun's `container` child of the scope in /proc/<pid>/cgroup.
import test from 'ava';
import { sharesToWeight } from '../../server/cgroups/convert.js';
import { cgroupPathFor, parseProcCgroup } from '../../server/cgroups/proc.js';
import { parseV2Stats } from '../../server/cgroups/stats.js';
import { parsePressure } from '../../server/cgroups/v2/psi.js';

const FILES: Record<string, string> = {
  'cpu.max': '100000 200000\n',
  'cpu.weight': '39\n',
  'cpu.stat': 'usage_usec 3147178\nuser_usec 2227073\nsystem_usec 920105\nnr_periods 52\nnr_throttled 46\nthrottled_usec 2519404\nnr_bursts 0\nburst_usec 0\n',
  'memory.current': '3444736\n',
  'memory.max': '134217728\n',
  'memory.peak': '4726784\n',
  'memory.swap.max': '0\n',
  'memory.events': 'low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n',
  'memory.stat': [
    'anon 65536', 'file 3145728', 'kernel 233472', 'kernel_stack 0', 'pagetables 20480', 'sec_pagetables 0', 'percpu 0', 'sock 0',
    'vmalloc 0', 'shmem 0', 'zswap 0', 'zswapped 0', 'file_mapped 0', 'file_dirty 0', 'file_writeback 0', 'swapcached 0', 'anon_thp 0',
    'file_thp 0', 'shmem_thp 0', 'inactive_anon 61440', 'active_anon 4096', 'inactive_file 3145728', 'active_file 0', 'unevictable 0',
    'slab_reclaimable 163944', 'slab_unreclaimable 26464', 'slab 190408', 'workingset_refault_anon 0', 'workingset_refault_file 0',
    'workingset_activate_anon 0', 'workingset_activate_file 0', 'workingset_restore_anon 0', 'workingset_restore_file 0',
    'workingset_nodereclaim 0', 'pgscan 0', 'pgsteal 0', 'pgscan_kswapd 0', 'pgscan_direct 0', 'pgsteal_kswapd 0', 'pgsteal_direct 0',
    'pgfault 495', 'pgmajfault 0', 'pgrefill 0', 'pgactivate 0', 'pgdeactivate 0', 'pglazyfree 0', 'pglazyfreed 0', 'zswpin 0',
    'zswpout 0', 'thp_fault_alloc 0', 'thp_collapse_alloc 0', '',
  ].join('\n'),
  'io.stat': '254:0 rbytes=0 wbytes=3145728 rios=0 wios=5 dbytes=0 dios=0\n',
  'pids.current': '1\n',
  'pids.max': 'max\n',
  'hugetlb.2MB.current': '0\n',
  'hugetlb.2MB.events': 'max 0\n',
  'hugetlb.2MB.max': 'max\n',
};

const PSI = {
  cpu: 'some avg10=11.85 avg60=2.50 avg300=0.53 total=2227225\nfull avg10=11.85 avg60=2.50 avg300=0.53 total=2217538\n',
  io: 'some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n',
};

const PROC_CGROUP = '0::/berthg9863de21.slice/berthg9863de21-pod1.slice/berth-1a6fe8e650dc939d98b1347a2271f882e9a3e598c4595929fdb6138ec5275e88.scope/container\n';

test('cpu.stat (µs) of a throttled container: usage, user/system and throttling in ns', (t) => {
  t.deepEqual(parseV2Stats(FILES).cpu, {
    usageNs: 3147178000n,
    userNs: 2227073000n,
    systemNs: 920105000n,
    periods: 52n,
    throttledPeriods: 46n,
    throttledNs: 2519404000n,
  });
  t.is(String(sharesToWeight(1024)), FILES['cpu.weight']!.trim(), 'the weight crun wrote for shares 1024 is the design\'s formula');
});

test('memory: current, working set without inactive_file, anon as rss, limit, peak, no OOM yet', (t) => {
  t.deepEqual(parseV2Stats(FILES).memory, {
    usage: 3444736,
    workingSet: 3444736 - 3145728,
    rss: 65536,
    cache: 3145728,
    inactiveFile: 3145728,
    mappedFile: 0,
    pageFaults: 495n,
    majorPageFaults: 0n,
    limit: 134217728,
    maxUsage: 4726784,
    failcnt: 0n,
    oomEvents: 0n,
    oomKills: 0n,
  });
});

test('io.stat (the 3 MiB the container wrote), pids, hugetlb', (t) => {
  const s = parseV2Stats(FILES);
  t.deepEqual(s.io, { readBytes: 0n, writeBytes: 3145728n, readOps: 0n, writeOps: 5n, devices: [{ major: 254, minor: 0, readBytes: 0n, writeBytes: 3145728n, readOps: 0n, writeOps: 5n }] });
  t.deepEqual(s.pids, { current: 1, limit: null });
  t.deepEqual(s.hugetlb, [{ pageSize: '2MB', usage: 0, failcnt: 0n }]);
});

test('PSI of a CPU-bound, throttled container: cpu has a full line on 6.1', (t) => {
  t.deepEqual(parsePressure(PSI.cpu), {
    some: { avg10: 11.85, avg60: 2.5, avg300: 0.53, totalUs: 2227225n },
    full: { avg10: 11.85, avg60: 2.5, avg300: 0.53, totalUs: 2217538n },
  });
  t.is(parsePressure(PSI.io)?.full?.totalUs, 0n);
});

test('/proc/<pid>/cgroup of a crun container under systemd: the container child of the scope', (t) => {
  const path = cgroupPathFor(parseProcCgroup(PROC_CGROUP), { mode: 'v2' });
  t.true(path?.endsWith('.scope/container'));
  t.true(path?.startsWith('/berthg9863de21.slice/berthg9863de21-pod1.slice/berth-'));
});
