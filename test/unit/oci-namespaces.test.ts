// Container namespaces in the OCI spec (server/oci/namespaces.ts) for every CRI namespace
// mode: pid CONTAINER/POD/NODE/TARGET, host network and IPC, UTS, cgroup, user; missing pins.
import test from 'ava';
import { BerthError } from '../../server/errors.js';
import { containerNamespaces, type NamespacePaths } from '../../server/oci/namespaces.js';
import { namespaceOptions } from './oci-fixtures.js';

const PATHS: NamespacePaths = {
  network: '/run/berth/ns/s1/net',
  ipc: '/run/berth/ns/s1/ipc',
  uts: '/run/berth/ns/s1/uts',
  podPid: '/proc/4242/ns/pid',
  targetPid: '/proc/5151/ns/pid',
};

const kinds = (plan: ReturnType<typeof containerNamespaces>) => plan.namespaces.map((n) => (n.path ? `${n.type}=${n.path}` : n.type));

test('default (pid CONTAINER): new pid and mount, pod network/ipc/uts by path', (t) => {
  const plan = containerNamespaces(namespaceOptions(), null, PATHS, false);
  t.deepEqual(kinds(plan), ['pid', 'network=/run/berth/ns/s1/net', 'ipc=/run/berth/ns/s1/ipc', 'uts=/run/berth/ns/s1/uts', 'mount']);
  t.false(plan.newUts);
  t.false(plan.hostNetwork);
});

test('pid POD joins the pod init\'s namespace', (t) => {
  const plan = containerNamespaces(namespaceOptions({ pid: 'POD' }), null, PATHS, false);
  t.deepEqual(plan.namespaces[0], { type: 'pid', path: '/proc/4242/ns/pid' });
});

test('pid NODE: no pid namespace entry (the host\'s)', (t) => {
  const plan = containerNamespaces(namespaceOptions({ pid: 'NODE' }), null, PATHS, false);
  t.false(plan.namespaces.some((n) => n.type === 'pid'));
  t.true(plan.hostPid);
});

test('pid TARGET joins the target container\'s namespace', (t) => {
  const plan = containerNamespaces(namespaceOptions({ pid: 'TARGET', target_id: 'c0' }), null, PATHS, false);
  t.deepEqual(plan.namespaces[0], { type: 'pid', path: '/proc/5151/ns/pid' });
  t.throws(() => containerNamespaces(namespaceOptions({ pid: 'TARGET' }), null, PATHS, false), { instanceOf: BerthError });
});

test('network NODE: no network and no uts entry (host network means host hostname)', (t) => {
  const plan = containerNamespaces(namespaceOptions({ network: 'NODE' }), null, PATHS, false);
  t.deepEqual(kinds(plan), ['pid', 'ipc=/run/berth/ns/s1/ipc', 'mount']);
  t.true(plan.hostNetwork);
  t.false(plan.newUts);
});

test('ipc NODE: no ipc entry', (t) => {
  const plan = containerNamespaces(namespaceOptions({ ipc: 'NODE' }), null, PATHS, false);
  t.false(plan.namespaces.some((n) => n.type === 'ipc'));
  t.true(plan.hostIpc);
});

test('a pod without a pinned UTS namespace gets a new one (and may set a hostname)', (t) => {
  const plan = containerNamespaces(namespaceOptions(), null, { ...PATHS, uts: undefined }, false);
  t.true(plan.namespaces.some((n) => n.type === 'uts' && n.path === undefined));
  t.true(plan.newUts);
});

test('cgroup namespace only when asked (v2, unprivileged)', (t) => {
  t.true(containerNamespaces(namespaceOptions(), null, PATHS, true).namespaces.some((n) => n.type === 'cgroup'));
  t.false(containerNamespaces(namespaceOptions(), null, PATHS, false).namespaces.some((n) => n.type === 'cgroup'));
});

test('missing pod namespaces are a FailedPrecondition', (t) => {
  t.is(t.throws(() => containerNamespaces(namespaceOptions(), null, { ipc: '/x', uts: '/y' }, false), { instanceOf: BerthError })?.kind, 'FailedPrecondition');
  t.is(t.throws(() => containerNamespaces(namespaceOptions({ pid: 'POD' }), null, { ...PATHS, podPid: undefined }, false), { instanceOf: BerthError })?.kind, 'FailedPrecondition');
});

test('the sandbox\'s options apply when the container has none', (t) => {
  const plan = containerNamespaces(null, namespaceOptions({ network: 'NODE', pid: 'POD' }), PATHS, false);
  t.true(plan.hostNetwork);
  t.deepEqual(plan.namespaces[0], { type: 'pid', path: '/proc/4242/ns/pid' });
});

test('user namespaces other than NODE are not supported yet', (t) => {
  const err = t.throws(() => containerNamespaces(namespaceOptions({ userns_options: { mode: 'POD', uids: [], gids: [] } }), null, PATHS, false), { instanceOf: BerthError });
  t.is(err?.kind, 'Unimplemented');
  t.notThrows(() => containerNamespaces(namespaceOptions({ userns_options: { mode: 'NODE', uids: [], gids: [] } }), null, PATHS, false));
});
