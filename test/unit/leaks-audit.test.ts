// The leak auditor's decisions on a fake host (no root): a temporary root/state tree, a
// mountinfo file, a cgroup v2 tree and hand-made records. Covers what the integration test
// cannot reach on our cgroup v1 test machines: the systemd driver's scopes (attributed only
// to ids with a trace in this instance's state) and the slices berth started; and, for
// cgroupfs, container cgroups below known and leaked pod levels, the shared /berth parent,
// levels that another pod still uses, stale level records; unused layers and blobs, leases,
// interrupted and in-flight creates, and records whose resources are gone.
import test from 'ava';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { auditLeaks, podCgroupPath } from '../../server/audit/leaks.js';
import type { AuditRecords, AuditScope, Finding, KnownContainer, KnownSandbox } from '../../server/audit/types.js';

const id = (c: string) => c.repeat(64);
const X = id('a'); // a container berth forgot, with a bundle: has a trace
const Y = id('d'); // an id with no trace here (another berthd's)
const K = id('c'); // a known, running container
const I = id('e'); // an interrupted create
const J = id('f'); // a create in flight
const P = id('b'); // a pod berth forgot
const S = id('9'); // a known pod

async function fakeHost(t: { teardown(fn: () => Promise<void>): void }) {
  const dir = await mkdtemp(join(tmpdir(), 'berth-leaks-unit-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const root = join(dir, 'root');
  const state = join(dir, 'state');
  const cg = join(dir, 'cg');
  const proc = join(dir, 'proc');
  const mk = (p: string) => mkdir(p, { recursive: true });
  for (const c of [X, K, I, J]) {
    await mk(join(root, 'containers', c));
    await mk(join(state, 'containers', c));
  }
  await mk(join(state, 'runc', X));
  await writeFile(join(await mk(join(state, 'exits')).then(() => join(state, 'exits')), X), '0');
  await mk(join(state, 'sock', X));
  await mk(join(root, 'sandboxes', P));
  await mk(join(state, 'ns', P));
  await mk(join(root, 'sandboxes', S));
  await mk(join(proc, 'self'));
  const mount = (n: number, point: string, fs: string) => `${n} 1 0:${n} / ${point} rw - ${fs} ${fs} rw`;
  await writeFile(
    join(proc, 'self', 'mountinfo'),
    [mount(30, join(root, 'containers', X, 'rootfs'), 'overlay'), mount(31, join(root, 'containers', K, 'rootfs'), 'overlay'), mount(32, join(state, 'ns', P, 'net'), 'nsfs'), mount(33, join(state, 'ns', S, 'net'), 'nsfs')].join('\n') + '\n',
  );
  await mk(join(root, 'layers', 'sha256', id('1')));
  await mk(join(root, 'layers', 'sha256', id('2')));
  await mk(join(root, 'layers', 'sha256', id('3')));
  await mk(join(root, 'content', 'blobs', 'sha256'));
  await writeFile(join(root, 'content', 'blobs', 'sha256', id('4')), 'x');
  await writeFile(join(root, 'content', 'blobs', 'sha256', id('5')), 'y');
  return { root, state, cg, proc };
}

function container(c: string, over: Partial<KnownContainer>, state: string, root: string): KnownContainer {
  return {
    id: c,
    sandboxId: S,
    state: 'CONTAINER_RUNNING',
    creating: false,
    inFlight: false,
    conmonPid: 0,
    paths: { dir: join(root, 'containers', c), rootfs: join(root, 'containers', c, 'rootfs'), upper: '', work: '', bundle: join(state, 'containers', c), exitFile: join(state, 'exits', c), socketDir: join(state, 'sock') },
    cgroupsPath: '',
    handler: 'runc',
    runtimePath: '/usr/sbin/runc',
    runtimeRoot: join(state, 'runc'),
    ...over,
  };
}

function records(h: { root: string; state: string }, over: Partial<AuditRecords> = {}): AuditRecords {
  const sandbox: KnownSandbox = {
    id: S,
    state: 'SANDBOX_READY',
    runtime: { filesDir: join(h.root, 'sandboxes', S), hostnamePath: '', hostsPath: '', resolvConfPath: '', namespaces: { dir: join(h.state, 'ns', S), net: join(h.state, 'ns', S, 'net'), ipc: join(h.state, 'ns', S, 'ipc') }, networkMode: 'POD', ipcMode: 'POD', pidMode: 'CONTAINER', ips: [], cgroup: { path: '/kp/podA', created: [], slice: 'kubepods-used.slice' } },
  };
  return {
    sandboxes: [sandbox],
    containers: [
      container(K, { state: 'CONTAINER_EXITED' }, h.state, h.root),
      container(I, { creating: true, state: 'CONTAINER_CREATED' }, h.state, h.root),
      container(J, { creating: true, inFlight: true, state: 'CONTAINER_CREATED' }, h.state, h.root),
    ],
    podCgroupDirs: [],
    podSlices: [],
    layers: [{ chainId: `sha256:${id('2')}` }, { chainId: `sha256:${id('3')}` }],
    usedLayers: new Set([`sha256:${id('3')}`]),
    usedBlobs: new Set([`sha256:${id('5')}`]),
    leaseHolders: [X, K],
    pinned: () => false,
    ...over,
  };
}

const scope = (h: { root: string; state: string; cg: string; proc: string }, driver: 'cgroupfs' | 'systemd'): AuditScope => ({
  root: h.root,
  state: h.state,
  runtimes: [{ name: 'runc', path: '/usr/sbin/runc', root: join(h.state, 'runc') }],
  cni: { confDir: join(h.root, 'no-cni'), binDirs: [] },
  cgroups: { layout: { mode: 'v2', v1: {}, unified: h.cg }, driver },
  procRoot: h.proc,
});

/** Each finding as `kind id`, 64-hex ids and digests shortened to their first character upper-cased. */
const summary = (f: Finding[]) => f.map((x) => `${x.kind} ${x.id.replace(/[0-9a-f]{64}/g, (m) => m[0]!.toUpperCase())}${x.kind === 'record' ? ` ${x.repair.action}` : ''}`).sort();

test('cgroupfs: container cgroups, pod levels, host directories, image content, leases and records', async (t) => {
  const h = await fakeHost(t);
  const mk = (p: string) => mkdir(join(h.cg, p), { recursive: true });
  await mk(`kp/podA/${K}`);
  await mk(`kp/podA/${id('7')}`); // below a known pod: berth's, unknown
  await mk(`kp/podB/${X}`); // a leaked pod level and its container
  await mk('kp/other-pod'); // /kp is shared with a pod berth did not make: never removed
  await mk(`berth/${X}`); // default parent, with a trace: flagged
  await mk(`berth/${Y}`); // default parent, no trace here: another berthd's
  const recs = records(h, { podCgroupDirs: ['/kp', '/kp/podA', '/kp/podB', '/gone'] });
  const { findings, warnings } = await auditLeaks(scope(h, 'cgroupfs'), () => recs);
  t.deepEqual(warnings, []);
  const s = summary(findings);
  for (const want of [
    'cgroup /kp/podA/7',
    'cgroup /kp/podB',
    'cgroup /kp/podB/A',
    'cgroup /berth/A',
    'record /gone forget-created-cgroup',
    'runtime-container A',
    'rootfs-mount ' + join(h.root, 'containers', 'A', 'rootfs'),
    'netns-pin ' + join(h.state, 'ns', 'B', 'net'),
    'directory ' + join(h.root, 'containers', 'A'),
    'directory ' + join(h.state, 'containers', 'A'),
    'directory ' + join(h.state, 'exits', 'A'),
    'directory ' + join(h.state, 'sock', 'A'),
    'directory ' + join(h.root, 'sandboxes', 'B'),
    'directory ' + join(h.state, 'ns', 'B'),
    'directory ' + join(h.root, 'containers', 'E'),
    'directory ' + join(h.state, 'containers', 'E'),
    'layer sha256:1',
    'layer sha256:2',
    'blob sha256:4',
    'lease A',
    'record E delete-container-record',
    'record 9 mark-sandbox-notready',
  ]) {
    t.true(s.includes(want), `found: ${want}`);
  }
  for (const never of ['cgroup /kp', 'cgroup /kp/podA', 'cgroup /kp/podA/C', 'cgroup /berth/D']) t.false(s.includes(never), `not flagged: ${never}`);
  t.false(findings.some((f) => f.kind !== 'record' && (f.owner === K || f.owner === J || f.owner === S)), 'no resource of a known container, a create in flight or a known pod');
  t.false(s.includes('layer sha256:3') || s.includes('blob sha256:5'), 'used content is not flagged');
  // The exited container K: an exited record is whole without its conmon.
  t.false(s.includes('record C mark-container-exited'));
});

test('a running container whose conmon is gone without an exit file is reported; pinned content is not', async (t) => {
  const h = await fakeHost(t);
  const recs = records(h, { pinned: (k) => k === `sha256:${id('1')}` || k === `sha256:${id('4')}` });
  recs.containers[0] = { ...recs.containers[0]!, state: 'CONTAINER_RUNNING', conmonPid: 0 };
  const s = summary((await auditLeaks(scope(h, 'cgroupfs'), () => recs)).findings);
  t.true(s.includes('record C mark-container-exited'));
  t.true(s.includes('layer sha256:2'), 'an unpinned unused layer still is');
  t.false(s.includes('layer sha256:1'), 'a layer a pull holds is not flagged');
  t.false(s.includes('blob sha256:4'), 'a blob a pull holds is not flagged');
});

test('systemd: berth scopes of ids with a trace here, and slices berth started that hold no known pod', async (t) => {
  const h = await fakeHost(t);
  const mk = (p: string) => mkdir(join(h.cg, p), { recursive: true });
  await mk(`system.slice/berth-${X}.scope`);
  await mk(`system.slice/berth-conmon-${X}.scope`);
  await mk(`system.slice/berth-${Y}.scope`); // no trace here: another berthd's
  await mk(`kubepods.slice/kubepods-used.slice/berth-${K}.scope`);
  await mk('system.slice/cron.service');
  const recs = records(h, { podSlices: ['kubepods.slice', 'kubepods-lost.slice'] });
  const s = summary((await auditLeaks(scope(h, 'systemd'), () => recs)).findings);
  t.true(s.includes('systemd-unit berth-A.scope'));
  t.true(s.includes('systemd-unit berth-conmon-A.scope'));
  t.true(s.includes('systemd-unit kubepods-lost.slice'));
  t.false(s.some((x) => x.includes('berth-D.scope') || x.includes('berth-C.scope') || x === 'systemd-unit kubepods.slice'));
});

test("a pod level named by a known pod's config is in use even before its record names the cgroup (a create in progress)", async (t) => {
  const h = await fakeHost(t);
  await mkdir(join(h.cg, 'kp/podB'), { recursive: true });
  const recs = records(h, { podCgroupDirs: ['/kp', '/kp/podB'] });
  t.true(summary((await auditLeaks(scope(h, 'cgroupfs'), () => recs)).findings).includes('cgroup /kp/podB'));
  recs.sandboxes.push({ ...recs.sandboxes[0]!, id: id('8'), state: 'SANDBOX_NOTREADY', cgroupParent: podCgroupPath({ linux: { cgroup_parent: '/kp/podB' } }, 'cgroupfs') });
  t.false(summary((await auditLeaks(scope(h, 'cgroupfs'), () => recs)).findings).includes('cgroup /kp/podB'));
  t.is(podCgroupPath({ linux: { cgroup_parent: 'kubepods-besteffort-pod1.slice' } }, 'systemd'), '/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice');
  t.is(podCgroupPath({ linux: { cgroup_parent: '../x' } }, 'cgroupfs'), undefined);
  t.is(podCgroupPath({}, 'cgroupfs'), undefined);
});
