// `berth ps`, `inspect`, `logs` and `top` (issue 13) run as the operator runs them (the
// built CLI as a child process) against a real berthd with real pods: the human output
// (golden, ids and times normalized), the JSON against its documented schema
// (cli/schemas.ts), filters, exit codes and --help, logs with partial lines joined and -f
// across a kubelet-style rotation, top's limits and its live view on a pseudo-terminal; then the same commands with berthd stopped
// (read-only mode from the store and the host). Needs root (CI runs as root).
import anyTest, { type TestFn, type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { rename } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { podConfig, isRoot } from '../helpers/berthd.js';
import { startBerthdWithImages, stopBerthdWithImages, type BerthdTestContext } from '../helpers/berthd-images.js';
import { busyboxLayer } from '../helpers/image-builder.js';
import { checkShape } from '../helpers/json-shape.js';
import { POD_LIST, INSPECT, INSPECT_CONTAINER, INSPECT_POD, INSPECT_IMAGE, LOG_ENTRY, TOP } from '../../cli/schemas.js';

interface Ctx extends BerthdTestContext {
  podId: string;
  sleeper: string;
  printer: string;
  ticker: string;
}
const test = anyTest as TestFn<Ctx>;
const rootOnly = isRoot() ? test.serial : test.serial.skip;
if (!isRoot()) console.log('ops-views integration tests skipped: they need root');

const CLI = fileURLToPath(new URL('../../cli/berth.js', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const LONG = 'x'.repeat(20_000);

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function berth(t: ExecutionContext<Ctx>, args: string[], opts: { until?: (out: string) => boolean; onOutput?: (out: string) => void } = {}): Promise<Run> {
  const b = t.context.b;
  const child = spawn(process.execPath, [CLI, ...args, '--root', b.root, '--state', b.state], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    opts.onOutput?.(stdout);
  });
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  return new Promise((resolve) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    }),
  );
}

function json(r: Run): Record<string, any> {
  try {
    return JSON.parse(r.stdout) as Record<string, any>;
  } catch {
    throw new Error(`not JSON (exit ${r.code}): ${r.stdout.slice(0, 200)} stderr: ${r.stderr}`);
  }
}

/** Ids, times, ages, pids, addresses and paths that differ per run, replaced; spaces collapsed. */
function normalize(s: string, c: Ctx): string {
  return s
    .replaceAll(c.reg.host, '<REGISTRY>')
    .replace(/\b[0-9a-f]{13}\b/g, '<ID>')
    .replace(/\b\d+(s|m|h|d)\b/g, '<AGE>')
    .replace(/\b10\.\d+\.\d+\.\d+\b/g, '<IP>')
    .replace(/\/berth-test-[0-9a-f]+\S*/g, '<CGROUP>')
    .split('\n')
    .map((l) => l.replace(/ {2,}/g, '  ').replace(/(<AGE>  \d+  )\d+(  )/, '$1<PID>$2'))
    .join('\n');
}

test.before(async (t) => {
  if (!isRoot()) return;
  const { b, reg, images } = await startBerthdWithImages({ busybox: { layers: [busyboxLayer()], config: { Cmd: ['/bin/sh'] } } });
  Object.assign(t.context, { b, reg, image: images.busybox });
  const parent = `/berth-test-${randomBytes(4).toString('hex')}`;
  const config = podConfig(b, 'web', { linux: { cgroup_parent: parent }, labels: { app: 'web', 'berth-test': 'yes' } });
  const { pod_sandbox_id } = await b.client.call('RunPodSandbox', { config });
  const container = async (name: string, script: string, extra: Record<string, unknown> = {}) => {
    const { container_id } = await b.client.call('CreateContainer', {
      pod_sandbox_id,
      config: { metadata: { name, attempt: 0 }, image: { image: images.busybox }, command: ['/bin/sh', '-c', script], log_path: `${name}/0.log`, ...extra },
      sandbox_config: config,
    });
    await b.client.call('StartContainer', { container_id });
    return container_id as string;
  };
  const sleeper = await container('sleeper', 'sleep 1000', { linux: { resources: { cpu_period: '100000', cpu_quota: '50000', memory_limit_in_bytes: String(64 * 1024 * 1024) } } });
  const printer = await container('printer', `echo one; echo two >&2; echo ${LONG}; printf 'no newline'; exit 3`);
  const ticker = await container('ticker', 'i=0; while [ ! -e /tmp/stop ]; do echo tick $i; i=$((i+1)); sleep 0.05; done; echo bye');
  for (let i = 0; i < 200; i++) {
    const st = (await b.client.call('ContainerStatus', { container_id: printer })).status;
    if (st.state === 'CONTAINER_EXITED') break;
    await sleep(50);
  }
  Object.assign(t.context, { podId: pod_sandbox_id, sleeper, printer, ticker });
});
test.after.always((t) => stopBerthdWithImages(t.context));

rootOnly('ps: the pod tree, golden human output, JSON schema, filters', async (t) => {
  const c = t.context;
  const r = await berth(t, ['ps']);
  t.is(r.code, 0, r.stderr);
  t.is(r.stderr, '', 'berthd mode says nothing extra');
  t.is(
    normalize(r.stdout, c),
    [
      'POD / CONTAINER  ID  NAMESPACE  STATE  FOR  RESTARTS  PID  IP  IMAGE  HANDLER  CGROUP',
      'web  <ID>  berth-test  ready  <AGE>  0  -  <IP>  -  runc  <CGROUP>',
      '├─ sleeper  <ID>  running  <AGE>  0  <PID>  <REGISTRY>/test/busybox:v1  <CGROUP>',
      '├─ printer  <ID>  exited(3 Error)  <AGE>  0  -  <REGISTRY>/test/busybox:v1  <CGROUP>',
      '└─ ticker  <ID>  running  <AGE>  0  <PID>  <REGISTRY>/test/busybox:v1  <CGROUP>',
      '',
    ].join('\n'),
  );
  const j = await berth(t, ['ps', '-o', 'json']);
  const doc = json(j);
  t.deepEqual(checkShape(doc, POD_LIST), []);
  t.is(doc.mode, 'berthd');
  const pod = doc.pods.find((p: { id: string }) => p.id === c.podId);
  t.is(pod.containers.length, 3);
  t.is(pod.containers.find((x: { id: string }) => x.id === c.printer).exitCode, 3);
  t.regex(pod.ips[0], /^10\./);

  const exited = json(await berth(t, ['ps', '--status', 'exited', '-o', 'json']));
  t.deepEqual(exited.pods.flatMap((p: { containers: { name: string }[] }) => p.containers.map((x) => x.name)), ['printer']);
  t.deepEqual(json(await berth(t, ['ps', '-n', 'no-such-ns', '-o', 'json'])).pods, []);
  t.is(json(await berth(t, ['ps', '-l', 'app=web', '-o', 'json'])).pods.length, 1);
  t.deepEqual(json(await berth(t, ['ps', '-l', 'app=db', '-o', 'json'])).pods, []);
  t.is((await berth(t, ['ps', '--status', 'sleeping'])).code, 2, 'a bad state is a usage error');
  const help = await berth(t, ['ps', '--help']);
  t.is(help.code, 0);
  t.regex(help.stdout, /usage: berth ps/);
  t.regex(help.stdout, /exit codes: 0 ok/);
});

rootOnly('inspect: a container, a pod and an image, with the host facts and recent events', async (t) => {
  const c = t.context;
  const cr = await berth(t, ['inspect', c.sleeper.slice(0, 12), '-o', 'json']);
  t.is(cr.code, 0, cr.stderr);
  const doc = json(cr);
  t.deepEqual(checkShape(doc, INSPECT(INSPECT_CONTAINER)), []);
  const o = doc.object;
  t.is(o.id, c.sleeper);
  t.true(o.overlay.mounted, 'the rootfs overlay is mounted');
  t.true(o.overlay.lowerDirs.length >= 1);
  t.is(o.overlay.upperDir, o.paths.upper);
  t.true(o.process.alive);
  t.true(o.conmon.alive);
  t.true(o.conmon.files.config.exists);
  t.is(o.runtime.state.status, 'running');
  t.is(o.runtime.state.pid, o.process.pid);
  t.true(o.cgroup.exists);
  t.is(o.cgroup.limits.memoryBytes, 64 * 1024 * 1024);
  t.is(o.cgroup.limits.cpu, 0.5);
  t.true(Number(o.cgroup.usage.memory.usage) > 0);
  t.truthy(o.process.namespaces.net);
  t.deepEqual(o.events.map((e: { type: string }) => e.type), ['CREATED', 'STARTED']);
  t.is(o.spec.process.args.at(-1), 'sleep 1000');

  const human = await berth(t, ['inspect', c.printer]);
  t.is(human.code, 0);
  t.regex(human.stdout, new RegExp(`^container ${c.printer}\\n`));
  t.regex(human.stdout, /state: exited/);
  t.regex(human.stdout, /STOPPED → CONTAINER_EXITED exit 3 Error/);
  t.regex(human.stdout, /-o json adds the record and the OCI spec/);

  const pod = json(await berth(t, ['inspect', c.podId, '-o', 'json'])).object;
  t.deepEqual(checkShape({ schemaVersion: 1, kind: 'Inspect', mode: 'berthd', object: pod }, INSPECT(INSPECT_POD)), []);
  t.true(pod.namespaces.pinned.net.mounted);
  t.truthy(pod.network.cni.result);
  t.true(pod.cgroup.exists);
  t.true(pod.events.some((e: { kind: string; type: string }) => e.kind === 'pod' && e.type === 'STARTED'));
  t.true(pod.events.some((e: { id: string }) => e.id === c.printer), "a pod's events include its containers'");

  const img = json(await berth(t, ['inspect', c.image, '-o', 'json'])).object;
  t.deepEqual(checkShape({ schemaVersion: 1, kind: 'Inspect', mode: 'berthd', object: img }, INSPECT(INSPECT_IMAGE)), []);
  t.true(img.layers.every((l: { present: boolean }) => l.present));
  t.is(img.containers.length, 3);

  const missing = await berth(t, ['inspect', 'ffffffffffff']);
  t.is(missing.code, 3, 'not found is exit 3');
  t.regex(missing.stderr, /no pod, container or image/);
  t.is((await berth(t, ['inspect'])).code, 2);
});

rootOnly('logs: streams, partial lines joined, --tail, --stream, JSON', async (t) => {
  const c = t.context;
  const r = await berth(t, ['logs', c.printer]);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, `one\n${LONG}\nno newline`, 'stdout with the 20000-byte line joined and the unfinished one as is');
  t.is(r.stderr, 'two\n');
  t.is((await berth(t, ['logs', c.printer, '--tail', '1', '--stream', 'stdout'])).stdout, 'no newline');
  t.is((await berth(t, ['logs', c.printer, '--stream', 'stderr'])).stderr, 'two\n');
  t.is((await berth(t, ['logs', c.printer, '--since', '2099-01-01T00:00:00Z'])).stdout, '');
  const lines = (await berth(t, ['logs', c.printer, '-o', 'json'])).stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  t.deepEqual(lines.flatMap((l) => checkShape(l, LOG_ENTRY)), []);
  t.deepEqual(lines.map((l) => [l.stream, (l.log as string).length, l.complete]), [['stdout', 3, true], ['stderr', 3, true], ['stdout', 20_000, true], ['stdout', 10, false]]);
  t.is((await berth(t, ['logs', c.sleeper.slice(0, 10) + 'zz'])).code, 3);
  t.is((await berth(t, ['logs', c.printer, '--tail', 'many'])).code, 2);
});

rootOnly('logs -f follows the log across a rotation without losing a line, and ends when the container exits', async (t) => {
  const c = t.context;
  const b = c.b;
  const logPath = (await b.client.call('ContainerStatus', { container_id: c.ticker })).status.log_path as string;
  let seen = '';
  const follow = berth(t, ['logs', '-f', c.ticker], { onOutput: (o) => (seen = o) });
  while (!/tick \d+\n(.|\n)*tick \d+\n/.test(seen)) await sleep(50);
  await rename(logPath, `${logPath}.1`);
  await b.client.call('ReopenContainerLog', { container_id: c.ticker });
  const at = (seen.match(/tick (\d+)\n/g) ?? []).length;
  while ((seen.match(/tick (\d+)\n/g) ?? []).length < at + 10) await sleep(50);
  await b.client.call('ExecSync', { container_id: c.ticker, cmd: ['touch', '/tmp/stop'], timeout: 10 });
  const r = await follow;
  t.is(r.code, 0, r.stderr);
  const ticks = [...r.stdout.matchAll(/^tick (\d+)$/gm)].map((m) => Number(m[1]));
  t.true(ticks.length > at + 5);
  t.deepEqual(ticks, ticks.map((_, i) => ticks[0]! + i), 'consecutive: nothing lost or repeated across the rotation');
  t.true(r.stdout.endsWith('bye\n'), 'the last line, then the end when the container exited');
});

rootOnly('top --once: CPU, memory, I/O and pids against the limits', async (t) => {
  const c = t.context;
  const r = await berth(t, ['top', '--once', '-o', 'json', '--interval', '0.3']);
  t.is(r.code, 0, r.stderr);
  const doc = json(r);
  t.deepEqual(checkShape(doc, TOP), []);
  const s = doc.rows.find((x: { id: string }) => x.id === c.sleeper);
  t.is(s.kind, 'container');
  t.is(s.podId, c.podId);
  t.is(s.cpuLimit, 0.5);
  t.is(s.memoryLimit, 64 * 1024 * 1024);
  t.true(s.memory > 0);
  t.true(s.pids >= 1);
  t.not(s.cpu, null, 'a rate from two samples');
  t.truthy(doc.rows.find((x: { id: string }) => x.id === c.podId));
  t.falsy(doc.rows.find((x: { id: string }) => x.id === c.printer), 'exited containers are not in top');
  const human = await berth(t, ['top', '--sort', 'mem', '--interval', '0.3']);
  t.is(human.code, 0, 'not a terminal: one table');
  t.regex(human.stdout, /^POD \/ CONTAINER +ID +CPU \/ LIMIT +MEMORY \/ LIMIT +IO READ +IO WRITE +PIDS \/ LIMIT\n/);
  t.regex(human.stdout, /└─ sleeper .* \/ 50\.0% +[\d.]+\S+ \/ 64MiB/);
  t.is((await berth(t, ['top', '--sort', 'fun'])).code, 2);
});

rootOnly('top on a terminal refreshes in the alternate screen, sorts by key, and quits on q', async (t) => {
  const c = t.context;
  // util-linux script(1) gives top a pseudo-terminal; what is written to its stdin is typed there.
  const cmd = [process.execPath, CLI, 'top', '--interval', '0.3', '--root', c.b.root, '--state', c.b.state].map((a) => `'${a}'`).join(' ');
  const child = spawn('script', ['-qfec', cmd, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const guard = setTimeout(() => child.kill('SIGKILL'), 40_000); // a top that does not quit fails, not hangs
  const closed = new Promise<number | null>((r) => child.on('close', (code) => (clearTimeout(guard), r(code))));
  const frames = () => out.split('\x1b[H\x1b[2J').length - 1;
  const deadline = Date.now() + 30_000;
  while (frames() < 2 && Date.now() < deadline) await sleep(50);
  child.stdin.write('m');
  const before = frames();
  while (!/sort: mem/.test(out) && Date.now() < deadline) await sleep(50);
  child.stdin.write('q');
  const code = await closed;
  t.is(code, 0, out.slice(-500));
  t.true(before >= 2, 'it refreshed');
  t.true(out.includes('\x1b[?1049h') && out.includes('\x1b[?1049l'), 'entered and left the alternate screen');
  t.regex(out, /berth top \(berthd\) \S+ {2}sort: cpu/);
  t.regex(out, /sort: mem[^\n]*\r?\n\r?\nPOD \/ CONTAINER/, 'm sorted by memory');
  t.regex(out, /sleeper +\S+ +\S+ \/ 50\.0%/);
});

rootOnly('with berthd stopped, every command reads the store and the host read-only and says so', async (t) => {
  const c = t.context;
  const before = json(await berth(t, ['ps', '-o', 'json']));
  await c.b.stop();
  try {
    const r = await berth(t, ['ps', '-o', 'json']);
    t.is(r.code, 0, r.stderr);
    t.regex(r.stderr, /berthd is not running .*read-only view/);
    const after = json(r);
    t.deepEqual(checkShape(after, POD_LIST), []);
    t.is(after.mode, 'read-only');
    t.deepEqual(after.pods, before.pods, 'the same answer as berthd gave');
    const human = await berth(t, ['ps']);
    t.regex(normalize(human.stdout, c), /├─ sleeper {2}<ID> {2}running/);

    const o = json(await berth(t, ['inspect', c.sleeper, '-o', 'json']));
    t.deepEqual(checkShape(o, INSPECT(INSPECT_CONTAINER)), []);
    t.is(o.mode, 'read-only');
    t.is(o.object.events, null, 'no event ring without berthd');
    t.is(o.object.runtime.state.status, 'running');
    t.true(o.object.conmon.alive);
    t.is(o.object.cgroup.limits.memoryBytes, 64 * 1024 * 1024);

    const l = await berth(t, ['logs', c.printer, '--stream', 'stderr']);
    t.is(l.code, 0);
    t.regex(l.stderr, /read-only view[^\n]*\ntwo\n$/);

    const top = json(await berth(t, ['top', '--once', '-o', 'json', '--interval', '0.3']));
    t.is(top.mode, 'read-only');
    t.is(top.rows.find((x: { id: string }) => x.id === c.sleeper).memoryLimit, 64 * 1024 * 1024);
    t.is((await berth(t, ['inspect', 'ffffffffffff'])).code, 3);
  } finally {
    await c.b.start();
  }
  t.is(json(await berth(t, ['ps', '-o', 'json'])).mode, 'berthd', 'back to berthd once it runs');
});
