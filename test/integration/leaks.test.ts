// `berth leaks` against a real berthd, runc, conmon and CNI (issue 13 item 7): every kind of
// leak is seeded for real — records removed by hand under a running pod (orphaned conmon,
// runtime state, rootfs mount, pinned namespaces, /dev/shm, veth, IP reservation, pod and
// container cgroups, bundles and directories, a layer lease), a mount, a namespace pin, a
// cgroup, a veth and an IP file left by hand, and berthd SIGKILLed in the middle of a
// CreateContainer — and each is found, `--repair` removes it, a live pod and its container
// are never touched and still work, and a second run finds nothing; both with berthd
// running (repairs through berthd) and with berthd stopped (berthd's socket held meanwhile).
// Also `berth bugreport` writes its archive (with berth doctor's report in it). Needs root (CI runs as root).
import anyTest, { type TestFn, type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, open, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { podConfig, isRoot } from '../helpers/berthd.js';
import { startBerthdWithImages, stopBerthdWithImages, type BerthdTestContext } from '../helpers/berthd-images.js';
import { busyboxLayer } from '../helpers/image-builder.js';
import { run } from '../../hostutil/exec.js';
import { mountPoints } from '../../hostutil/mounts.js';
import { readCgroupLayout } from '../../server/cgroups/detect.js';
import { allRoots } from '../../server/cgroups/cgroupfs.js';
import { processStartTime } from '../../server/sandbox/pod-init.js';
import { checkLeaksJson } from '../helpers/leaks-schema.js';
import { takeBerthdLock, instanceConfig, type Finding } from '../../server/audit/index.js';

const test = anyTest as TestFn<BerthdTestContext & { parents: string[] }>;
/** The pod that must survive every audit and repair (made by the first test, checked by all). */
let livePod: Pod | undefined;
const rootOnly = isRoot() ? test.serial : test.serial.skip;
if (!isRoot()) console.log('leaks integration tests skipped: they need root');

const BERTH = fileURLToPath(new URL('../../cli/berth.js', import.meta.url));

interface Pod {
  id: string;
  cid: string;
  parent: string;
}

/** berthd's own cgroup parent (pods without a cgroup_parent) in hierarchies where it did not exist before this file ran. */
let berthParentsMadeHere: string[] = [];

test.before(async (t) => {
  t.context.parents = [];
  if (!isRoot()) return;
  // The seeded leaks put containers under berthd's default parent /berth; their repair removes
  // the containers' cgroups, not that shared level, which the file removes when it made it.
  berthParentsMadeHere = allRoots(await readCgroupLayout()).map((root) => join(root, 'berth')).filter((d) => !existsSync(d));
  const { b, reg, images } = await startBerthdWithImages({ busybox: { layers: [busyboxLayer()], config: { Cmd: ['/bin/sh'] } } });
  Object.assign(t.context, { b, reg, image: images.busybox });
});
test.after.always(async (t) => {
  await stopBerthdWithImages(t.context);
  for (const root of allRoots(await readCgroupLayout())) {
    for (const p of t.context.parents) await run('rmdir', [join(root, p)], { allowFailure: true });
  }
  for (const d of berthParentsMadeHere) if (existsSync(d)) await run('rmdir', [d], { allowFailure: true });
});

function berth(t: ExecutionContext<BerthdTestContext>, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const b = t.context.b;
  const flags = ['--config', join(b.dir, 'none.toml'), '--root', b.root, '--state', b.state, '--socket', b.socket, '--cni-conf-dir', b.net.confDir];
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [BERTH, ...args, ...flags], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

async function leaksJson(t: ExecutionContext<BerthdTestContext>, extra: string[] = []) {
  const r = await berth(t, ['leaks', '-o', 'json', ...extra]);
  t.is(r.stderr, '', 'berth leaks writes nothing on stderr');
  t.deepEqual(checkLeaksJson(JSON.parse(r.stdout)), [], 'the output fits the schema');
  return { code: r.code, report: JSON.parse(r.stdout) as { schemaVersion: number; kind: string; mode: string; dryRun: boolean; findings: Finding[]; before: Finding[]; after: Finding[]; repairs: Array<{ ok: boolean; result: string; finding: Finding }>; warnings: string[] } };
}

async function runPod(t: ExecutionContext<BerthdTestContext & { parents: string[] }>, name: string): Promise<Pod> {
  const b = t.context.b;
  const parent = `/berth-test-${randomBytes(4).toString('hex')}`;
  t.context.parents.push(parent);
  const config = podConfig(b, name, { linux: { cgroup_parent: parent } });
  const { pod_sandbox_id: id } = await b.client.call('RunPodSandbox', { config });
  const { container_id: cid } = await b.client.call('CreateContainer', {
    pod_sandbox_id: id,
    config: { metadata: { name: 'c', attempt: 0 }, image: { image: t.context.image }, command: ['/bin/sh', '-c', 'sleep 1000'], log_path: 'c.log' },
    sandbox_config: config,
  });
  await b.client.call('StartContainer', { container_id: cid });
  return { id, cid, parent };
}

async function liveAndWorking(t: ExecutionContext<BerthdTestContext>): Promise<void> {
  const b = t.context.b;
  const live = livePod!;
  t.is((await b.client.call('PodSandboxStatus', { pod_sandbox_id: live.id })).status.state, 'SANDBOX_READY');
  t.is((await b.client.call('ContainerStatus', { container_id: live.cid })).status.state, 'CONTAINER_RUNNING');
  const r = await b.client.call('ExecSync', { container_id: live.cid, cmd: ['/bin/sh', '-c', 'echo alive; test -e /sys/class/net/eth0 && echo eth0'], timeout: 20 });
  t.is(r.exit_code, 0);
  t.is(Buffer.from(r.stdout).toString(), 'alive\neth0\n');
}

const touchesLive = (f: Finding, live: Pod) => [live.id, live.cid].some((id) => f.owner === id || f.id.includes(id) || (f.path ?? '').includes(id));

async function cgroupRoots(): Promise<string[]> {
  return allRoots(await readCgroupLayout());
}

/** Seeds the leaks made by hand: a /dev/shm mount, a namespace pin, an IP file and a veth on berth's bridge. */
async function seedByHand(t: ExecutionContext<BerthdTestContext>) {
  const b = t.context.b;
  const shmId = randomBytes(32).toString('hex');
  const nsId = randomBytes(32).toString('hex');
  const ipOwner = randomBytes(32).toString('hex');
  const shm = join(b.state, 'sandboxes', shmId, 'shm');
  await mkdir(shm, { recursive: true });
  await run('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'shm', shm]);
  const pin = join(b.state, 'ns', nsId, 'net');
  await mkdir(join(b.state, 'ns', nsId), { recursive: true });
  await (await open(pin, 'w')).close();
  await run('unshare', [`--net=${pin}`, 'true']);
  const ipDir = join(b.net.ipamDir, `berth-${b.net.bridge}`);
  await mkdir(ipDir, { recursive: true });
  const ip = b.net.gateway.replace(/\.1$/, '.250');
  await writeFile(join(ipDir, ip), `${ipOwner}\neth0`);
  const veth = `lk${randomBytes(3).toString('hex')}`;
  await run('ip', ['link', 'add', veth, 'type', 'veth', 'peer', 'name', `${veth}p`]);
  await run('ip', ['link', 'set', veth, 'master', b.net.bridge]);
  return { shm, pin, ip, ipFile: join(ipDir, ip), veth };
}

rootOnly('berthd running: every seeded leak is found, --repair removes it through berthd, a live pod is untouched, a second run finds nothing', async (t) => {
  const b = t.context.b;
  livePod = await runPod(t, 'live');
  const victim = await runPod(t, 'victim');
  const vStatus = await b.client.call('ContainerStatus', { container_id: victim.cid, verbose: true });
  const vInfo = JSON.parse(vStatus.info.info) as { pid: number };
  const vPod = await b.client.call('PodSandboxStatus', { pod_sandbox_id: victim.id, verbose: true });
  const vIp = vPod.status.network.ip as string;
  const conmonPid = Number(await readFile(join(b.state, 'containers', victim.cid, 'conmon.pid'), 'utf8'));
  t.true(conmonPid > 0 && vInfo.pid > 0);

  // Remove the victim's records by hand (berthd stopped: the store is berthd's while it runs).
  t.is(await b.stop(), 0);
  const db = new Database(join(b.root, 'meta.db'));
  db.prepare('DELETE FROM containers WHERE id = ?').run(victim.cid);
  db.prepare('DELETE FROM sandboxes WHERE id = ?').run(victim.id);
  db.close();
  await b.start();
  const hand = await seedByHand(t);
  // A cgroup under the live pod's cgroup, for a container berth never made.
  const strayCg = randomBytes(32).toString('hex');
  const roots = await cgroupRoots();
  for (const r of roots) await mkdir(join(r, livePod.parent, strayCg));

  const found = await leaksJson(t);
  t.is(found.code, 5, 'leaks found in a dry run: exit 5 (problems found)');
  t.is(found.report.kind, 'LeakReport');
  t.is(found.report.mode, 'berthd');
  const f = found.report.findings;
  const has = (kind: string, pred: (x: Finding) => boolean) => t.true(f.some((x) => x.kind === kind && pred(x)), `${kind} is found`);
  has('conmon', (x) => x.pid === conmonPid && x.owner === victim.cid);
  has('runtime-container', (x) => x.owner === victim.cid);
  has('rootfs-mount', (x) => x.owner === victim.cid);
  for (const k of ['net', 'ipc', 'uts']) has('netns-pin', (x) => x.path === join(b.state, 'ns', victim.id, k));
  has('netns-pin', (x) => x.path === hand.pin);
  has('shm-mount', (x) => x.owner === victim.id);
  has('shm-mount', (x) => x.path === hand.shm);
  has('ip-reservation', (x) => x.id === vIp && x.owner === victim.id);
  has('ip-reservation', (x) => x.id === hand.ip);
  has('veth', (x) => x.id === hand.veth);
  has('veth', (x) => x.id !== hand.veth); // the victim's own veth: its other end is in the victim's pinned netns
  has('cgroup', (x) => x.id === join(livePod!.parent, strayCg));
  has('cgroup', (x) => x.id === join(victim.parent, victim.cid));
  has('cgroup', (x) => x.id === victim.parent);
  has('directory', (x) => x.path === join(b.state, 'containers', victim.cid));
  has('directory', (x) => x.path === join(b.root, 'sandboxes', victim.id));
  has('lease', (x) => x.id === victim.cid);
  t.deepEqual(f.filter((x) => touchesLive(x, livePod!)).map((x) => x.id), [], 'nothing of the live pod is flagged');
  t.false(f.some((x) => x.id === livePod!.parent), "the live pod's cgroup is not flagged");

  const human = await berth(t, ['leaks']);
  t.is(human.code, 5);
  t.regex(human.stdout, /^berth leaks: berthd is running: audited by berthd under its own locks; dry run\nKIND +WHAT +OWNER\n/);
  t.regex(human.stdout, /\d+ leaks found \(conmon 1, .*\); nothing was changed\. Remove them with: berth leaks --repair\n$/);

  const fixed = await leaksJson(t, ['--repair']);
  t.deepEqual(fixed.report.repairs.filter((r) => !r.ok).map((r) => `${r.finding.kind} ${r.finding.id}: ${r.result}`), []);
  t.deepEqual(fixed.report.after, []);
  t.is(fixed.code, 0, 'a successful repair exits 0');

  // The host agrees.
  // Gone, or a zombie waiting for whoever adopted it (not berth's to reap).
  t.is(await processStartTime(conmonPid), undefined, 'the orphaned conmon is gone');
  t.is(await processStartTime(vInfo.pid), undefined, "the victim's container process is gone");
  const mounts = await mountPoints();
  for (const p of [hand.shm, hand.pin, join(b.state, 'ns', victim.id, 'net'), join(b.root, 'containers', victim.cid, 'rootfs')]) t.false(mounts.includes(p), `${p} unmounted`);
  t.false(existsSync(hand.ipFile));
  t.is((await run('ip', ['link', 'show', hand.veth], { allowFailure: true })).code !== 0, true, 'the seeded veth is gone');
  t.is((await run('ip', ['-o', 'link', 'show', 'master', b.net.bridge], { allowFailure: true })).stdout.trim().split('\n').length, 1, "only the live pod's veth is on the bridge");
  for (const r of roots) {
    t.false(existsSync(join(r, livePod.parent, strayCg)));
    t.false(existsSync(join(r, victim.parent)));
  }
  t.true(roots.some((r) => existsSync(join(r, livePod!.parent, livePod!.cid))), "the live container's cgroup stays");
  await liveAndWorking(t);

  const again = await leaksJson(t);
  t.is(again.code, 0);
  t.deepEqual(again.report.findings, []);
  const human2 = await berth(t, ['leaks']);
  t.is(human2.code, 0);
  t.regex(human2.stdout, /no leaks/);
});

rootOnly('berthd stopped: an interrupted create and leaks left by hand are found and repaired offline with berthd locked out', async (t) => {
  const b = t.context.b;
  t.truthy(livePod, 'runs after the first test');
  const podId = (await b.client.call('RunPodSandbox', { config: podConfig(b, 'interrupted') })).pod_sandbox_id as string;
  const before = new Set(await readdir(join(b.state, 'containers')).catch(() => [] as string[]));
  const creating = b.client
    .call('CreateContainer', {
      pod_sandbox_id: podId,
      config: { metadata: { name: 'c', attempt: 0 }, image: { image: t.context.image }, command: ['/bin/sh', '-c', 'sleep 1000'] },
      sandbox_config: podConfig(b, 'interrupted'),
    })
    .catch(() => undefined);
  // SIGKILL berthd (by its pid) as soon as the create has put its bundle on the host.
  let cid = '';
  for (let i = 0; i < 4000 && !cid; i++) {
    cid = (await readdir(join(b.state, 'containers')).catch(() => [] as string[])).find((n) => !before.has(n)) ?? '';
    if (!cid) await new Promise((r) => setTimeout(r, 5));
  }
  t.truthy(cid, 'the create got as far as its bundle');
  process.kill(b.proc.pid!, 'SIGKILL');
  await new Promise((r) => b.proc.once('exit', r));
  await creating;
  // The create's shim may still finish its job (start conmon): wait until no process of this berthd's is starting one.
  for (let i = 0; i < 400; i++) {
    const shims = (await run('pgrep', ['-f', 'shim/main.js'], { allowFailure: true })).stdout.trim().split('\n').filter(Boolean);
    let ours = 0;
    for (const p of shims) if ((await readFile(`/proc/${p}/environ`, 'latin1').catch(() => '')).includes(`BERTH_TEST_RUN=${b.dir}`)) ours++;
    if (!ours) break;
    await new Promise((r) => setTimeout(r, 25));
  }
  const hand = await seedByHand(t);

  const found = await leaksJson(t);
  t.is(found.code, 5);
  t.is(found.report.mode, 'read-only');
  const f = found.report.findings;
  t.true(f.some((x) => x.kind === 'record' && x.repair.action === 'delete-container-record' && x.id === cid), 'the interrupted create is found');
  t.true(f.some((x) => x.kind === 'directory' && x.path === join(b.state, 'containers', cid)));
  t.true(f.some((x) => x.kind === 'lease' && x.id === cid));
  for (const p of [hand.shm, hand.pin]) t.true(f.some((x) => x.path === p), `${p} is found`);
  t.true(f.some((x) => x.kind === 'ip-reservation' && x.id === hand.ip));
  t.true(f.some((x) => x.kind === 'veth' && x.id === hand.veth));
  t.false(f.some((x) => x.owner === podId), 'the pod whose container was being created is known: not a leak');
  t.deepEqual(f.filter((x) => touchesLive(x, livePod!)).map((x) => x.id), [], 'nothing of the live pod is flagged');

  // While the repair holds berthd's lock, berthd refuses to start.
  const release = await takeBerthdLock(instanceConfig({ root: b.root, state: b.state, socket: b.socket }));
  await t.throwsAsync(b.start(), { message: /already serving on/ });
  await release();

  const fixed = await leaksJson(t, ['--repair']);
  t.is(fixed.report.mode, 'direct');
  t.deepEqual(fixed.report.repairs.filter((r) => !r.ok).map((r) => `${r.finding.kind} ${r.finding.id}: ${r.result}`), []);
  t.deepEqual(fixed.report.after, []);
  t.is(fixed.code, 0);
  t.false(existsSync(b.socket), 'the lock is released: no socket left behind');

  await b.start();
  const again = await leaksJson(t);
  t.is(again.report.mode, 'berthd');
  t.deepEqual(again.report.findings, []);
  t.is(again.code, 0);
  t.deepEqual((await b.client.call('ListContainers', { filter: { pod_sandbox_id: podId } })).containers, [], 'the interrupted container is gone for good');
  await liveAndWorking(t);
});

rootOnly('berth bugreport writes one tar.gz with logs, redacted config, versions, leaks and the store schema', async (t) => {
  const b = t.context.b;
  const out = join(b.dir, 'report.tar.gz');
  const log = join(b.dir, 'berthd.log');
  await writeFile(log, b.stderr());
  const r = await berth(t, ['bugreport', '--out', out, '--log-file', log]);
  t.is(r.code, 0, r.stderr);
  const list = (await run('tar', ['-tzf', out])).stdout.trim().split('\n');
  for (const f of ['berthd.log', 'config.toml', 'versions.txt', 'store.txt', 'doctor.txt', 'ps.json', 'leaks.txt', 'leaks.json', 'README.txt']) t.true(list.some((l) => l.endsWith(`/${f}`)), f);
  const read = async (f: string) => (await run('tar', ['-xzOf', out, list.find((l) => l.endsWith(`/${f}`))!])).stdout;
  t.regex(await read('versions.txt'), /^berth \S+ \(admin protocol \d+, store schema \d+\)\nberthd: \{.*\}\nnode v20/);
  t.regex(await read('store.txt'), /meta\.db schema \d+ \(this berth knows \d+\)/);
  t.regex(await read('leaks.txt'), /no leaks/);
  t.regex(await read('doctor.txt'), /^berth doctor: /m, "berth doctor's report is in it");
  t.regex(await read('berthd.log'), /berthd serving CRI/);
  t.regex(await read('config.toml'), new RegExp(`root = "${b.root}"`));
});
