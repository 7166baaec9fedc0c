// The v1 and v2 managers against a temp directory that plays the kernel: a new cgroup
// directory comes with the control files of its hierarchy (for v2, only those of controllers
// enabled in the parent's cgroup.subtree_control), and writes to files that do not exist fail.
import test from 'ava';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { BerthError } from '../../server/errors.js';
import { fromCriResources } from '../../server/cgroups/convert.js';
import type { CgroupLayout } from '../../server/cgroups/detect.js';
import { applyWrites, removeCgroupDir } from '../../server/cgroups/fs.js';
import { createCgroupManager } from '../../server/cgroups/hierarchy.js';
import { createV1Manager } from '../../server/cgroups/v1/manager.js';
import { createV2Manager } from '../../server/cgroups/v2/manager.js';
import { resources } from './oci-fixtures.js';

const MiB = 1024 * 1024;
const V1_UNLIMITED = '9223372036854771712\n';

const V1_FILES: Record<string, Record<string, string>> = {
  cpu: { 'cpu.shares': '1024\n', 'cpu.cfs_period_us': '100000\n', 'cpu.cfs_quota_us': '-1\n', 'cpu.stat': 'nr_periods 0\nnr_throttled 0\nthrottled_time 0\n' },
  cpuacct: { 'cpuacct.usage': '0\n', 'cpuacct.stat': 'user 0\nsystem 0\n' },
  cpuset: { 'cpuset.cpus': '\n', 'cpuset.mems': '\n' },
  memory: {
    'memory.limit_in_bytes': V1_UNLIMITED,
    'memory.memsw.limit_in_bytes': V1_UNLIMITED,
    'memory.usage_in_bytes': '0\n',
    'memory.stat': 'total_inactive_file 0\n',
  },
  pids: { 'pids.max': 'max\n', 'pids.current': '0\n' },
  blkio: { 'blkio.throttle.io_service_bytes_recursive': 'Total 0\n', 'blkio.throttle.io_serviced_recursive': 'Total 0\n' },
};

const V2_FILES: Record<string, Record<string, string>> = {
  cpu: { 'cpu.weight': '100\n', 'cpu.max': 'max 100000\n' },
  cpuset: { 'cpuset.cpus': '\n', 'cpuset.mems': '\n' },
  memory: { 'memory.max': 'max\n', 'memory.swap.max': 'max\n', 'memory.current': '0\n', 'memory.stat': 'anon 0\ninactive_file 0\n', 'memory.events': 'oom 0\noom_kill 0\n' },
  pids: { 'pids.max': 'max\n', 'pids.current': '0\n' },
  io: { 'io.stat': '' },
  hugetlb: { 'hugetlb.2MB.max': 'max\n', 'hugetlb.2MB.current': '0\n' },
};

const read = (path: string) => readFileSync(path, 'utf8').trim();

/** A makeDir that populates new directories like cgroupfs does. */
function fakeKernel(hierarchyOf: (dir: string) => { root: string; files: (parent: string) => Record<string, string> }) {
  return async (dir: string): Promise<void> => {
    const { root, files } = hierarchyOf(dir);
    const parts = relative(root, dir).split('/').filter((p) => p !== '');
    for (let i = 1; i <= parts.length; i++) {
      const d = join(root, ...parts.slice(0, i));
      if (existsSync(d)) continue;
      mkdirSync(d);
      for (const [name, content] of Object.entries({ 'cgroup.procs': '', ...files(dirname(d)) })) writeFileSync(join(d, name), content);
    }
  };
}

const rmTree = (dir: string) => rm(dir, { recursive: true, force: true });

function v1Tree(t: { teardown: (fn: () => void) => void }, opts: { memsw?: boolean } = {}) {
  const base = mkdtempSync(join(tmpdir(), 'berth-cg1-'));
  t.teardown(() => rmSync(base, { recursive: true, force: true }));
  const mounts: Record<string, string> = {};
  for (const c of Object.keys(V1_FILES)) {
    mounts[c] = join(base, c);
    mkdirSync(mounts[c] as string);
    writeFileSync(join(base, c, 'cgroup.procs'), '1\n');
  }
  writeFileSync(join(base, 'cpuset', 'cpuset.cpus'), '0-3\n');
  writeFileSync(join(base, 'cpuset', 'cpuset.mems'), '0\n');
  const makeDir = fakeKernel((dir) => {
    const c = relative(base, dir).split('/')[0] ?? '';
    const files = { ...(V1_FILES[c] ?? {}) };
    if (c === 'memory' && opts.memsw === false) delete files['memory.memsw.limit_in_bytes'];
    return { root: join(base, c), files: () => files };
  });
  return { base, mounts, makeDir };
}

function v2Tree(t: { teardown: (fn: () => void) => void }, controllers = 'cpuset cpu io memory hugetlb pids') {
  const root = mkdtempSync(join(tmpdir(), 'berth-cg2-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  writeFileSync(join(root, 'cgroup.controllers'), `${controllers}\n`);
  writeFileSync(join(root, 'cgroup.subtree_control'), '');
  writeFileSync(join(root, 'cgroup.procs'), '1\n');
  const makeDir = fakeKernel(() => ({
    root,
    files: (parent) => {
      const enabled = enabledIn(parent);
      const files: Record<string, string> = { 'cgroup.subtree_control': '', 'cgroup.controllers': enabled.join(' ') };
      for (const c of enabled) Object.assign(files, V2_FILES[c] ?? {});
      return files;
    },
  }));
  return { root, makeDir };
}

/** Controllers enabled in a fake subtree_control, which holds the last "+x +y" written to it. */
function enabledIn(dir: string): string[] {
  return subtreeControlWrites(dir).map((c) => c.replace(/^\+/, ''));
}

/** What was last written to a fake subtree_control. */
function subtreeControlWrites(dir: string): string[] {
  return read(join(dir, 'cgroup.subtree_control')).split(/\s+/).filter((x) => x !== '');
}

test('v1: create makes the cgroup in every hierarchy and fills cpuset from the parent', async (t) => {
  const { base, mounts, makeDir } = v1Tree(t);
  const m = createV1Manager({ mounts, path: '/kubepods/pod1/c1', makeDir, removeDir: rmTree });
  t.is(m.version, 1);
  t.is(m.path, '/kubepods/pod1/c1');
  await m.create();
  for (const c of Object.keys(V1_FILES)) t.true(existsSync(join(base, c, 'kubepods/pod1/c1')), c);
  t.is(read(join(base, 'cpuset/kubepods/cpuset.cpus')), '0-3');
  t.is(read(join(base, 'cpuset/kubepods/pod1/c1/cpuset.cpus')), '0-3');
  t.is(read(join(base, 'cpuset/kubepods/pod1/c1/cpuset.mems')), '0');
  await m.create();
  t.pass('create is idempotent');
});

test('v1: apply writes the converted limits into the right hierarchies', async (t) => {
  const { base, mounts, makeDir } = v1Tree(t);
  const m = createV1Manager({ mounts, path: '/kubepods/pod1/c1', makeDir, removeDir: rmTree });
  await m.create();
  await m.apply(
    fromCriResources(
      resources({ cpu_period: '100000', cpu_quota: '50000', cpu_shares: '512', memory_limit_in_bytes: String(16 * MiB), cpuset_cpus: '1' }),
      { pidsLimit: 64 },
    ),
  );
  const c = (ctl: string, file: string) => read(join(base, ctl, 'kubepods/pod1/c1', file));
  t.is(c('cpu', 'cpu.shares'), '512');
  t.is(c('cpu', 'cpu.cfs_period_us'), '100000');
  t.is(c('cpu', 'cpu.cfs_quota_us'), '50000');
  t.is(c('cpuset', 'cpuset.cpus'), '1');
  t.is(c('memory', 'memory.limit_in_bytes'), String(16 * MiB));
  t.is(c('memory', 'memory.memsw.limit_in_bytes'), String(16 * MiB));
  t.is(c('pids', 'pids.max'), '64');
  // An update changes only what it names.
  await m.apply({ memoryLimit: 32 * MiB, memorySwap: 32 * MiB });
  t.is(c('memory', 'memory.limit_in_bytes'), String(32 * MiB));
  t.is(c('cpu', 'cpu.cfs_quota_us'), '50000');
});

test('v1: without swap accounting memsw is left alone', async (t) => {
  const { base, mounts, makeDir } = v1Tree(t, { memsw: false });
  const m = createV1Manager({ mounts, path: '/c1', makeDir, removeDir: rmTree });
  await m.create();
  await m.apply({ memoryLimit: 16 * MiB, memorySwap: 16 * MiB });
  t.is(read(join(base, 'memory/c1/memory.limit_in_bytes')), String(16 * MiB));
  t.false(existsSync(join(base, 'memory/c1/memory.memsw.limit_in_bytes')));
});

test('v1: a controller the host lacks, and the unified map, are clear errors', async (t) => {
  const { mounts, makeDir } = v1Tree(t);
  const m = createV1Manager({ mounts, path: '/c1', makeDir, removeDir: rmTree });
  await m.create();
  const hugetlb = await t.throwsAsync(m.apply({ hugepageLimits: [{ pageSize: '2MB', limit: 2 * MiB }] }), { instanceOf: BerthError });
  t.is(hugetlb?.kind, 'FailedPrecondition');
  t.regex(hugetlb?.message ?? '', /hugetlb/);
  const unified = await t.throwsAsync(m.apply({ unified: { 'memory.high': '1' } }), { instanceOf: BerthError });
  t.is(unified?.kind, 'InvalidArgument');
});

test('v1: addPid, pids, stats and destroy', async (t) => {
  const { base, mounts, makeDir } = v1Tree(t);
  const m = createV1Manager({ mounts, path: '/kubepods/c1', makeDir, removeDir: rmTree });
  await m.create();
  await m.addPid(4242);
  for (const c of Object.keys(V1_FILES)) t.is(read(join(base, c, 'kubepods/c1/cgroup.procs')), '4242', c);
  t.deepEqual(await m.pids(), [4242]);
  writeFileSync(join(base, 'memory/kubepods/c1/memory.usage_in_bytes'), '1000\n');
  writeFileSync(join(base, 'memory/kubepods/c1/memory.stat'), 'total_inactive_file 300\ntotal_rss 600\n');
  writeFileSync(join(base, 'cpuacct/kubepods/c1/cpuacct.usage'), '123456789\n');
  writeFileSync(join(base, 'pids/kubepods/c1/pids.current'), '1\n');
  const s = await m.stats();
  t.is(s.memory?.workingSet, 700);
  t.is(s.memory?.rss, 600);
  t.is(s.memory?.limit, null);
  t.is(s.cpu?.usageNs, 123456789n);
  t.deepEqual(s.pids, { current: 1, limit: null });
  t.is(s.io?.readBytes, 0n);
  await m.destroy();
  for (const c of Object.keys(V1_FILES)) t.false(existsSync(join(base, c, 'kubepods/c1')), c);
  t.true(existsSync(join(base, 'memory/kubepods')), 'the parent stays');
  await m.destroy();
  t.pass('destroy is idempotent');
});

test('hybrid: hugetlb limits go to the cgroup2 mount, enabled top-down, only when asked', async (t) => {
  const { base, mounts, makeDir: v1MakeDir } = v1Tree(t);
  const unifiedRoot = join(base, 'unified');
  mkdirSync(unifiedRoot);
  writeFileSync(join(unifiedRoot, 'cgroup.controllers'), 'hugetlb\n');
  writeFileSync(join(unifiedRoot, 'cgroup.subtree_control'), '');
  writeFileSync(join(unifiedRoot, 'cgroup.procs'), '1\n');
  const { makeDir: v2MakeDir } = (() => {
    const make = fakeKernel(() => ({
      root: unifiedRoot,
      files: (parent) => {
        return { 'cgroup.subtree_control': '', ...(enabledIn(parent).includes('hugetlb') ? V2_FILES['hugetlb'] : {}) };
      },
    }));
    return { makeDir: make };
  })();
  const makeDir = (dir: string) => (dir.startsWith(unifiedRoot) ? v2MakeDir(dir) : v1MakeDir(dir));
  const layout: CgroupLayout = { mode: 'hybrid', v1: mounts, unified: unifiedRoot, unifiedControllers: ['hugetlb'] };
  const m = createCgroupManager(layout, '/kubepods/c1', { makeDir, removeDir: rmTree });
  t.is(m.version, 1);
  await m.create();
  t.false(existsSync(join(unifiedRoot, 'kubepods')), 'no cgroup2 directory without a hugepage limit');
  t.deepEqual(subtreeControlWrites(unifiedRoot), []);

  await m.addPid(77);
  await m.apply({ hugepageLimits: [{ pageSize: '2MB', limit: 4 * MiB }] });
  t.deepEqual(subtreeControlWrites(unifiedRoot), ['+hugetlb']);
  t.is(read(join(unifiedRoot, 'kubepods/c1/hugetlb.2MB.max')), String(4 * MiB));
  t.is(read(join(unifiedRoot, 'kubepods/c1/cgroup.procs')), '77', 'processes already in the cgroup follow it to cgroup2');

  await m.addPid(78);
  t.is(read(join(unifiedRoot, 'kubepods/c1/cgroup.procs')), '78');
  writeFileSync(join(unifiedRoot, 'kubepods/c1/hugetlb.2MB.current'), '2097152\n');
  t.deepEqual((await m.stats()).hugetlb, [{ pageSize: '2MB', usage: 2097152 }]);
  await m.destroy();
  t.false(existsSync(join(unifiedRoot, 'kubepods/c1')));
});

test('v2: create enables controllers in every ancestor before making the cgroup', async (t) => {
  const { root, makeDir } = v2Tree(t);
  const m = createV2Manager({ root, path: '/kubepods/pod1/c1', makeDir, removeDir: rmTree });
  t.is(m.version, 2);
  await m.create();
  t.deepEqual(subtreeControlWrites(root), ['+cpuset', '+cpu', '+io', '+memory', '+hugetlb', '+pids']);
  t.deepEqual(subtreeControlWrites(join(root, 'kubepods/pod1')), ['+cpuset', '+cpu', '+io', '+memory', '+hugetlb', '+pids']);
  t.true(existsSync(join(root, 'kubepods/pod1/c1/cpu.max')), 'controller files exist because the parent enabled them first');
});

test('v2: only controllers the root offers are enabled', async (t) => {
  const { root, makeDir } = v2Tree(t, 'cpu memory pids');
  await createV2Manager({ root, path: '/c1', makeDir, removeDir: rmTree }).create();
  t.deepEqual(subtreeControlWrites(root), ['+cpu', '+memory', '+pids']);
});

test('v2: apply writes weight, cpu.max, memory.max, swap.max, pids.max and unified keys', async (t) => {
  const { root, makeDir } = v2Tree(t);
  const m = createV2Manager({ root, path: '/kubepods/c1', makeDir, removeDir: rmTree });
  await m.create();
  await m.apply(
    fromCriResources(
      resources({
        cpu_period: '100000',
        cpu_quota: '25000',
        cpu_shares: '1024',
        memory_limit_in_bytes: String(64 * MiB),
        memory_swap_limit_in_bytes: String(96 * MiB),
        hugepage_limits: [{ page_size: '2MB', limit: String(2 * MiB) }],
      }),
      { pidsLimit: 100 },
    ),
  );
  const c = (file: string) => read(join(root, 'kubepods/c1', file));
  t.is(c('cpu.weight'), '39');
  t.is(c('cpu.max'), '25000 100000');
  t.is(c('memory.max'), String(64 * MiB));
  t.is(c('memory.swap.max'), String(32 * MiB));
  t.is(c('pids.max'), '100');
  t.is(c('hugetlb.2MB.max'), String(2 * MiB));

  writeFileSync(join(root, 'kubepods/c1/memory.high'), 'max\n');
  await m.apply({ unified: { 'memory.high': String(48 * MiB) } });
  t.is(c('memory.high'), String(48 * MiB));
  const missing = await t.throwsAsync(m.apply({ unified: { 'memory.zswap.max': '0' } }), { instanceOf: BerthError });
  t.is(missing?.kind, 'FailedPrecondition');
});

test('v2: addPid, stats and destroy', async (t) => {
  const { root, makeDir } = v2Tree(t);
  const m = createV2Manager({ root, path: '/c1', makeDir, removeDir: rmTree });
  await m.create();
  await m.addPid(99);
  t.deepEqual(await m.pids(), [99]);
  writeFileSync(join(root, 'c1/cpu.stat'), 'usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n');
  writeFileSync(join(root, 'c1/memory.current'), '4096\n');
  writeFileSync(join(root, 'c1/memory.stat'), 'anon 1024\nfile 3072\ninactive_file 1024\n');
  writeFileSync(join(root, 'c1/memory.events'), 'oom 1\noom_kill 1\n');
  writeFileSync(join(root, 'c1/io.stat'), '8:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n');
  const s = await m.stats();
  t.is(s.cpu?.usageNs, 1500000n);
  t.like(s.memory, { usage: 4096, workingSet: 3072, rss: 1024, limit: null, oomKills: 1n });
  t.is(s.io?.writeBytes, 20n);
  t.deepEqual(s.pids, { current: 0, limit: null });
  t.deepEqual(s.hugetlb, [{ pageSize: '2MB', usage: 0 }]);
  await m.destroy();
  t.false(existsSync(join(root, 'c1')));
});

test('createCgroupManager picks v2 for a unified layout', (t) => {
  const m = createCgroupManager({ mode: 'v2', v1: {}, unified: '/sys/fs/cgroup' }, 'kubepods/c1');
  t.is(m.version, 2);
  t.is(m.path, '/kubepods/c1');
});

test('applyWrites retries an EINVAL-refused write after the rest, then reports it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-cgw-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'after'), '');
  // /proc/self/oom_score_adj refuses a non-number with EINVAL: a stand-in for a refused cfs period.
  const err = await t.throwsAsync(
    applyWrites(
      [
        { controller: 'x', file: 'oom_score_adj', value: 'not-a-number', retryAfterRest: true },
        { controller: 'x', file: 'after', value: 'written' },
      ],
      (w) => (w.file === 'after' ? dir : '/proc/self'),
    ),
    { instanceOf: BerthError },
  );
  t.is(err?.kind, 'InvalidArgument');
  t.is(read(join(dir, 'after')), 'written', 'the later write went through before the retry');
});

test('removeCgroupDir: missing is fine; a populated plain directory is an error (cgroupfs rmdir semantics)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-cgr-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  await removeCgroupDir(join(dir, 'absent'));
  writeFileSync(join(dir, 'file'), '');
  await t.throwsAsync(removeCgroupDir(dir), { instanceOf: BerthError });
  rmSync(join(dir, 'file'));
  await removeCgroupDir(dir);
  t.false(existsSync(dir));
});
