// The cgroup drivers and the one manager over them, without root or systemd: which driver
// "auto" picks per host; the systemd driver against a fake systemctl/busctl (an injected
// command runner that keeps unit state and makes the slice directories in a temp tree, as
// systemd would), starting a pod slice only when missing and stopping only what it started;
// the cgroupfs driver's shared parents on a temp v1 tree; the manager reading a container's
// cgroup from /proc/<pid>/cgroup (crun's child of the scope), refusing path-form parents
// under systemd, and splitting a live update between the runtime and the cgroup files; the
// OOM kills told by the
// cgroup (or its parent) when conmon's marker is missing.
import test from 'ava';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BerthError } from '../../server/errors.js';
import { resolveCgroupDriver } from '../../server/cgroups/config.js';
import type { CgroupHost, CgroupLayout } from '../../server/cgroups/detect.js';
import { cgroupfsDriver, CreatedCgroups } from '../../server/cgroups/cgroupfs.js';
import { createCgroups } from '../../server/cgroups/manager.js';
import { expandSlice } from '../../server/cgroups/paths.js';
import { sliceAncestry, systemdPathOf } from '../../server/cgroups/systemd.js';
import type { CommandRunner } from '../../server/cgroups/systemd-client.js';

const V2: CgroupLayout = { mode: 'v2', v1: {}, unified: '/sys/fs/cgroup', unifiedControllers: ['cpu', 'memory', 'pids'] };
const HYBRID: CgroupLayout = { mode: 'hybrid', v1: { memory: '/sys/fs/cgroup/memory' }, unified: '/sys/fs/cgroup/unified', systemdHierarchy: '/sys/fs/cgroup/systemd' };
const V1: CgroupLayout = { mode: 'v1', v1: { memory: '/sys/fs/cgroup/memory' } };

function settings() {
  const m = new Map<string, string>();
  return { get: (k: string) => m.get(k), set: (k: string, v: string) => void m.set(k, v), map: m };
}

test('auto: systemd only where systemd is PID 1 on v2 or hybrid-with-name=systemd; explicit systemd elsewhere fails', (t) => {
  const host = (layout: CgroupLayout, systemd: boolean): CgroupHost => ({ layout, systemd });
  t.is(resolveCgroupDriver('auto', host(V2, true)), 'systemd');
  t.is(resolveCgroupDriver('auto', host(HYBRID, true)), 'systemd');
  t.is(resolveCgroupDriver('auto', host(HYBRID, false)), 'cgroupfs', 'our hybrid test hosts: PID 1 is not systemd');
  t.is(resolveCgroupDriver('auto', host(V2, false)), 'cgroupfs');
  t.is(resolveCgroupDriver('auto', host(V1, true)), 'cgroupfs', 'plain v1');
  t.is(resolveCgroupDriver('cgroupfs', host(V2, true)), 'cgroupfs');
  t.is(resolveCgroupDriver('systemd', host(V2, true)), 'systemd');
  const err = t.throws(() => resolveCgroupDriver('systemd', host(HYBRID, false)), { instanceOf: BerthError });
  t.regex(err!.message, /needs systemd as PID 1/);
  t.throws(() => resolveCgroupDriver('systemd', host(V1, true)), { message: /name=systemd hierarchy or cgroup v2/ });
});

/**
 * A fake systemd: units in a set; `systemctl start X.slice` starts the slice and its parents
 * and makes their directories under `tree`; `stop` removes the directory (and fails if it has
 * children, which systemd would have stopped too: the driver must not get there); busctl
 * StartTransientUnit makes the scope and moves the PIDs (writes their /proc/<pid>/cgroup).
 */
function fakeSystemd(t: { teardown: (fn: () => void) => void }, active: string[] = []) {
  const base = mkdtempSync(join(tmpdir(), 'berth-sd-'));
  t.teardown(() => rmSync(base, { recursive: true, force: true }));
  const tree = join(base, 'cgroup');
  const proc = join(base, 'proc');
  mkdirSync(tree);
  mkdirSync(proc);
  const units = new Set<string>();
  const calls: string[][] = [];
  /** Result= of units (systemd keeps a failed unit's result until reset-failed). */
  const results = new Map<string, string>();
  const startSlice = (slice: string) => {
    for (const s of sliceAncestry(slice)) {
      units.add(s);
      mkdirSync(join(tree, expandSlice(s)), { recursive: true });
    }
  };
  for (const a of active) startSlice(a);
  const runner: CommandRunner = async (file, args) => {
    calls.push([file, ...args]);
    const ok = { code: 0, stdout: '', stderr: '' };
    if (file === 'systemctl' && args[0] === 'is-active') return units.has(args[2]!) ? ok : { code: 3, stdout: '', stderr: '' };
    if (file === 'systemctl' && args[0] === 'show') return { code: 0, stdout: `${results.get(args[4]!) ?? 'success'}\n`, stderr: '' };
    if (file === 'systemctl' && args[0] === 'start') {
      startSlice(args[1]!);
      return ok;
    }
    if (file === 'systemctl' && args[0] === 'stop') {
      const u = args[1]!;
      if (!units.delete(u)) return { code: 5, stdout: '', stderr: `Failed to stop ${u}: Unit ${u} not loaded.` };
      if (existsSync(join(tree, expandSlice(u)))) rmdirSync(join(tree, expandSlice(u)));
      return ok;
    }
    if (file === 'busctl' && args[4] === 'StartTransientUnit') {
      const scope = args[6]!;
      const props = args.slice(9);
      const slice = props[props.indexOf('Slice') + 2]!;
      const pids = props.slice(props.indexOf('PIDs') + 3, props.indexOf('PIDs') + 3 + Number(props[props.indexOf('PIDs') + 2]));
      const path = `${expandSlice(slice)}/${scope}`;
      mkdirSync(join(tree, path), { recursive: true });
      units.add(scope);
      for (const pid of pids) {
        mkdirSync(join(proc, pid), { recursive: true });
        writeFileSync(join(proc, pid, 'cgroup'), `0::${path}\n`);
      }
      return { code: 0, stdout: 'o "/org/freedesktop/systemd1/job/1"\n', stderr: '' };
    }
    return { code: 1, stdout: '', stderr: `unexpected ${file} ${args.join(' ')}` };
  };
  const layout: CgroupLayout = { mode: 'v2', v1: {}, unified: tree, unifiedControllers: ['cpu', 'memory', 'pids', 'hugetlb'] };
  return { tree, proc, units, calls, runner, layout, results };
}

test('systemd: a missing pod slice is started with its parents, and stopping takes only what berth started', async (t) => {
  const sd = fakeSystemd(t);
  const st = settings();
  const cg = createCgroups({ layout: sd.layout, systemd: true }, { setting: 'auto', settings: st, runner: sd.runner, procRoot: sd.proc });
  t.is(cg.driver, 'systemd');
  t.true(cg.runtimeSystemd);

  const pod1 = await cg.createPod('kubepods-besteffort-pod1.slice');
  t.deepEqual(pod1, { path: '/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice', created: [], slice: 'kubepods-besteffort-pod1.slice', sliceStarted: true });
  t.true(existsSync(join(sd.tree, pod1.path)));
  t.deepEqual(JSON.parse(st.map.get('pod_slices')!), ['kubepods-besteffort.slice', 'kubepods.slice'], 'the parents are shared, kept in the store');
  const pod2 = await cg.createPod('kubepods-besteffort-pod2.slice');

  // A container of pod1: a scope made by the runtime; crun puts the process one level down.
  const c = await cg.containerCgroup(pod1, 'abc');
  t.deepEqual(c, { cgroupsPath: 'kubepods-besteffort-pod1.slice:berth:abc', path: `${pod1.path}/berth-abc.scope`, created: [], parents: [] });
  mkdirSync(join(sd.proc, '4242'));
  writeFileSync(join(sd.proc, '4242', 'cgroup'), `0::${c.path}/container\n`);
  t.is(await cg.containerPath({ cgroupsPath: c.cgroupsPath, pid: 4242 }), `${c.path}/container`, 'read from /proc, not assumed');
  t.is(await cg.containerPath({ cgroupsPath: c.cgroupsPath, pid: 4243 }), c.path, 'gone: the scope the runtime was asked for');

  // conmon into a scope of its own in the pod's slice.
  mkdirSync(join(sd.proc, '777'));
  writeFileSync(join(sd.proc, '777', 'cgroup'), '0::/system.slice/berth.service\n');
  await cg.placeMonitor(777, 'abc', pod1);
  t.is(readFileSync(join(sd.proc, '777', 'cgroup'), 'utf8'), `0::${pod1.path}/berth-conmon-abc.scope\n`);
  const call = sd.calls.find((x) => x[0] === 'busctl')!;
  t.deepEqual(call.slice(0, 10), ['busctl', 'call', 'org.freedesktop.systemd1', '/org/freedesktop/systemd1', 'org.freedesktop.systemd1.Manager', 'StartTransientUnit', 'ssa(sv)a(sa(sv))', 'berth-conmon-abc.scope', 'fail', '4']);
  t.deepEqual(call.slice(call.indexOf('PIDs'), call.indexOf('PIDs') + 4), ['PIDs', 'au', '1', '777']);

  // pod1 goes: its slice stops; the parents stay while pod2 is in them.
  rmSync(join(sd.tree, pod1.path), { recursive: true });
  sd.units.delete('berth-conmon-abc.scope');
  await cg.removePod(pod1);
  t.false(sd.units.has('kubepods-besteffort-pod1.slice'));
  t.true(sd.units.has('kubepods-besteffort.slice'));
  // pod2, the last one: the parents berth started go too.
  await cg.removePod(pod2);
  t.deepEqual([...sd.units], []);
  t.deepEqual(JSON.parse(st.map.get('pod_slices')!), []);
  await cg.removePod(pod2); // idempotent
});

test('systemd: a slice kubelet made is used as it is and never stopped', async (t) => {
  const sd = fakeSystemd(t, ['kubepods-burstable-pod9.slice']);
  const cg = createCgroups({ layout: sd.layout, systemd: true }, { setting: 'systemd', settings: settings(), runner: sd.runner, procRoot: sd.proc });
  const pod = await cg.createPod('kubepods-burstable-pod9.slice');
  t.is(pod.sliceStarted, undefined);
  await cg.removePod(pod);
  t.true(sd.units.has('kubepods-burstable-pod9.slice'));
  t.true(sd.units.has('kubepods.slice'));
  t.false(sd.calls.some((c) => c[1] === 'stop'));
});

test('systemd: a path-form cgroup_parent is INVALID_ARGUMENT naming the fix; no parent means system.slice', async (t) => {
  const sd = fakeSystemd(t);
  const cg = createCgroups({ layout: sd.layout, systemd: true }, { setting: 'auto', settings: settings(), runner: sd.runner });
  const err = t.throws(() => cg.parsePodParent('/kubepods/besteffort/pod1'), { instanceOf: BerthError });
  t.is(err!.kind, 'InvalidArgument');
  t.regex(err!.message, /systemd cgroup driver.*kubepods-besteffort-pod<uid>\.slice.*cgroup_driver = "cgroupfs"/);
  t.throws(() => cg.parsePodParent('kubepods--x.slice'), { message: /invalid systemd slice name/ });
  t.is(cg.parsePodParent('kubepods-besteffort-pod1.slice'), 'kubepods-besteffort-pod1.slice');
  t.is((await cg.containerCgroup(undefined, 'abc')).cgroupsPath, 'system.slice:berth:abc');
  t.is(systemdPathOf('system.slice:berth:abc'), '/system.slice/berth-abc.scope');
  t.is(systemdPathOf(':berth:abc'), '/system.slice/berth-abc.scope');
  t.throws(() => systemdPathOf('/kubepods/abc'), { message: /slice:prefix:name/ });
});

test('systemd: a failing systemctl is a clear FAILED_PRECONDITION', async (t) => {
  const runner: CommandRunner = async (_f, args) => (args[0] === 'is-active' ? { code: 3, stdout: '', stderr: '' } : { code: 1, stdout: '', stderr: 'Failed to start x.slice: Access denied\n' });
  const cg = createCgroups({ layout: V2, systemd: true }, { setting: 'systemd', settings: settings(), runner });
  const err = await t.throwsAsync(cg.createPod('x.slice'), { instanceOf: BerthError });
  t.is(err!.kind, 'FailedPrecondition');
  t.regex(err!.message, /systemd could not start x\.slice: Failed to start x\.slice: Access denied/);
});

function v1Tree(t: { teardown: (fn: () => void) => void }) {
  const base = mkdtempSync(join(tmpdir(), 'berth-cgfs-'));
  t.teardown(() => rmSync(base, { recursive: true, force: true }));
  const v1: Record<string, string> = {};
  for (const c of ['cpu', 'memory', 'pids']) mkdirSync((v1[c] = join(base, c)));
  mkdirSync(join(base, 'systemd'));
  mkdirSync(join(base, 'unified'));
  const layout: CgroupLayout = { mode: 'hybrid', v1, unified: join(base, 'unified'), systemdHierarchy: join(base, 'systemd') };
  return { base, layout };
}

test('cgroupfs: pods share the parents berth made; the last pod takes them; kubelet\'s stay', async (t) => {
  const { base, layout } = v1Tree(t);
  const st = settings();
  const cg = createCgroups({ layout, systemd: false }, { setting: 'auto', settings: st });
  t.is(cg.driver, 'cgroupfs');
  t.false(cg.runtimeSystemd);
  mkdirSync(join(base, 'memory', 'kubelet'));
  mkdirSync(join(base, 'cpu', 'kubelet'));
  mkdirSync(join(base, 'pids', 'kubelet'));
  const a = await cg.createPod('/kubelet/kubepods/podA');
  const b = await cg.createPod('/kubelet/kubepods/podB');
  t.deepEqual(a, { path: '/kubelet/kubepods/podA', created: ['/kubelet/kubepods', '/kubelet/kubepods/podA'] });
  t.deepEqual(b.created, ['/kubelet/kubepods/podB'], 'the parent was already there (made by pod A)');
  for (const c of ['cpu', 'memory', 'pids']) t.true(existsSync(join(base, c, 'kubelet/kubepods/podB')));
  t.false(existsSync(join(base, 'systemd', 'kubelet')), 'pods are made in controller hierarchies only');

  // A container's parents runc will make in every hierarchy (name=systemd and cgroup2 too).
  const c = await cg.containerCgroup(a, 'abc');
  t.is(c.cgroupsPath, '/kubelet/kubepods/podA/abc');
  t.deepEqual(c.created.sort(), [join(base, 'systemd', 'kubelet'), join(base, 'systemd', 'kubelet/kubepods'), join(base, 'systemd', 'kubelet/kubepods/podA'), join(base, 'unified', 'kubelet'), join(base, 'unified', 'kubelet/kubepods'), join(base, 'unified', 'kubelet/kubepods/podA')].sort());
  // A hierarchy holding only the top of the parent: the levels below it are runc's to make.
  mkdirSync(join(base, 'systemd', 'kubelet'));
  const partial = await cg.containerCgroup(a, 'ghi');
  t.deepEqual(
    partial.created,
    [join(base, 'unified', 'kubelet'), join(base, 'systemd', 'kubelet/kubepods'), join(base, 'unified', 'kubelet/kubepods'), join(base, 'systemd', 'kubelet/kubepods/podA'), join(base, 'unified', 'kubelet/kubepods/podA')],
    'shallowest first, every hierarchy that lacks a level',
  );
  rmdirSync(join(base, 'systemd', 'kubelet'));
  const none = await cg.containerCgroup(undefined, 'def');
  t.is(none.cgroupsPath, '/berth/def', 'pods without a parent: berth\'s own');

  await cg.removePod(a);
  t.false(existsSync(join(base, 'memory', 'kubelet/kubepods/podA')));
  t.true(existsSync(join(base, 'memory', 'kubelet/kubepods')), 'pod B still uses it');
  await cg.removePod(b);
  t.false(existsSync(join(base, 'memory', 'kubelet/kubepods')));
  t.true(existsSync(join(base, 'memory', 'kubelet')), 'not berth\'s');
  t.deepEqual(JSON.parse(st.map.get(CreatedCgroups.KEY)!), []);
  t.throws(() => cg.parsePodParent('kubepods'), { message: /absolute/ });
  t.is(cg.parsePodParent('kubepods-besteffort-pod1.slice'), '/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice', 'slices keep working under cgroupfs');
});

test('cgroupfs on v2: a pod cgroup enables the controllers its containers need in each ancestor', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'berth-cgfs2-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  writeFileSync(join(root, 'cgroup.subtree_control'), '');
  const drv = cgroupfsDriver({ mode: 'v2', v1: {}, unified: root, unifiedControllers: ['cpu', 'memory', 'pids', 'rdma'] }, new CreatedCgroups(settings()));
  const pod = await drv.createPod('/kp/pod1');
  t.is(readFileSync(join(root, 'cgroup.subtree_control'), 'utf8'), '+cpu +memory +pids');
  t.deepEqual(pod.created, ['/kp', '/kp/pod1']);
});

test('updateContainer: the runtime gets what it knows; hugepage limits go to the cgroup the process is in', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'berth-upd-'));
  const proc = mkdtempSync(join(tmpdir(), 'berth-proc-'));
  t.teardown(() => {
    rmSync(root, { recursive: true, force: true });
    rmSync(proc, { recursive: true, force: true });
  });
  mkdirSync(join(root, 'pod/abc/container'), { recursive: true });
  writeFileSync(join(root, 'cgroup.controllers'), 'cpu memory hugetlb\n');
  for (const d of ['', 'pod', 'pod/abc']) writeFileSync(join(root, d, 'cgroup.subtree_control'), '+cpu +memory +hugetlb');
  writeFileSync(join(root, 'pod/abc/container/hugetlb.2MB.max'), 'max\n');
  writeFileSync(join(root, 'pod/abc/container/memory.swap.max'), 'max\n');
  mkdirSync(join(proc, '99'));
  writeFileSync(join(proc, '99', 'cgroup'), '0::/pod/abc/container\n');
  const cg = createCgroups({ layout: { mode: 'v2', v1: {}, unified: root }, systemd: false }, { setting: 'cgroupfs', settings: settings(), procRoot: proc });
  const res = {
    cpu_period: '100000', cpu_quota: '50000', cpu_shares: '512', memory_limit_in_bytes: String(64 << 20), memory_swap_limit_in_bytes: '0',
    cpuset_cpus: '', cpuset_mems: '', hugepage_limits: [{ page_size: '2MB', limit: String(4 << 20) }], unified: {},
  };
  const seen: unknown[] = [];
  await cg.updateContainer({ cgroupsPath: '/pod/abc', pid: 99 }, res, async (r) => void seen.push(r));
  t.deepEqual(seen, [{ cpu: { shares: 512, quota: 50000, period: 100000 }, memory: { limit: 64 << 20, swap: 64 << 20 } }]);
  t.is(readFileSync(join(root, 'pod/abc/container/hugetlb.2MB.max'), 'utf8'), String(4 << 20));

  const v1 = createCgroups({ layout: V1, systemd: false }, { setting: 'cgroupfs', settings: settings() });
  await t.throwsAsync(v1.updateContainer({ cgroupsPath: '/x', pid: 0 }, { ...res, hugepage_limits: [], unified: { 'memory.high': '1' } }, async () => undefined), { message: /needs cgroup v2/ });
});

test('oomKilled: the cgroup\'s OOM-kill count while it exists, else a rise of its parent\'s, else (systemd) the scope\'s Result', async (t) => {
  const sd = fakeSystemd(t);
  const cg = createCgroups({ layout: sd.layout, systemd: true }, { setting: 'systemd', settings: settings(), runner: sd.runner, procRoot: sd.proc });
  const scope = '/system.slice/berth-abc.scope';
  mkdirSync(join(sd.tree, scope), { recursive: true });
  writeFileSync(join(sd.tree, scope, 'memory.current'), '4096\n');
  writeFileSync(join(sd.tree, scope, 'memory.events'), 'low 0\nhigh 0\nmax 3\noom 1\noom_kill 0\noom_group_kill 0\n');
  t.false(await cg.oomKilled({ cgroupsPath: 'system.slice:berth:abc' }), 'hit the limit but nothing was killed');
  writeFileSync(join(sd.tree, scope, 'memory.events'), 'low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\noom_group_kill 0\n');
  t.true(await cg.oomKilled({ cgroupsPath: 'system.slice:berth:abc' }));
  // systemd removed the scope's cgroup: its unit's result is what is left.
  rmSync(join(sd.tree, scope), { recursive: true });
  t.false(await cg.oomKilled({ cgroupsPath: 'system.slice:berth:abc' }));
  sd.results.set('berth-abc.scope', 'oom-kill');
  t.true(await cg.oomKilled({ cgroupsPath: 'system.slice:berth:abc' }));
  t.deepEqual(sd.calls.at(-1), ['systemctl', 'show', '--property', 'Result', '--value', 'berth-abc.scope']);
  sd.results.clear();

  // The parent (here system.slice) counts its children's OOM kills: a rise since the mark
  // taken at create, or at the last exit, is this container's; each rise is told once.
  const parent = join(sd.tree, 'system.slice');
  writeFileSync(join(parent, 'memory.current'), '4096\n');
  writeFileSync(join(parent, 'memory.events'), 'low 0\nhigh 0\nmax 0\noom 4\noom_kill 4\noom_group_kill 0\n');
  await cg.containerCgroup(undefined, 'def');
  t.false(await cg.oomKilled({ cgroupsPath: 'system.slice:berth:def' }), 'kills before the container was made are not its own');
  writeFileSync(join(parent, 'memory.events'), 'low 0\nhigh 0\nmax 0\noom 5\noom_kill 5\noom_group_kill 0\n');
  t.true(await cg.oomKilled({ cgroupsPath: 'system.slice:berth:def' }));
  t.false(await cg.oomKilled({ cgroupsPath: 'system.slice:berth:ghi' }), 'the same kill is not told twice');

  const { base, layout } = v1Tree(t);
  const fs = createCgroups({ layout, systemd: false }, { setting: 'cgroupfs', settings: settings() });
  mkdirSync(join(base, 'memory', 'p', 'c1'), { recursive: true });
  writeFileSync(join(base, 'memory', 'p', 'c1', 'memory.usage_in_bytes'), '4096\n');
  writeFileSync(join(base, 'memory', 'p', 'c1', 'memory.oom_control'), 'oom_kill_disable 0\nunder_oom 0\noom_kill 2\n');
  t.true(await fs.oomKilled({ cgroupsPath: '/p/c1' }));
  t.false(await fs.oomKilled({ cgroupsPath: '/p/gone' }), 'cgroupfs: no cgroup, no second opinion');
});
