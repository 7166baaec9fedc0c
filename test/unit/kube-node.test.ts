// The installer's Kubernetes side (cli/kube.ts, cli/node/kubernetes.ts) against a fake API
// server on loopback (test/helpers/fake-kube.ts: HTTPS with its own CA, nodes in memory,
// requests recorded). No real cluster is used. Covers: the bearer token and the CA (a
// client trusting another CA is refused), labels and annotations by JSON merge patch, taints
// by a resourceVersion-guarded JSON patch retried after a concurrent change (the other
// writer's taint kept), the wait for the node to be Ready on berth after kubelet's switch, the label derived from kubelet's endpoint, the pre-delete protocol
// (uninstall-all annotates, each installer's stay loop uninstalls and answers, labels and
// annotations removed; a failing node named with its reason and asked again by the next
// run; a node without an installer named after the timeout), and stay stopping on SIGTERM.
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { KubeClient } from '../../cli/kube.js';
import { installedState, NodeReporter, parseDuration, stay, uninstallAll, UNINSTALL_ANNOTATION, UNINSTALL_ERROR_ANNOTATION } from '../../cli/node/kubernetes.js';
import { startFakeKube } from '../helpers/fake-kube.js';
import { writeHostFile } from '../helpers/fake-host.js';

const LABEL = 'berth.io/runtime';
const TAINT = 'berth.io/kubelet-switching';

test('the client sends its token, checks the API server against its CA, and patches labels', async (t) => {
  const k = await startFakeKube(['node-a']);
  try {
    const kube = new KubeClient(k.api);
    const r = new NodeReporter(kube, 'node-a', LABEL, undefined, () => {});
    await r.label('installing');
    t.is(k.nodes.get('node-a')!.metadata.labels![LABEL], 'installing');
    t.is(k.nodes.get('node-a')!.metadata.labels!['kubernetes.io/hostname'], 'node-a', 'other labels kept');
    const patch = k.requests.find((q) => q.method === 'PATCH')!;
    t.is(patch.contentType, 'application/merge-patch+json');
    t.deepEqual(patch.body, { metadata: { labels: { [LABEL]: 'installing' } } });
    await t.throwsAsync(new KubeClient({ ...k.api, ca: k.otherCa }).getNode('node-a'), { message: /self[- ]signed|unable to verify|certificate/i });
    await t.throwsAsync(new KubeClient({ ...k.api, token: async () => 'wrong' }).getNode('node-a'), { message: /HTTP 401: Unauthorized/ });
    await t.throwsAsync(kube.getNode('nope'), { message: /HTTP 404: nodes "nope" not found/ });
  } finally {
    await k.close();
  }
});

test('the switch taint is added and removed with a guarded JSON patch, keeping a taint another writer added meanwhile', async (t) => {
  const k = await startFakeKube(['node-a']);
  try {
    k.nodes.get('node-a')!.spec = { taints: [{ key: 'dedicated', value: 'infra', effect: 'NoSchedule' }] };
    const r = new NodeReporter(new KubeClient(k.api), 'node-a', LABEL, TAINT, () => {});
    // Between our GET and PATCH another writer adds a taint: the test op fails, we retry on the fresh object.
    k.interfere('node-a', (n) => n.spec!.taints!.push({ key: 'other', effect: 'NoExecute' }));
    await r.taint();
    t.deepEqual(
      k.nodes.get('node-a')!.spec!.taints!.map((x) => `${x.key}:${x.effect}`),
      ['dedicated:NoSchedule', 'other:NoExecute', `${TAINT}:NoSchedule`],
    );
    const patches = k.requests.filter((q) => q.contentType === 'application/json-patch+json');
    t.is(patches.length, 2, 'one conflict, one retry');
    t.like((patches[0]!.body as unknown[])[0], { op: 'test', path: '/metadata/resourceVersion' });
    await r.taint(); // already there: no write
    t.is(k.requests.filter((q) => q.contentType === 'application/json-patch+json').length, 2);
    await r.untaint();
    t.deepEqual(k.nodes.get('node-a')!.spec!.taints!.map((x) => x.key), ['dedicated', 'other']);
  } finally {
    await k.close();
  }
});

test('after the switch the taint waits for the node to be Ready on berth; a node that is not stays tainted, with the reason', async (t) => {
  const k = await startFakeKube(['node-a']);
  try {
    const r = new NodeReporter(new KubeClient(k.api), 'node-a', LABEL, TAINT, () => {});
    const node = k.nodes.get('node-a')!;
    node.status = { conditions: [{ type: 'Ready', status: 'True' }], nodeInfo: { containerRuntimeVersion: 'containerd://1.7.2' } };
    await t.throwsAsync(r.waitReadyOnBerth(200, 20), { message: /node node-a is not Ready on berth 0 s after kubelet's switch \(Ready=True, runtime containerd:\/\/1\.7\.2\); it stays tainted berth\.io\/kubelet-switching:NoSchedule/ });
    setTimeout(() => (node.status = { conditions: [{ type: 'Ready', status: 'True' }], nodeInfo: { containerRuntimeVersion: 'berth://0.1.0' } }), 100);
    await r.waitReadyOnBerth(10_000, 20);
    t.pass();
  } finally {
    await k.close();
  }
});

test('the node is "running" only when kubelet\'s endpoint is berth\'s socket', (t) => {
  const root = mkdtempSync(join(tmpdir(), 'berth-kube-node-'));
  try {
    writeHostFile(root, '/var/lib/kubelet/config.yaml', 'kind: KubeletConfiguration\ncontainerRuntimeEndpoint: unix:///run/containerd/containerd.sock\n');
    t.is(installedState(root), 'installed');
    writeHostFile(root, '/var/lib/kubelet/config.yaml', 'kind: KubeletConfiguration\ncontainerRuntimeEndpoint: unix:///run/berth/berth.sock\n');
    t.is(installedState(root), 'running');
    writeHostFile(root, '/etc/berth/config.toml', 'socket = "/run/berth2/berth.sock"\n');
    t.is(installedState(root), 'installed', 'berth configured on another socket');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('uninstall-all asks every labelled node, each installer uninstalls and answers; a failure is named and asked again', async (t) => {
  const k = await startFakeKube(['node-a', 'node-b', 'node-c']);
  const root = mkdtempSync(join(tmpdir(), 'berth-kube-node-'));
  let stopInstallers!: () => void;
  const stopped = new Promise<void>((r) => (stopInstallers = r));
  try {
    const kube = new KubeClient(k.api);
    for (const n of ['node-a', 'node-b']) await kube.patchMeta(n, { labels: { [LABEL]: 'running' } });
    const uninstalled: string[] = [];
    let bFails = true;
    const loops = ['node-a', 'node-b'].map((n) =>
      stay(new NodeReporter(kube, n, LABEL, undefined, () => {}), {
        hostRoot: root,
        pollMs: 20,
        stopped,
        uninstall: async () => {
          if (n === 'node-b' && bFails) throw new Error('1 pod(s) still run on berth: default/web');
          uninstalled.push(n);
        },
      }),
    );
    const log: string[] = [];
    await t.throwsAsync(uninstallAll(kube, { labelKey: LABEL, timeoutMs: 20_000, pollMs: 20, log: (l) => log.push(l) }), {
      message: /failed on node-b \(1 pod\(s\) still run on berth: default\/web\)/,
    });
    t.deepEqual(uninstalled, ['node-a']);
    const a = k.nodes.get('node-a')!.metadata;
    t.false(LABEL in (a.labels ?? {}), 'label removed from the node that is done');
    t.false(UNINSTALL_ANNOTATION in (a.annotations ?? {}));
    const b = k.nodes.get('node-b')!.metadata;
    t.is(b.labels![LABEL], 'uninstall-failed');
    t.is(b.annotations![UNINSTALL_ANNOTATION], 'failed');
    t.false(LABEL in (k.nodes.get('node-c')!.metadata.labels ?? {}), 'an unlabelled node is not asked');
    t.is(k.nodes.get('node-c')!.metadata.annotations, undefined);

    // The operator drains node-b and runs helm uninstall again: only node-b is asked.
    bFails = false;
    t.deepEqual(await uninstallAll(kube, { labelKey: LABEL, timeoutMs: 20_000, pollMs: 20, log: () => {} }), ['node-b']);
    t.deepEqual(uninstalled, ['node-a', 'node-b']);
    t.false(LABEL in (k.nodes.get('node-b')!.metadata.labels ?? {}));
    t.false(UNINSTALL_ERROR_ANNOTATION in (k.nodes.get('node-b')!.metadata.annotations ?? {}));
    t.true(log.some((l) => /asked 2 node\(s\)/.test(l)));
    stopInstallers();
    await Promise.all(loops);
  } finally {
    stopInstallers();
    await k.close();
    rmSync(root, { recursive: true, force: true });
  }
});

test('uninstall-all names a node whose installer never answers, after the timeout', async (t) => {
  const k = await startFakeKube(['node-a']);
  try {
    const kube = new KubeClient(k.api);
    await kube.patchMeta('node-a', { labels: { [LABEL]: 'running' } });
    await t.throwsAsync(uninstallAll(kube, { labelKey: LABEL, timeoutMs: 200, pollMs: 20, log: () => {} }), { message: /no answer within 0 s from node-a \(is the installer pod running there\?\)/ });
    t.is(k.nodes.get('node-a')!.metadata.annotations![UNINSTALL_ANNOTATION], 'requested', 'left asked for the next run');
    t.deepEqual(await uninstallAll(new KubeClient(k.api), { labelKey: 'berth.io/other', timeoutMs: 200, pollMs: 20, log: () => {} }), []);
  } finally {
    await k.close();
  }
});

test('the stay loop keeps the label current and returns when stopped', async (t) => {
  const k = await startFakeKube(['node-a']);
  const root = mkdtempSync(join(tmpdir(), 'berth-kube-node-'));
  let stop!: () => void;
  const stopped = new Promise<void>((r) => (stop = r));
  try {
    const kube = new KubeClient(k.api);
    await kube.patchMeta('node-a', { labels: { [LABEL]: 'installed' } });
    writeHostFile(root, '/var/lib/kubelet/config.yaml', 'kind: KubeletConfiguration\ncontainerRuntimeEndpoint: unix:///run/berth/berth.sock\n');
    const loop = stay(new NodeReporter(kube, 'node-a', LABEL, undefined, () => {}), { hostRoot: root, pollMs: 20, stopped, uninstall: async () => t.fail('not asked') });
    const until = Date.now() + 10_000;
    while (k.nodes.get('node-a')!.metadata.labels![LABEL] !== 'running' && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    t.is(k.nodes.get('node-a')!.metadata.labels![LABEL], 'running', 'the operator switched kubelet: the label follows');
    stop();
    await loop;
  } finally {
    stop();
    await k.close();
    rmSync(root, { recursive: true, force: true });
  }
});

test('--timeout takes seconds or minutes', (t) => {
  t.is(parseDuration('300s'), 300_000);
  t.is(parseDuration('300'), 300_000);
  t.is(parseDuration('5m'), 300_000);
  t.throws(() => parseDuration('5h'), { message: /give seconds/ });
});
