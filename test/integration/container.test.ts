// Containers against a real berthd, runc, conmon and busybox images from a local registry:
// lifecycle and CRI logs, exit codes, OOM, cgroup limits and live updates, security
// settings, pod networking on localhost, stop timeouts, berthd restarts, the crun handler,
// and that removal leaves nothing behind. Needs root (CI runs as root).
import anyTest, { type TestFn, type ExecutionContext } from 'ava';
import { readFile, readdir, rename, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { status as Status } from '@grpc/grpc-js';
import { podConfig, isRoot } from '../helpers/berthd.js';
import { startBerthdWithImages, stopBerthdWithImages, type BerthdTestContext } from '../helpers/berthd-images.js';
import { expectCode } from '../helpers/grpc-assert.js';
import { busyboxLayer } from '../helpers/image-builder.js';
import { mountPoints } from '../../hostutil/mounts.js';
import { readAppArmorHost } from '../../server/container/apparmor.js';

interface Ctx extends BerthdTestContext {
  /** A second image with two layers, a user `app` (uid 1500) and a StopSignal. */
  appImage: string;
}
const test = anyTest as TestFn<Ctx>;
const rootOnly = isRoot() ? test.serial : test.serial.skip;
if (!isRoot()) console.log('container integration tests skipped: they need root');

test.before(async (t) => {
  if (!isRoot()) return;
  const base = busyboxLayer();
  const { b, reg, images } = await startBerthdWithImages({
    busybox: { layers: [base], config: { Cmd: ['/bin/sh'] } },
    app: {
      layers: [
        base,
        {
          entries: [
            { path: 'etc', type: 'dir' },
            { path: 'etc/passwd', content: 'root:x:0:0:root:/root:/bin/sh\napp:x:1500:1600:app:/home/app:/bin/sh\n' },
            { path: 'etc/app.conf', content: 'x=1\n' },
          ],
        },
      ],
      config: { Entrypoint: ['/bin/sh', '-c'], Cmd: ['sleep 1000'], StopSignal: 'SIGUSR1' },
    },
  });
  Object.assign(t.context, { b, reg, image: images.busybox, appImage: images.app });
});
test.after.always((t) => stopBerthdWithImages(t.context));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function cgroupParent(): string {
  return `/berth-test-${randomBytes(4).toString("hex")}`;
}

async function runPod(t: ExecutionContext<Ctx>, name: string, extra: Record<string, unknown> = {}) {
  const b = t.context.b;
  const { runtime_handler, ...rest } = extra;
  const parent = cgroupParent();
  const config = { ...podConfig(b, name, { linux: { cgroup_parent: parent }, ...rest }), linux: { cgroup_parent: parent, ...((rest.linux as object) ?? {}) } };
  const { pod_sandbox_id } = await b.client.call('RunPodSandbox', { config, ...(runtime_handler ? { runtime_handler } : {}) });
  return { id: pod_sandbox_id as string, config, parent };
}

function containerConfig(t: ExecutionContext<Ctx>, name: string, command: string[], extra: Record<string, unknown> = {}) {
  return {
    metadata: { name, attempt: 0 },
    image: { image: t.context.image },
    command,
    log_path: `${name}/0.log`,
    labels: { app: name },
    ...extra,
  };
}

async function create(t: ExecutionContext<Ctx>, pod: { id: string; config: object }, cfg: object): Promise<string> {
  const r = await t.context.b.client.call('CreateContainer', { pod_sandbox_id: pod.id, config: cfg, sandbox_config: pod.config });
  return r.container_id as string;
}

async function createAndStart(t: ExecutionContext<Ctx>, pod: { id: string; config: object }, cfg: object): Promise<string> {
  const id = await create(t, pod, cfg);
  await t.context.b.client.call('StartContainer', { container_id: id });
  return id;
}

async function status(t: ExecutionContext<Ctx>, id: string, verbose = false) {
  return t.context.b.client.call('ContainerStatus', { container_id: id, verbose });
}

async function waitState(t: ExecutionContext<Ctx>, id: string, state: string, ms = 10_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const st = (await status(t, id)).status;
    if (st.state === state) return st;
    if (Date.now() > deadline) throw new Error(`container ${id} is ${st.state}, not ${state}`);
    await sleep(50);
  }
}

async function exec(t: ExecutionContext<Ctx>, id: string, cmd: string[], timeout = 10) {
  const r = await t.context.b.client.call('ExecSync', { container_id: id, cmd, timeout });
  return { code: r.exit_code as number, out: Buffer.from(r.stdout).toString(), err: Buffer.from(r.stderr).toString() };
}

async function conmonProcesses(tag: string): Promise<number[]> {
  const found: number[] = [];
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const cmd = await readFile(`/proc/${pid}/cmdline`, 'latin1');
      if (cmd.startsWith('/usr/bin/conmon') && cmd.includes(tag)) found.push(Number(pid));
    } catch {
      /* gone */
    }
  }
  return found;
}

async function cgroupDirsNamed(name: string): Promise<string[]> {
  const out: string[] = [];
  for (const h of await readdir('/sys/fs/cgroup')) if (existsSync(join('/sys/fs/cgroup', h, name))) out.push(join('/sys/fs/cgroup', h, name));
  return out;
}

/** Asserts that a removed container left no mount, dir, runtime state, conmon or cgroup. */
async function assertGone(t: ExecutionContext<Ctx>, id: string, cgroupPath: string) {
  const b = t.context.b;
  const mounts = await mountPoints();
  t.false(mounts.some((m) => m.includes(id)), 'no mount of the container remains');
  t.false(existsSync(join(b.root, 'containers', id)), 'no container dir');
  t.false(existsSync(join(b.state, 'containers', id)), 'no bundle dir');
  t.false(existsSync(join(b.state, 'exits', id)), 'no exit file');
  t.false(existsSync(join(b.state, 'runc', id)), 'no runtime state');
  t.deepEqual(await conmonProcesses(id), [], 'no conmon');
  if (cgroupPath) for (const h of await readdir('/sys/fs/cgroup')) t.false(existsSync(join('/sys/fs/cgroup', h, cgroupPath)), `no cgroup ${h}${cgroupPath}`);
}

const CRI_LINE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+(Z|[+-]\d\d:\d\d) (stdout|stderr) (P|F) (.*)$/;

rootOnly('lifecycle: create, start, logs in CRI format, exit codes, list, status, remove leaves nothing', async (t) => {
  const b = t.context.b;
  const t0 = process.hrtime.bigint();
  const pod = await runPod(t, 'life');
  const t1 = process.hrtime.bigint();
  const okId = await create(t, pod, containerConfig(t, 'ok', ['/bin/sh', '-c', 'echo hello out; echo hello err >&2; exit 0']));
  const t2 = process.hrtime.bigint();
  await b.client.call('StartContainer', { container_id: okId });
  const t3 = process.hrtime.bigint();
  const ms = (a: bigint, z: bigint) => Number(z - a) / 1e6;
  t.log(`pod-to-running: ${ms(t0, t3).toFixed(0)} ms (RunPodSandbox ${ms(t0, t1).toFixed(0)}, CreateContainer ${ms(t1, t2).toFixed(0)}, StartContainer ${ms(t2, t3).toFixed(0)})`);

  const failId = await createAndStart(t, pod, containerConfig(t, 'fail', ['/bin/sh', '-c', 'echo bye; exit 3']));
  const ok = await waitState(t, okId, 'CONTAINER_EXITED');
  const fail = await waitState(t, failId, 'CONTAINER_EXITED');
  t.is(ok.exit_code, 0);
  t.is(ok.reason, 'Completed');
  t.is(fail.exit_code, 3);
  t.is(fail.reason, 'Error');
  t.true(BigInt(ok.finished_at) >= BigInt(ok.started_at) && BigInt(ok.started_at) >= BigInt(ok.created_at) && BigInt(ok.created_at) > 0n);
  t.is(ok.log_path, join(pod.config.log_directory, 'ok/0.log'));
  t.is(ok.image.user_specified_image, t.context.image);
  t.regex(ok.image_ref, /sha256:/);
  t.deepEqual(ok.labels, { app: 'ok' });

  const lines = (await readFile(ok.log_path, 'utf8')).trim().split('\n');
  t.true(lines.every((l) => CRI_LINE.test(l)), lines.join('\n'));
  const texts = lines.map((l) => CRI_LINE.exec(l)!).map((m) => `${m[2]} ${m[3]} ${m[4]}`).sort();
  t.deepEqual(texts, ['stderr F hello err', 'stdout F hello out']);
  t.regex(await readFile(fail.log_path, 'utf8'), / stdout F bye\n$/);

  // Lists and filters.
  const all = (await b.client.call('ListContainers', {})).containers.filter((c: { pod_sandbox_id: string }) => c.pod_sandbox_id === pod.id);
  t.is(all.length, 2);
  const byLabel = (await b.client.call('ListContainers', { filter: { label_selector: { app: 'fail' } } })).containers;
  t.deepEqual(byLabel.map((c: { id: string }) => c.id), [failId]);
  const byPrefix = (await b.client.call('ListContainers', { filter: { id: okId.slice(0, 12), pod_sandbox_id: pod.id.slice(0, 12), state: { state: 'CONTAINER_EXITED' } } })).containers;
  t.deepEqual(byPrefix.map((c: { id: string }) => c.id), [okId]);
  t.is((await b.client.call('ListContainers', { filter: { state: { state: 'CONTAINER_RUNNING' }, pod_sandbox_id: pod.id } })).containers.length, 0);
  const podSt = await b.client.call('PodSandboxStatus', { pod_sandbox_id: pod.id });
  t.is(podSt.containers_statuses.length, 2);

  // Errors: duplicate name, missing image, unknown pod, log path escaping, missing host path.
  await expectCode(t, create(t, pod, containerConfig(t, 'ok', ['true'])), Status.ALREADY_EXISTS);
  await expectCode(t, create(t, pod, { ...containerConfig(t, 'noimg', ['true']), image: { image: `${t.context.reg.host}/test/none:v1` } }), Status.NOT_FOUND);
  await expectCode(t, create(t, pod, { ...containerConfig(t, 'esc', ['true']), log_path: '../../escape.log' }), Status.INVALID_ARGUMENT, /escapes/);
  await expectCode(t, create(t, pod, { ...containerConfig(t, 'mnt', ['true']), mounts: [{ container_path: '/data', host_path: join(b.dir, 'does-not-exist') }] }), Status.INVALID_ARGUMENT, /does not exist/);
  await expectCode(t, b.client.call('CreateContainer', { pod_sandbox_id: 'f'.repeat(64), config: containerConfig(t, 'x', ['true']) }), Status.NOT_FOUND);
  await expectCode(t, b.client.call('StartContainer', { container_id: okId }), Status.FAILED_PRECONDITION);

  // Verbose status carries the pid and the OCI spec.
  const running = await createAndStart(t, pod, containerConfig(t, 'sleeper', ['sleep', '1000']));
  const v = await status(t, running, true);
  const info = JSON.parse(v.info.info);
  t.true(info.pid > 0);
  t.true(existsSync(`/proc/${info.pid}`));
  t.deepEqual(info.runtimeSpec.process.args, ['sleep', '1000']);
  const cgroupPath = info.runtimeSpec.linux.cgroupsPath as string;
  t.true(cgroupPath.startsWith(`${pod.parent}/`));

  // Remove: the running one by force; everything goes; a second remove is a success.
  for (const id of [okId, failId, running]) await b.client.call('RemoveContainer', { container_id: id });
  await b.client.call('RemoveContainer', { container_id: okId });
  await expectCode(t, status(t, okId), Status.NOT_FOUND);
  for (const id of [okId, failId]) await assertGone(t, id, '');
  await assertGone(t, running, cgroupPath);
  await b.client.call('StopPodSandbox', { pod_sandbox_id: pod.id });
  await b.client.call('RemovePodSandbox', { pod_sandbox_id: pod.id });
  t.deepEqual(await cgroupDirsNamed(pod.parent.slice(1)), [], 'the pod cgroup parent is gone in every hierarchy');
});

rootOnly('OOMKilled with a 16 MiB memory limit', async (t) => {
  const b = t.context.b;
  const pod = await runPod(t, 'oom');
  const id = await createAndStart(t, pod, containerConfig(t, 'hog', ['/bin/sh', '-c', 'tail /dev/zero'], { linux: { resources: { memory_limit_in_bytes: String(16 * 1024 * 1024) } } }));
  const st = await waitState(t, id, 'CONTAINER_EXITED', 30_000);
  t.is(st.reason, 'OOMKilled');
  t.is(st.exit_code, 137);
  await b.client.call('RemovePodSandbox', { pod_sandbox_id: pod.id });
  await expectCode(t, status(t, id), Status.NOT_FOUND);
});

rootOnly('cgroup files hold the requested limits and change after UpdateContainerResources', async (t) => {
  const b = t.context.b;
  const pod = await runPod(t, 'limits');
  const id = await createAndStart(
    t,
    pod,
    containerConfig(t, 'limited', ['sleep', '1000'], {
      linux: { resources: { cpu_period: '100000', cpu_quota: '50000', cpu_shares: '512', memory_limit_in_bytes: String(64 * 1024 * 1024) } },
    }),
  );
  const cg = JSON.parse((await status(t, id, true)).info.info).cgroupsPath as string;
  const read = async (ctl: string, file: string) => (await readFile(join('/sys/fs/cgroup', ctl, cg, file), 'utf8')).trim();
  t.is(await read('cpu', 'cpu.cfs_quota_us'), '50000');
  t.is(await read('cpu', 'cpu.cfs_period_us'), '100000');
  t.is(await read('cpu', 'cpu.shares'), '512');
  t.is(await read('memory', 'memory.limit_in_bytes'), String(64 * 1024 * 1024));
  // The container sees its own limit too.
  t.is((await exec(t, id, ['cat', '/sys/fs/cgroup/memory/memory.limit_in_bytes'])).out.trim(), String(64 * 1024 * 1024));

  const updated = { cpu_period: '200000', cpu_quota: '100000', cpu_shares: '1024', memory_limit_in_bytes: String(128 * 1024 * 1024) };
  await b.client.call('UpdateContainerResources', { container_id: id, linux: updated });
  t.is(await read('cpu', 'cpu.cfs_quota_us'), '100000');
  t.is(await read('cpu', 'cpu.cfs_period_us'), '200000');
  t.is(await read('cpu', 'cpu.shares'), '1024');
  t.is(await read('memory', 'memory.limit_in_bytes'), String(128 * 1024 * 1024));
  const res = (await status(t, id)).status.resources.linux;
  t.is(res.cpu_quota, '100000');
  t.is(res.memory_limit_in_bytes, String(128 * 1024 * 1024));
  await b.client.call('RemovePodSandbox', { pod_sandbox_id: pod.id });
  for (const h of await readdir('/sys/fs/cgroup')) t.false(existsSync(join('/sys/fs/cgroup', h, pod.parent)), `no cgroup left in ${h}`);
});

rootOnly('security: read-only rootfs, run_as_user, run_as_username, capabilities, RuntimeDefault seccomp', async (t) => {
  const b = t.context.b;
  const pod = await runPod(t, 'sec');
  const ro = await createAndStart(
    t,
    pod,
    containerConfig(t, 'ro', ['sleep', '1000'], {
      linux: { security_context: { readonly_rootfs: true, run_as_user: { value: '1234' }, seccomp: { profile_type: 'RuntimeDefault' } } },
    }),
  );
  t.is((await exec(t, ro, ['id', '-u'])).out.trim(), '1234');
  const touch = await exec(t, ro, ['touch', '/newfile']);
  t.not(touch.code, 0);
  t.regex(touch.err, /Read-only file system/);
  t.regex((await exec(t, ro, ['grep', 'Seccomp:', '/proc/self/status'])).out, /Seccomp:\s+2/);

  // run_as_username resolved from the image's /etc/passwd (in its second layer).
  const named = await createAndStart(t, pod, {
    ...containerConfig(t, 'named', ['sleep', '1000']),
    image: { image: t.context.appImage },
    command: [],
    args: [],
    linux: { security_context: { run_as_username: 'app' } },
  });
  t.is((await exec(t, named, ['id'])).out.trim().split(' ').slice(0, 2).join(' '), 'uid=1500(app) gid=1600');

  const caps = await createAndStart(
    t,
    pod,
    containerConfig(t, 'caps', ['sleep', '1000'], { linux: { security_context: { capabilities: { drop_capabilities: ['ALL'], add_capabilities: ['NET_ADMIN', 'CAP_KILL'] } } } }),
  );
  const capEff = /CapEff:\s+([0-9a-f]+)/.exec((await exec(t, caps, ['cat', '/proc/self/status'])).out)![1]!;
  t.is(BigInt(`0x${capEff}`), (1n << 12n) | (1n << 5n), 'only CAP_NET_ADMIN and CAP_KILL');
  const dflt = await createAndStart(t, pod, containerConfig(t, 'dflt', ['sleep', '1000'], { linux: { security_context: { capabilities: { drop_capabilities: ['CHOWN'] } } } }));
  const dfltEff = BigInt(`0x${/CapEff:\s+([0-9a-f]+)/.exec((await exec(t, dflt, ['cat', '/proc/self/status'])).out)![1]}`);
  t.is(dfltEff & 1n, 0n, 'CAP_CHOWN dropped');
  t.not(dfltEff & (1n << 5n), 0n, 'CAP_KILL kept from the default set');
  t.is(dfltEff & (1n << 21n), 0n, 'no CAP_SYS_ADMIN');
  await b.client.call('RemovePodSandbox', { pod_sandbox_id: pod.id });
});

rootOnly('AppArmor: profiles on a host without it are refused whole; unset and Unconfined run (the guest tier covers a host with it)', async (t) => {
  const b = t.context.b;
  const host = await readAppArmorHost();
  const pod = await runPod(t, 'armor');
  const unset = await createAndStart(t, pod, containerConfig(t, 'unset', ['sleep', '1000']));
  const unconfined = await createAndStart(t, pod, containerConfig(t, 'unconf', ['sleep', '1000'], { linux: { security_context: { apparmor: { profile_type: 'Unconfined' } } } }));
  const before = ((await b.client.call('ListContainers', { filter: { pod_sandbox_id: pod.id } })).containers as unknown[]).length;
  t.is(before, 2);
  if (!host.enabled) {
    t.log(`AppArmor on this host: ${host.reason}`);
    for (const [name, sc] of [
      ['rd', { apparmor: { profile_type: 'RuntimeDefault' } }],
      ['lh', { apparmor: { profile_type: 'Localhost', localhost_ref: 'localhost/some-profile' } }],
      ['legacy', { apparmor_profile: 'runtime/default' }],
    ] as const) {
      await expectCode(t, create(t, pod, containerConfig(t, name, ['sleep', '1000'], { linux: { security_context: sc } })), Status.FAILED_PRECONDITION, /AppArmor is not enabled on this node/);
    }
    // Refused before anything was made: no record, and the name is free for a retry.
    t.is(((await b.client.call('ListContainers', { filter: { pod_sandbox_id: pod.id } })).containers as unknown[]).length, before);
    await createAndStart(t, pod, containerConfig(t, 'rd', ['sleep', '1000']));
  } else {
    t.regex((await exec(t, unset, ['cat', '/proc/self/attr/current'])).out, /^berth-default \(enforce\)/);
  }
  await expectCode(t, create(t, pod, containerConfig(t, 'badname', ['sleep', '1000'], { linux: { security_context: { apparmor_profile: 'localhost/../x' } } })), Status.INVALID_ARGUMENT, /apparmor profile name/);
  t.truthy(unconfined);
  await b.client.call('RemovePodSandbox', { pod_sandbox_id: pod.id });
});

rootOnly('two containers of one pod reach each other on localhost; ExecSync timeout is reported', async (t) => {
  const b = t.context.b;
  const pod = await runPod(t, 'net');
  await createAndStart(t, pod, containerConfig(t, 'server', ['/bin/sh', '-c', 'while true; do echo pong | nc -l -p 8080; done']));
  const client = await createAndStart(t, pod, containerConfig(t, 'client', ['sleep', '1000']));
  let out = '';
  for (let i = 0; i < 50 && !out.includes('pong'); i++) {
    out = (await exec(t, client, ['nc', '-w', '1', '127.0.0.1', '8080'])).out;
    if (!out.includes('pong')) await sleep(100);
  }
  t.is(out.trim(), 'pong');
  const started = Date.now();
  await expectCode(t, exec(t, client, ['sleep', '30'], 1), Status.DEADLINE_EXCEEDED, /timed out/);
  t.true(Date.now() - started < 5000);
  t.false((await exec(t, client, ['ps'])).out.includes('sleep 30'), 'the timed-out process was killed');
  await b.client.call('RemovePodSandbox', { pod_sandbox_id: pod.id });
});

rootOnly("the runtime's failures keep its words and get a code: a missing command is INVALID_ARGUMENT; a failed create leaves nothing", async (t) => {
  const b = t.context.b;
  const pod = await runPod(t, 'rterr');
  // runc checks the command at create: conmon reports runc's words, berthd classifies them.
  t.log(await expectCode(t, create(t, pod, containerConfig(t, 'missing', ['/no/such/binary'])), Status.INVALID_ARGUMENT, /\/no\/such\/binary.*no such file or directory/));
  t.deepEqual((await b.client.call('ListContainers', { filter: { pod_sandbox_id: pod.id } })).containers, [], 'the failed create is not listed');
  t.deepEqual(await conmonProcesses('_missing_0'), [], 'no conmon of the failed create is left');
  const c = await createAndStart(t, pod, containerConfig(t, 'sleeper', ['sleep', '1000']));
  // ExecSync: the runtime could not start the process (no pid file) → its typed error …
  t.log(await expectCode(t, exec(t, c, ['berth-no-such-command']), Status.INVALID_ARGUMENT, /executable file not found/));
  // … while a process that ran and exited 255 is an exit code, not an error.
  t.is((await exec(t, c, ['/bin/sh', '-c', 'exit 255'])).code, 255);
  await b.client.call('StopPodSandbox', { pod_sandbox_id: pod.id });
  await b.client.call('RemovePodSandbox', { pod_sandbox_id: pod.id });
});

rootOnly('stop honours the timeout: a process ignoring SIGTERM is killed after it; one handling it stops at once', async (t) => {
  const b = t.context.b;
  const pod = await runPod(t, 'stop');
  // PID 1 without a handler ignores SIGTERM.
  const stubborn = await createAndStart(t, pod, containerConfig(t, 'stubborn', ['sleep', '1000']));
  const polite = await createAndStart(t, pod, containerConfig(t, 'polite', ['/bin/sh', '-c', 'trap "exit 3" TERM; while true; do sleep 0.1; done']));
  let t0 = Date.now();
  await b.client.call('StopContainer', { container_id: stubborn, timeout: 2 });
  const slow = Date.now() - t0;
  t.true(slow >= 1900 && slow < 6000, `took ${slow} ms`);
  t.is((await status(t, stubborn)).status.exit_code, 137);
  t0 = Date.now();
  await b.client.call('StopContainer', { container_id: polite, timeout: 10 });
  t.true(Date.now() - t0 < 2000);
  const st = (await status(t, polite)).status;
  t.is(st.state, 'CONTAINER_EXITED');
  t.is(st.exit_code, 3);
  await b.client.call('StopContainer', { container_id: polite, timeout: 10 }); // idempotent
  // The image's StopSignal (SIGUSR1, unhandled → the shell dies of it) is what stop sends first.
  const app = await createAndStart(t, pod, { ...containerConfig(t, 'app', []), image: { image: t.context.appImage }, command: [], args: ['trap "exit 9" USR1; while true; do sleep 0.1; done'] });
  await b.client.call('StopContainer', { container_id: app, timeout: 10 });
  t.is((await status(t, app)).status.exit_code, 9);
  await b.client.call('RemovePodSandbox', { pod_sandbox_id: pod.id });
});

rootOnly('the crun handler runs a container, or is reported not ready with its reason', async (t) => {
  const b = t.context.b;
  const st = await b.client.call('Status', { verbose: true });
  const crun = (JSON.parse(st.info.handlers) as Array<{ name: string; ready: boolean; reason: string }>).find((h) => h.name === 'crun')!;
  const pod = await runPod(t, 'crun', { runtime_handler: 'crun' });
  if (!crun.ready) {
    t.log(`crun handler not ready on this host: ${crun.reason}`);
    t.regex(crun.reason, /hybrid/);
    await expectCode(t, create(t, pod, containerConfig(t, 'c', ['true'])), Status.FAILED_PRECONDITION, /hybrid/);
  } else {
    const id = await createAndStart(t, pod, containerConfig(t, 'c', ['/bin/sh', '-c', 'exit 4']));
    t.is((await waitState(t, id, 'CONTAINER_EXITED')).exit_code, 4);
  }
  await b.client.call('RemovePodSandbox', { pod_sandbox_id: pod.id });
});

rootOnly('berthd SIGKILL: running containers keep running, exits during and after the outage are reported', async (t) => {
  const b = t.context.b;
  const pod = await runPod(t, 'restart');
  const waiter = await createAndStart(t, pod, containerConfig(t, 'waiter', ['/bin/sh', '-c', 'while [ ! -f /tmp/go ]; do sleep 0.1; done; exit 5']));
  const quick = await createAndStart(t, pod, containerConfig(t, 'quick', ['/bin/sh', '-c', 'sleep 1; exit 7']));
  const pid = JSON.parse((await status(t, waiter, true)).info.info).pid as number;
  await b.kill();
  await sleep(2000);
  t.true(existsSync(`/proc/${pid}`), 'the container survived berthd');
  await b.start();
  t.is((await status(t, waiter)).status.state, 'CONTAINER_RUNNING');
  const q = (await status(t, quick)).status;
  t.is(q.state, 'CONTAINER_EXITED', 'exited while berthd was down');
  t.is(q.exit_code, 7);
  await exec(t, waiter, ['touch', '/tmp/go']);
  const w = await waitState(t, waiter, 'CONTAINER_EXITED');
  t.is(w.exit_code, 5);
  // Log rotation: a fresh container writes on into the reopened file.
  const talker = await createAndStart(t, pod, containerConfig(t, 'talker', ['/bin/sh', '-c', 'i=0; while true; do echo line $i; i=$((i+1)); sleep 0.05; done']));
  const logPath = (await status(t, talker)).status.log_path as string;
  await sleep(300);
  await rename(logPath, `${logPath}.1`);
  await b.client.call('ReopenContainerLog', { container_id: talker });
  await sleep(300);
  t.true((await stat(logPath)).size > 0, 'the reopened log gets new lines');
  await b.client.call('RemovePodSandbox', { pod_sandbox_id: pod.id });
  t.deepEqual(await conmonProcesses('restart_berth-test_'), [], 'no conmon of the pod remains');
});

rootOnly('container and pod stats come from the cgroups: CPU, memory, writable layer', async (t) => {
  const b = t.context.b;
  const pod = await runPod(t, 'stats');
  const id = await createAndStart(t, pod, containerConfig(t, 'busy', ['/bin/sh', '-c', 'dd if=/dev/zero of=/big bs=1M count=3; while true; do :; done']));
  await sleep(700);
  const one = (await b.client.call('ContainerStats', { container_id: id })).stats;
  t.is(one.attributes.id, id);
  t.is(one.attributes.metadata.name, 'busy');
  t.true(BigInt(one.cpu.timestamp) > 0n && BigInt(one.memory.timestamp) > 0n);
  t.true(BigInt(one.cpu.usage_core_nano_seconds.value) > 0n);
  t.true(BigInt(one.memory.working_set_bytes.value) > 0n);
  t.true(BigInt(one.writable_layer.used_bytes.value) >= 3n << 20n, 'the 3 MiB file in the upper dir is counted');
  await sleep(500);
  const listed = (await b.client.call('ListContainerStats', { filter: { id: id.slice(0, 12) } })).stats;
  t.is(listed.length, 1);
  t.true(BigInt(listed[0].cpu.usage_nano_cores.value) > 100_000_000n, 'a busy loop uses more than 0.1 core');
  t.true((await b.client.call('ListContainerStats', {})).stats.some((s: { attributes: { id: string } }) => s.attributes.id === id));
  t.deepEqual((await b.client.call('ListContainerStats', { filter: { pod_sandbox_id: 'f'.repeat(64) } })).stats, []);
  const ps = (await b.client.call('PodSandboxStats', { pod_sandbox_id: pod.id })).stats;
  t.is(ps.attributes.id, pod.id);
  t.is(ps.linux.containers.length, 1);
  t.true(BigInt(ps.linux.cpu.usage_core_nano_seconds.value) >= BigInt(one.cpu.usage_core_nano_seconds.value));
  t.true(BigInt(ps.linux.memory.working_set_bytes.value) > 0n);
  t.true((await b.client.call('ListPodSandboxStats', {})).stats.some((s: { attributes: { id: string } }) => s.attributes.id === pod.id));
  await expectCode(t, b.client.call('ContainerStats', { container_id: 'f'.repeat(64) }), Status.NOT_FOUND);
  // The same readings as cAdvisor-named metrics.
  const descriptors = (await b.client.call('ListMetricDescriptors', {})).descriptors as Array<{ name: string; label_keys: string[] }>;
  t.true(descriptors.some((d) => d.name === 'container_cpu_usage_seconds_total'));
  t.true(descriptors.every((d) => d.label_keys.slice(0, 3).join() === 'id,name,image'));
  const pm = (await b.client.call('ListPodSandboxMetrics', {})).pod_metrics.find((p: { pod_sandbox_id: string }) => p.pod_sandbox_id === pod.id);
  const cm = pm.container_metrics.find((c: { container_id: string }) => c.container_id === id);
  const ws = cm.metrics.find((m: { name: string }) => m.name === 'container_memory_working_set_bytes');
  t.is(ws.metric_type, 'GAUGE');
  t.deepEqual(ws.label_values, [id, 'busy', t.context.image]);
  t.true(BigInt(ws.value.value) > 0n);
  await b.client.call('RemovePodSandbox', { pod_sandbox_id: pod.id });
});
