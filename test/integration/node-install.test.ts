// `berth node install` / `uninstall` on a fake node: a host root under /tmp/berth-test-*
// (test/helpers/fake-host.ts) with a fake host-command runner that plays systemd and apt
// and runs the installed bundle's berthd for real. Covers: the files laid out and the
// commands run, CRI answering from the installed copy, idempotence, an interrupted
// install and uninstall finished by the next run, an upgrade (current switched, berthd
// restarted, the new release answering), an operator's config and an existing berth link
// left or restored, missing programs (apt on Debian, a refusal naming them elsewhere),
// kubelet's endpoint switched and restored in its config file and in its flags, the
// refusal while a fake previous runtime still runs pods (and --ignore-pod, --force), the
// refusal of a store a newer release migrated, --dry-run changing nothing, --config (the
// chart's config) and `berth node status`, the chart's installer (installOnNode against a
// fake API server on loopback: the node label through the install, the switch taint held
// exactly while kubelet restarts onto berth, and the pre-delete hook's request answered by
// the stay loop), and uninstall
// leaving the node exactly as before (every path, mode, checksum and link target).
// Not covered here (the guest tier's test/system/node-install.sh does it under real
// systemd): systemd itself, real apt/dpkg, nsenter into PID 1, kubelet.
import test from 'ava';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import Database from 'better-sqlite3';
import { buildBundle, RELEASE_FILE, type ReleaseInfo } from '../../release/bundle.js';
import { install, installOnNode, type InstallOptions } from '../../cli/node/install.js';
import { KubeClient } from '../../cli/kube.js';
import { NodeReporter, uninstallAll } from '../../cli/node/kubernetes.js';
import { startFakeKube } from '../helpers/fake-kube.js';
import { uninstall } from '../../cli/node/uninstall.js';
import { statusCommand } from '../../cli/node/status.js';
import { sha256 } from '../../cli/node/bundle.js';
import { loadCri } from '../../wire/cri/proto.js';
import { criCall } from '../../cli/node/cri.js';
import { FakeHost, makeFakeNode, snapshot, writeHostFile } from '../helpers/fake-host.js';
import { isRoot, TEST_PREFIX } from '../helpers/berthd.js';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const dist = fileURLToPath(new URL('../../', import.meta.url));

let work = '';
let bundle = '';
let bundle2 = '';
let version = '';

/** A copy of `from` that calls itself `v` (its package.json, VERSION and release file), for upgrade tests. */
async function reversioned(from: string, to: string, v: string): Promise<void> {
  cpSync(from, to, { recursive: true });
  const info = JSON.parse(readFileSync(join(to, RELEASE_FILE), 'utf8')) as ReleaseInfo;
  const pkg = JSON.parse(readFileSync(join(to, 'package.json'), 'utf8')) as { version: string };
  pkg.version = v;
  writeFileSync(join(to, 'package.json'), JSON.stringify(pkg, null, 2) + '\n');
  writeFileSync(join(to, 'VERSION'), v + '\n');
  for (const f of info.files) if (f.path === 'package.json' || f.path === 'VERSION') Object.assign(f, { sha256: await sha256(join(to, f.path)), size: readFileSync(join(to, f.path)).length });
  info.version = v;
  writeFileSync(join(to, RELEASE_FILE), JSON.stringify(info));
}

test.before(async () => {
  if (!isRoot()) return;
  work = mkdtempSync(TEST_PREFIX + 'install-');
  const r = await buildBundle({ repo, dist, outDir: join(work, 'out'), tarball: false });
  bundle = r.stage;
  version = r.info.version;
  bundle2 = join(work, 'bundle2');
  await reversioned(bundle, bundle2, `${version}-next`);
});

test.after.always(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

let nodes = 0;
async function node(t: { teardown(fn: () => Promise<void> | void): void }, opts: Parameters<typeof makeFakeNode>[1] = {}) {
  const root = join(work, `node-${++nodes}`);
  makeFakeNode(root, opts);
  const host = new FakeHost(root);
  t.teardown(async () => {
    await host.stopBerthd();
  });
  const lines: string[] = [];
  const deps = { host, log: (l: string) => lines.push(l) };
  const base: InstallOptions = { bundle, hostRoot: root, switchKubelet: false, force: false, dryRun: false, ignorePods: [], criTimeoutMs: 30_000 };
  return {
    root,
    host,
    lines,
    install: (o: Partial<InstallOptions> = {}) => install({ ...base, ...o }, deps),
    uninstall: (o: { force?: boolean; dryRun?: boolean } = {}) => uninstall({ hostRoot: root, force: o.force ?? false, dryRun: o.dryRun ?? false }, deps),
  };
}

const maybe = isRoot() ? test.serial : test.serial.skip;

maybe('install lays out the bundle, config, network and unit, starts berth until CRI answers; again changes nothing; uninstall restores the node exactly', async (t) => {
  const n = await node(t);
  const before = snapshot(n.root);
  await n.install();
  const after = snapshot(n.root);
  const added = Object.keys(after).filter((p) => !(p in before));
  const top = added.filter((p) => !p.startsWith(`/opt/berth/${version}/`) && !p.startsWith('/run/berth/') && !p.startsWith('/var/lib/berth/'));
  t.deepEqual(top.sort(), [
    '/etc/berth',
    '/etc/berth/config.toml',
    '/etc/cni',
    '/etc/cni/net.d',
    '/etc/cni/net.d/10-berth.conflist',
    '/etc/systemd/system/berth.service',
    '/opt',
    '/opt/berth',
    `/opt/berth/${version}`,
    '/opt/berth/current',
    '/run',
    '/run/berth',
    '/usr/local',
    '/usr/local/bin',
    '/usr/local/bin/berth',
    '/usr/local/bin/berthd',
    '/var/lib/berth',
  ]);
  t.is(after['/opt/berth/current'], `link ${version}`);
  t.is(after['/usr/local/bin/berthd'], 'link /opt/berth/current/bin/berthd');
  t.regex(readFileSync(join(n.root, 'etc/berth/config.toml'), 'utf8'), /^cgroup_driver = "cgroupfs"$/m);
  t.true(existsSync(join(n.root, 'var/lib/berth/meta.db')), 'berthd ran on the installed copy');
  t.is(readFileSync(join(n.root, 'etc/systemd/system/berth.service'), 'utf8'), readFileSync(join(bundle, 'systemd/berth.service'), 'utf8'));
  t.deepEqual(n.host.changes(), ['systemctl daemon-reload', 'systemctl enable berth.service', 'systemctl start berth.service']);
  const v = await criCall<{ runtime_name: string; runtime_version: string }>(join(n.root, 'run/berth/berth.sock'), 'Version', {});
  t.deepEqual([v.runtime_name, v.runtime_version], ['berth', version]);
  const manifest = JSON.parse(readFileSync(join(n.root, 'var/lib/berth/install.json'), 'utf8')) as { version: string; entries: Array<{ id: string; state: string }> };
  t.is(manifest.version, version);
  t.true(manifest.entries.every((e) => e.state === 'done'));

  n.host.calls.length = 0;
  const mid = snapshot(n.root);
  await n.install();
  const again = snapshot(n.root);
  for (const p of Object.keys(again)) if (p.startsWith('/var/lib/berth/meta.db') || p.startsWith('/run/berth/')) delete again[p], delete mid[p];
  t.deepEqual(again, mid, 'a second install changes no file');
  t.deepEqual(n.host.changes(), ['systemctl enable berth.service'], 'and neither starts nor restarts berth');

  await n.uninstall();
  t.false(n.host.berthdRunning);
  t.deepEqual(snapshot(n.root), before);
});

maybe('an upgrade switches current, restarts berth on the new release, keeps the old one for a rollback; uninstall removes both', async (t) => {
  const n = await node(t);
  const before = snapshot(n.root);
  await n.install();
  n.host.calls.length = 0;
  await n.install({ bundle: bundle2 });
  t.is(snapshot(n.root)['/opt/berth/current'], `link ${version}-next`);
  t.true(existsSync(join(n.root, `opt/berth/${version}`)), 'the previous release stays for a rollback');
  t.deepEqual(n.host.changes(), ['systemctl enable berth.service', 'systemctl restart berth.service']);
  const v = await criCall<{ runtime_version: string }>(join(n.root, 'run/berth/berth.sock'), 'Version', {});
  t.is(v.runtime_version, `${version}-next`);
  // Rolling back is an install of the older bundle.
  await n.install();
  t.is(snapshot(n.root)['/opt/berth/current'], `link ${version}`);
  await n.uninstall();
  t.deepEqual(snapshot(n.root), before);
});

maybe('an interrupted install is finished by the next run, an interrupted uninstall by the next uninstall', async (t) => {
  const n = await node(t);
  const before = snapshot(n.root);
  n.host.failOnce.add('systemctl start berth.service');
  await t.throwsAsync(n.install(), { message: /interrupted/ });
  const m = JSON.parse(readFileSync(join(n.root, 'var/lib/berth/install.json'), 'utf8')) as { entries: Array<{ id: string; state: string }> };
  t.deepEqual(m.entries.filter((e) => e.state === 'pending').map((e) => e.id), ['unit']);
  await n.install();
  t.true(n.host.berthdRunning);
  n.host.failOnce.add('systemctl daemon-reload');
  await t.throwsAsync(n.uninstall(), { message: /interrupted/ });
  await n.uninstall();
  t.deepEqual(snapshot(n.root), before);
});

maybe('an operator\'s config and an existing berth link are kept or restored; their content is never overwritten', async (t) => {
  const n = await node(t);
  const mine = '# the operator\'s\nlog_level = "debug"\n';
  writeHostFile(n.root, '/etc/berth/config.toml', mine);
  writeHostFile(n.root, '/etc/cni/net.d/05-cluster.conflist', JSON.stringify({ cniVersion: '1.0.0', name: 'cluster', plugins: [{ type: 'bridge', bridge: 'cni0' }, { type: 'loopback' }] }));
  mkdirSync(join(n.root, 'usr/local/bin'), { recursive: true });
  symlinkSync('/srv/berth-checkout/dist/cli/berth.js', join(n.root, 'usr/local/bin/berth'));
  const before = snapshot(n.root);
  await n.install();
  t.is(readFileSync(join(n.root, 'etc/berth/config.toml'), 'utf8'), mine);
  t.false(existsSync(join(n.root, 'etc/cni/net.d/10-berth.conflist')), 'the node\'s network is left as the one berth uses');
  t.is(snapshot(n.root)['/usr/local/bin/berth'], 'link /opt/berth/current/bin/berth');
  await n.uninstall();
  t.deepEqual(snapshot(n.root), before);
});

maybe('missing programs: installed with apt on Debian and removed again; refused by name elsewhere, with nothing changed', async (t) => {
  const deb = await node(t, { packages: ['runc', 'catatonit', 'iptables'] });
  const before = snapshot(deb.root);
  await deb.install();
  t.true(deb.host.calls.includes('apt-get install -y -q --no-install-recommends crun conmon containernetworking-plugins'), deb.host.calls.join('\n'));
  t.true(existsSync(join(deb.root, 'usr/bin/conmon')));
  await deb.uninstall();
  t.true(deb.host.calls.includes('apt-get remove -y -q crun conmon containernetworking-plugins'));
  t.deepEqual(snapshot(deb.root), before);

  const other = await node(t, { packages: ['runc', 'iptables'], debian: false });
  const untouched = snapshot(other.root);
  await t.throwsAsync(other.install(), {
    message:
      'missing on this node: /usr/bin/conmon, /usr/bin/catatonit, CNI plugin bridge (in /opt/cni/bin or /usr/lib/cni), CNI plugin portmap (in /opt/cni/bin or /usr/lib/cni), CNI plugin loopback (in /opt/cni/bin or /usr/lib/cni), CNI plugin host-local (in /opt/cni/bin or /usr/lib/cni) (Debian/Ubuntu packages: conmon catatonit containernetworking-plugins); install them with the node\'s package manager, then run berth node install again',
  });
  t.deepEqual(snapshot(other.root), untouched);
  t.deepEqual(other.host.calls, []);
});

maybe('--switch-kubelet in kubelet\'s config file: backup, switch, kubelet restart; uninstall restores it first', async (t) => {
  const n = await node(t, { kubelet: 'config' });
  const before = snapshot(n.root);
  await n.install({ switchKubelet: true });
  const cfg = readFileSync(join(n.root, 'var/lib/kubelet/config.yaml'), 'utf8');
  t.regex(cfg, /^containerRuntimeEndpoint: unix:\/\/\/run\/berth\/berth.sock$/m);
  t.regex(cfg, /^cgroupDriver: cgroupfs$/m);
  t.is(snapshot(n.root)['/var/lib/kubelet/config.yaml']!.split(' ')[1], '600', 'the file keeps its mode');
  t.true(existsSync(join(n.root, 'var/lib/berth/install-backups/kubelet__var__lib__kubelet__config.yaml')));
  t.is(n.host.changes().at(-1), 'systemctl restart kubelet.service');
  n.host.calls.length = 0;
  await n.install({ switchKubelet: true });
  t.false(n.host.calls.includes('systemctl restart kubelet.service'), 'switched once');
  n.host.calls.length = 0;
  await n.uninstall();
  t.is(n.host.changes()[0], 'systemctl restart kubelet.service', 'kubelet goes back to its runtime before berth stops');
  t.deepEqual(snapshot(n.root), before);
});

maybe('--switch-kubelet in kubelet\'s flags (kubeadm-flags.env): switched and restored', async (t) => {
  const n = await node(t, { kubelet: 'flags' });
  const before = snapshot(n.root);
  await n.install({ switchKubelet: true });
  t.is(readFileSync(join(n.root, 'var/lib/kubelet/kubeadm-flags.env'), 'utf8'), 'KUBELET_KUBEADM_ARGS="--container-runtime-endpoint=unix:///run/berth/berth.sock --pod-infra-container-image=registry.k8s.io/pause:3.9"\n');
  t.notRegex(readFileSync(join(n.root, 'var/lib/kubelet/config.yaml'), 'utf8'), /containerRuntimeEndpoint/);
  await n.uninstall();
  t.deepEqual(snapshot(n.root), before);
});

maybe('--switch-kubelet refuses while the previous runtime runs pods (nothing changed); --ignore-pod and --force let it through', async (t) => {
  const n = await node(t, { kubelet: 'config' });
  // A fake previous runtime on kubelet's current endpoint with two running pods.
  const cri = loadCri();
  const server = new grpc.Server();
  const pod = (ns: string, name: string) => ({ id: `${ns}-${name}`, metadata: { name, namespace: ns, uid: name, attempt: 0 }, state: 'SANDBOX_READY', created_at: '1', labels: {}, annotations: {}, runtime_handler: '' });
  server.addService(cri.runtime.v1.RuntimeService.service, {
    ListPodSandbox: (_call: unknown, cb: (e: null, r: object) => void) => cb(null, { items: [pod('default', 'web'), pod('berth-system', 'berth-installer-x')] }),
  } as unknown as grpc.UntypedServiceImplementation);
  const sock = join(n.root, 'run/containerd/containerd.sock');
  mkdirSync(join(n.root, 'run/containerd'), { recursive: true });
  await new Promise<void>((res, rej) => server.bindAsync(`unix://${sock}`, grpc.ServerCredentials.createInsecure(), (e) => (e ? rej(e) : res())));
  t.teardown(() => void server.forceShutdown());
  const before = snapshot(n.root);
  await t.throwsAsync(n.install({ switchKubelet: true }), { message: /2 pod\(s\) still run on kubelet's current runtime \(unix:\/\/\/run\/containerd\/containerd.sock\): default\/web, berth-system\/berth-installer-x\. Cordon and drain the node first/ });
  t.deepEqual(snapshot(n.root), before);
  t.deepEqual(n.host.calls, []);
  await t.throwsAsync(n.install({ switchKubelet: true, ignorePods: ['berth-system/berth-installer-x'] }), { message: /1 pod\(s\) still run .*: default\/web\./ });
  await n.install({ switchKubelet: true, force: true });
  t.regex(readFileSync(join(n.root, 'var/lib/kubelet/config.yaml'), 'utf8'), /^containerRuntimeEndpoint: unix:\/\/\/run\/berth\/berth.sock$/m);
  t.true(n.lines.some((l) => /--force: 2 pod\(s\) stay on unix:\/\/\/run\/containerd\/containerd.sock/.test(l)));
  await n.uninstall();
  t.deepEqual(snapshot(n.root), before);
  server.forceShutdown();
});

maybe('a store a newer release migrated past this one\'s reach is refused before anything changes; --dry-run changes nothing', async (t) => {
  const n = await node(t);
  mkdirSync(join(n.root, 'var/lib/berth'), { recursive: true });
  const db = new Database(join(n.root, 'var/lib/berth/meta.db'));
  db.exec("CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL); INSERT INTO settings VALUES ('store.min_reader_schema', '7'), ('store.migrated_by', '9.9.0')");
  db.pragma('user_version = 8');
  db.close();
  const before = snapshot(n.root);
  await t.throwsAsync(n.install(), { message: /cannot run on this node's store, so the running berth is left in place: \/var\/lib\/berth\/meta.db has schema version 8, migrated by berth 9.9.0; .*Run berth 9.9.0 or newer \(berth node install --bundle \/opt\/berth\/9.9.0\)/ });
  t.deepEqual(snapshot(n.root), before);
  rmSync(join(n.root, 'var/lib/berth'), { recursive: true });
  const clean = snapshot(n.root);
  await n.install({ dryRun: true, switchKubelet: true });
  t.deepEqual(snapshot(n.root), clean);
  t.deepEqual(n.host.changes(), []);
  t.true(n.lines.some((l) => l.startsWith('would copy the bundle to /opt/berth/')));
});

maybe('kubelet\'s cgroup driver goes into the config berth writes, and a driver this release refuses stops the install before it changes anything', async (t) => {
  const n = await node(t, { cgroupDriver: 'systemd' });
  const before = snapshot(n.root);
  const err = await install({ bundle, hostRoot: n.root, switchKubelet: false, force: false, dryRun: false, ignorePods: [] }, { host: n.host, log: () => undefined }).then(
    () => undefined,
    (e: Error) => e,
  );
  if (err) {
    // berth has no systemd cgroup driver yet: refused, naming kubelet's setting.
    t.regex(err.message, /does not accept its config template with cgroup_driver "systemd" \(kubelet's, \/var\/lib\/kubelet\/config.yaml\): .*systemd/);
    t.deepEqual(snapshot(n.root), before);
  } else {
    t.regex(readFileSync(join(n.root, 'etc/berth/config.toml'), 'utf8'), /^cgroup_driver = "systemd"$/m);
    await n.uninstall();
    t.deepEqual(snapshot(n.root), before);
  }
});

maybe('--config installs a given config as berth\'s own (the operator\'s backed up and restored), with kubelet\'s driver added; node status follows the service', async (t) => {
  const n = await node(t);
  writeHostFile(n.root, '/etc/berth/config.toml', '# the operator\'s\nlog_level = "warn"\n');
  const before = snapshot(n.root);
  t.is(await statusCommand(['--host-root', n.root]), 1, 'not installed yet');
  const chart = join(n.root, '..', `chart-${nodes}.toml`);
  writeFileSync(chart, '# from the chart\nlog_level = "debug"\n\n[runtimes.runc]\npath = "/usr/sbin/runc"\n');
  await n.install({ config: chart });
  t.is(readFileSync(join(n.root, 'etc/berth/config.toml'), 'utf8'), 'cgroup_driver = "cgroupfs"\n# from the chart\nlog_level = "debug"\n\n[runtimes.runc]\npath = "/usr/sbin/runc"\n');
  t.is(await statusCommand(['--host-root', n.root]), 0);
  await n.host.stopBerthd();
  t.is(await statusCommand(['--host-root', n.root]), 1, 'berth stopped');
  writeFileSync(chart, 'log_level = "bogus"\n');
  await t.throwsAsync(n.install({ config: chart }), { message: new RegExp(`does not accept ${chart.replace(/[.]/g, '\\.')} with cgroup_driver "cgroupfs" .*log_level must be`) });
  await n.uninstall();
  t.deepEqual(snapshot(n.root), before);
  rmSync(chart);
});

maybe('the chart\'s installer labels its node installing → running, taints it only while kubelet is switched, and uninstalls when the pre-delete hook asks (fake API server, no cluster)', async (t) => {
  const n = await node(t, { kubelet: 'config' });
  const before = snapshot(n.root);
  const k = await startFakeKube(['node-1']);
  t.teardown(() => k.close());
  const kube = new KubeClient(k.api);
  const LABEL = 'berth.io/runtime';
  const TAINT = 'berth.io/kubelet-switching';
  // What the node's taints were when kubelet restarted.
  const atRestart: string[][] = [];
  const run = n.host.run.bind(n.host);
  n.host.run = async (argv, o) => {
    if (argv.join(' ') === 'systemctl restart kubelet.service') {
      const node = k.nodes.get('node-1')!;
      atRestart.push((node.spec?.taints ?? []).map((x) => `${x.key}:${x.effect}`));
      // What kubelet would report once it runs on berth (after the first switch only: the restore at uninstall is not checked).
      if (atRestart.length === 1) setTimeout(() => (node.status = { conditions: [{ type: 'Ready', status: 'True' }], nodeInfo: { containerRuntimeVersion: `berth://${version}` } }), 300);
    }
    return run(argv, o);
  };
  const deps = { host: n.host, log: (l: string) => n.lines.push(l) };
  let stop!: () => void;
  const stopped = new Promise<void>((r) => (stop = r));
  t.teardown(() => stop());
  const installer = installOnNode(
    { bundle, hostRoot: n.root, switchKubelet: true, force: false, dryRun: false, ignorePods: [], criTimeoutMs: 30_000 },
    deps,
    new NodeReporter(kube, 'node-1', LABEL, TAINT, deps.log),
    { stay: true, pollMs: 50, readyPollMs: 50, stopped, uninstall: () => uninstall({ hostRoot: n.root, force: false, dryRun: false }, deps) },
  );
  const until = Date.now() + 120_000;
  while (k.nodes.get('node-1')!.metadata.labels?.[LABEL] !== 'running' && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  const labels = k.requests.filter((q) => q.contentType === 'application/merge-patch+json').map((q) => (q.body as { metadata: { labels?: Record<string, string> } }).metadata.labels?.[LABEL]);
  t.deepEqual(labels, ['installing', 'running']);
  t.deepEqual(atRestart, [[`${TAINT}:NoSchedule`]], 'tainted while kubelet restarted onto berth');
  t.true(n.lines.some((l) => l === `node node-1: Ready on berth://${version}`), 'untainted once the node was Ready on berth');
  t.deepEqual(k.nodes.get('node-1')!.spec?.taints ?? [], [], 'untainted after the switch');

  t.deepEqual(await uninstallAll(kube, { labelKey: LABEL, timeoutMs: 120_000, pollMs: 50, log: deps.log }), ['node-1']);
  t.deepEqual(snapshot(n.root), before, 'the node is as it was');
  t.deepEqual(atRestart.length, 2, 'kubelet restarted back onto its runtime');
  t.false(LABEL in (k.nodes.get('node-1')!.metadata.labels ?? {}));
  stop();
  await installer;
});
