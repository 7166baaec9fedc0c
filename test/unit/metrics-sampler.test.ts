// The sampler against this host's real cgroup and proc filesystems (read-only): a round
// samples what it can, leaves out (and counts) a target whose read fails or outlasts its
// budget, drops a container whose cgroup does not exist, reuses a round on demand, and
// computes a CPU rate from consecutive readings; a writable-layer walk is reused for a
// hundred times its cost, between 10 s and a minute, and a round walks at most a third of
// the layers, the stalest first.
import test from 'ava';
import { LIMITS_EVERY, Sampler, writableReuseMs, writableWalks, type MetricTarget, type TargetSource } from '../../metrics/sampler.js';
import { cgroupSource } from '../../metrics/cgroup-source.js';
import { readCgroupLayout } from '../../server/cgroups/detect.js';
import { createCgroupManager } from '../../server/cgroups/hierarchy.js';
import { METRIC_SETS, type MetricSet } from '../../metrics/sets.js';

const layout = await readCgroupLayout();
/** The host's hierarchy through the cgroup manager's reader; a container is where its cgroupsPath says. */
const cgroups = cgroupSource({ snapshot: (path, parts) => createCgroupManager(layout, path).snapshot(parts), containerPath: async (ref) => ref.cgroupsPath }, { pressure: true });

const labels = { container: 'c', id: '/', image: 'i', name: 'n', namespace: 'ns', pod: 'p' };
const target = (key: string, cgroupPath: string, extra: Partial<MetricTarget> = {}): MetricTarget => ({ key, kind: 'container', podId: 'p', cgroupPath, labels, startTime: 1, ...extra });

function sampler(targets: MetricTarget[], opts: { timeoutMs?: number; intervalMs?: number } = {}) {
  const errors: string[] = [];
  const rounds: number[] = [];
  const source: TargetSource = { layersRoot: '/tmp', targets: () => targets };
  const s = new Sampler(source, cgroups, {
    intervalMs: opts.intervalMs ?? 0,
    include: new Set<MetricSet>(METRIC_SETS),
    ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
    hooks: { readError: (reason, key) => errors.push(`${key}:${reason}`), round: (_s, _c, n) => rounds.push(n) },
  });
  return { s, errors, rounds };
}

test('the root cgroup is sampled; a cgroup that does not exist is left out without an error', async (t) => {
  const { s, errors, rounds } = sampler([target('root', '/'), target('gone', '/berth-no-such-cgroup-for-sure')]);
  const sample = await s.round();
  const root = sample.targets.get('root');
  t.truthy(root?.cgroup, 'the root cgroup reads');
  t.true((root!.cgroup!.stats.cpu?.usageNs ?? 0n) > 0n);
  t.true(root!.cgroup!.pids.length > 0);
  t.false(sample.targets.has('gone'), 'no cgroup, no series');
  t.deepEqual(errors, []);
  t.deepEqual(rounds, [2]);
});

test('a read that fails is left out and counted; the rest of the round stands', async (t) => {
  // A regular file where a cgroup directory should be: ENOTDIR, a real failing read.
  const { s, errors } = sampler([target('bad', '/cgroup.procs'), target('root', '/')]);
  const sample = await s.round();
  t.deepEqual(errors, ['bad:error']);
  t.true(sample.targets.has('root'));
});

test('a target slower than its budget is left out and counted as a timeout', async (t) => {
  // Walking a large directory as the "writable layer" takes far more than 1 ms.
  const { s, errors } = sampler([target('slow', '/', { upperDir: '/usr' })], { timeoutMs: 1 });
  const sample = await s.round();
  t.false(sample.targets.has('slow'));
  t.deepEqual(errors, ['slow:timeout']);
});

test('on demand: a round younger than a second is reused; concurrent callers share one round', async (t) => {
  const { s, rounds } = sampler([target('root', '/')]);
  const [a, b] = await Promise.all([s.current(), s.current()]);
  t.is(a, b);
  t.is(await s.current(), a);
  t.is(rounds.length, 1);
});

test('CPU rate from consecutive readings of the same target', async (t) => {
  const { s } = sampler([target('root', '/')]);
  await s.round();
  const end = Date.now() + 300;
  while (Date.now() < end) Math.sqrt(Math.random()); // burn some CPU in this process (in the root's subtree)
  const second = await s.round();
  t.true((second.targets.get('root')!.cpuNanoCores ?? 0n) > 0n);
});

test('containers are read where their process is; what the sampler keeps of targets that are gone is dropped', async (t) => {
  const targets: MetricTarget[] = [
    target('c1', '/ignored', { cgroupRef: { cgroupsPath: '/', pid: process.pid } }),
    target('c2', '/', { upperDir: '/tmp/berth-no-such-upper-dir' }),
  ];
  const { s, errors } = sampler(targets);
  const first = await s.round();
  t.deepEqual(errors, []);
  t.is(first.targets.get('c1')?.target.labels.id, '/', 'the id label names the cgroup the process is in');
  t.true(s.held() > 0);
  targets.length = 0;
  await s.round();
  t.is(s.held(), 0, 'CPU readings, writable-layer caches and process locations of gone targets are pruned');
});

test('limits: read at first sight, then one target in LIMITS_EVERY per round, and at the next round after limitsChanged', async (t) => {
  // A fake cgroup source that counts whose limits are read (usage is read every time).
  const limitReads: string[] = [];
  let quota = 50000;
  const counting = {
    read(path: string, limits?: { hugepages: [] }) {
      if (!limits) limitReads.push(path);
      return { stats: {}, limits: limits ?? { hugepages: [], cpuQuotaUs: quota }, pids: [] };
    },
    containerPath: async (ref: { cgroupsPath: string }) => ref.cgroupsPath,
  };
  const targets = Array.from({ length: 12 }, (_, i) => ({ ...target(`pod:${(0x1000 + i).toString(16)}`, `/p${i}`), kind: 'pod' as const }));
  const s = new Sampler({ layersRoot: '/tmp', targets: () => targets }, counting as never, { intervalMs: 0, include: new Set<MetricSet>(['cpu']) });
  await s.round();
  t.is(limitReads.length, 12, 'every target has its limits read the first time');
  limitReads.length = 0;
  for (let i = 0; i < LIMITS_EVERY; i++) await s.round();
  t.deepEqual([...limitReads].sort(), targets.map((x) => x.cgroupPath!).sort(), `over ${LIMITS_EVERY} rounds each target's limits are read once`);
  limitReads.length = 0;
  quota = 30000;
  s.limitsChanged('pod:1003');
  const next = await s.round();
  t.true(limitReads.includes('/p3'), 'a target whose limits berth changed is read again at the next round');
  t.is(next.targets.get('pod:1003')!.cgroup!.limits.cpuQuotaUs, 30000);
  t.true(limitReads.length < 12, 'the others keep theirs');
  const kept = [...next.targets.values()].find((x) => !limitReads.includes(x.target.cgroupPath!))!;
  t.is(kept.cgroup!.limits.cpuQuotaUs, 50000, 'a kept reading carries its limits on');
});

test('a writable-layer walk is reused for a hundred times its cost, between 10 s and a minute', (t) => {
  t.is(writableReuseMs(0), 10_000);
  t.is(writableReuseMs(2), 10_000, 'a small layer: as fresh as containerd');
  t.is(writableReuseMs(250), 25_000);
  t.is(writableReuseMs(5_000), 60_000, 'a huge layer: cAdvisor\'s minute at most');
});

test('a round walks the writable layers past their reuse time, the stalest first, at most a third of them', (t) => {
  const now = 1_000_000;
  const keys = Array.from({ length: 9 }, (_, i) => `c${i}`);
  const last = new Map(keys.map((k, i) => [k, { at: now - 11_000 - i * 1000, reuseMs: 10_000 }]));
  last.set('c8', { at: now - 5_000, reuseMs: 10_000 }); // fresh: not due
  last.delete('c0'); // never walked: first
  t.deepEqual([...writableWalks(keys, last, now)], ['c0', 'c7', 'c6']);
  t.deepEqual([...writableWalks(['c8'], last, now)], [], 'nothing due');
  t.deepEqual([...writableWalks(['c1'], last, now)], ['c1'], 'one container: walked whenever due');
});
