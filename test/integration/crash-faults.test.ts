// Faults around berthd other than its own crash: conmon SIGKILLed under a running container,
// the OCI runtime (runc) SIGKILLed in the middle of a create, the store on a full filesystem,
// and a damaged or locked meta.db. The next CRI calls answer with a clear code or succeed,
// nothing leaks (test/helpers/crash-audit.ts), and berthd never starts on a store it cannot
// read whole: it refuses with the recovery steps, and starts again once the store is back.
import anyTest, { type TestFn } from 'ava';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFile, open, readdir, readFile, rm, rmdir, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { status as Status } from '@grpc/grpc-js';
import { startBerthd, podConfig, isRoot, removePodsAndCleanup, type TestBerthd } from '../helpers/berthd.js';
import { buildImage, busyboxLayer, pushImage } from '../helpers/image-builder.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { audit, type AuditScope } from '../helpers/crash-audit.js';
import { run } from '../../hostutil/exec.js';

const test = anyTest as TestFn<{ reg: TestRegistry; image: string; b: TestBerthd; scope: AuditScope }>;
const rootOnly = isRoot() ? test.serial : test.serial.skip;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test.before(async (t) => {
  if (!isRoot()) return;
  const reg = await startRegistry();
  t.context.reg = reg;
  await pushImage(reg.url, 'test/busybox', 'v1', await buildImage({ layers: [busyboxLayer()], config: { Cmd: ['/bin/sh'] } }));
  t.context.image = `${reg.host}/test/busybox:v1`;
  t.context.b = await startBerthd();
  await t.context.b.client.call('PullImage', { image: { image: t.context.image } }, { service: 'image' });
  t.context.scope = { cgroupRoot: `/berth-test-cf-${randomBytes(4).toString('hex')}` };
});
test.after.always(async (t) => {
  await removePodsAndCleanup(t.context.b);
  for (const h of await readdir('/sys/fs/cgroup').catch(() => [])) if (t.context.scope) await rmdir(`/sys/fs/cgroup/${h}${t.context.scope.cgroupRoot}`).catch(() => undefined);
  await t.context.reg?.stop();
});

async function runPod(t: { context: { b: TestBerthd; scope: AuditScope } }, name: string) {
  const config = podConfig(t.context.b, name);
  Object.assign(config, { linux: { cgroup_parent: `${t.context.scope.cgroupRoot}/pod-${config.metadata.uid}` } });
  const { pod_sandbox_id } = await t.context.b.client.call('RunPodSandbox', { config });
  return { id: pod_sandbox_id as string, config };
}

function ctr(image: string, name: string) {
  return { metadata: { name, attempt: 0 }, image: { image }, command: ['/bin/sh', '-c', 'trap "exit 0" TERM; sleep 1000 & wait'], log_path: `${name}.log` };
}

/** Processes of this test berthd whose command line matches. */
async function findProcs(b: TestBerthd, re: RegExp): Promise<number[]> {
  const out: number[] = [];
  for (const p of await readdir('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const env = await readFile(`/proc/${p}/environ`, 'latin1');
      if (!env.split('\0').includes(`BERTH_TEST_RUN=${b.dir}`)) continue;
      const cmd = (await readFile(`/proc/${p}/cmdline`, 'latin1')).replace(/\0/g, ' ');
      if (re.test(cmd)) out.push(Number(p));
    } catch {
      /* gone */
    }
  }
  return out;
}

async function removeAllPods(b: TestBerthd): Promise<void> {
  for (const p of (await b.client.call('ListPodSandbox', {})).items) {
    await b.client.call('StopPodSandbox', { pod_sandbox_id: p.id });
    await b.client.call('RemovePodSandbox', { pod_sandbox_id: p.id });
  }
}

rootOnly('conmon SIGKILLed under a running container: the container is reported, stopped and removed cleanly', async (t) => {
  const { b, image } = t.context;
  const pod = await runPod(t, 'conmon-kill');
  const { container_id: id } = await b.client.call('CreateContainer', { pod_sandbox_id: pod.id, config: ctr(image, 'c'), sandbox_config: pod.config });
  await b.client.call('StartContainer', { container_id: id });
  const [conmon] = await findProcs(b, new RegExp(`conmon .*-c ${id}`));
  t.truthy(conmon, 'conmon runs');
  process.kill(conmon!, 'SIGKILL');
  await sleep(200);
  const st = await b.client.call('ContainerStatus', { container_id: id });
  t.log(`after conmon died: ${st.status.state} ${st.status.reason} ${st.status.message}`);
  await b.client.call('StopContainer', { container_id: id, timeout: 5 });
  t.is((await b.client.call('ContainerStatus', { container_id: id })).status.state, 'CONTAINER_EXITED');
  await b.client.call('RemoveContainer', { container_id: id });
  t.deepEqual(await audit(b, t.context.scope), []);
  await removeAllPods(b);
  t.deepEqual(await audit(b, t.context.scope), []);
});

rootOnly('runc SIGKILLed in the middle of a create: CreateContainer fails with a clear error, nothing leaks, the next create works', async (t) => {
  const { image } = t.context;
  // A berthd whose runtime is runc behind a wrapper that tells the test the pid of each
  // `runc create` it starts (the process tree of the create: conmon → wrapper → runc).
  const rtDir = `/tmp/berth-test-rt-${randomBytes(4).toString('hex')}`;
  await mkdir(rtDir);
  const wrapper = join(rtDir, 'runc');
  await writeFile(
    wrapper,
    `#!/bin/sh\nfor a in "$@"; do if [ "$a" = create ]; then\n  /usr/sbin/runc "$@" &\n  echo $! > ${rtDir}/create.pid.tmp && mv ${rtDir}/create.pid.tmp ${rtDir}/create.pid\n  wait $!\n  exit $?\nfi; done\nexec /usr/sbin/runc "$@"\n`,
    { mode: 0o755 },
  );
  const b = await startBerthd({ configToml: `default_runtime = "wrapped"\n[runtimes.wrapped]\npath = "${wrapper}"\n` });
  const scope: AuditScope = { cgroupRoot: t.context.scope.cgroupRoot, runtimes: { wrapped: { path: wrapper, root: join(b.state, 'wrapped') } } };
  try {
    await b.client.call('PullImage', { image: { image } }, { service: 'image' });
    const pod = await runPod({ context: { b, scope } }, 'runc-kill');
    let killed = 0;
    let watching = true;
    const watcher = (async () => {
      while (watching && !killed) {
        const pid = Number((await readFile(join(rtDir, 'create.pid'), 'utf8').catch(() => '')).trim());
        if (pid) {
          try {
            process.kill(pid, 'SIGKILL');
            killed = pid;
          } catch {
            /* over already */
          }
        }
        await sleep(2);
      }
    })();
    const outcome = await b.client
      .call('CreateContainer', { pod_sandbox_id: pod.id, config: ctr(image, 'c'), sandbox_config: pod.config })
      .then((r: { container_id: string }) => ({ ok: true as const, id: r.container_id }), (e: { code: number; details: string }) => ({ ok: false as const, e }));
    watching = false;
    await watcher;
    t.truthy(killed, 'runc create was caught and killed');
    if (outcome.ok) {
      t.log('runc had finished its create before the kill landed');
      await b.client.call('RemoveContainer', { container_id: outcome.id });
    } else {
      t.log(`CreateContainer: ${Status[outcome.e.code]}: ${outcome.e.details}`);
      t.not(outcome.e.code, Status.UNKNOWN);
      t.regex(outcome.e.details, /runc|runtime|create|conmon/i, 'the error says what failed');
    }
    t.deepEqual(await audit(b, scope), []);
    // What kubelet does next: create again and start.
    await rm(join(rtDir, 'create.pid'), { force: true });
    const { container_id: id } = await b.client.call('CreateContainer', { pod_sandbox_id: pod.id, config: ctr(image, 'c2'), sandbox_config: pod.config });
    await b.client.call('StartContainer', { container_id: id });
    t.is((await b.client.call('ContainerStatus', { container_id: id })).status.state, 'CONTAINER_RUNNING');
    await removeAllPods(b);
    t.deepEqual(await audit(b, scope), []);
  } finally {
    await removePodsAndCleanup(b);
    await rm(rtDir, { recursive: true, force: true });
  }
});

rootOnly('a full filesystem under the store: calls fail with RESOURCE_EXHAUSTED, nothing is corrupted, and all works once space is freed', async (t) => {
  const b0 = t.context.b;
  // A second berthd whose root (meta.db, pod files) is a small tmpfs.
  const small = join(b0.dir, 'small');
  await mkdir(small, { recursive: true });
  await run('mount', ['-t', 'tmpfs', '-o', 'size=24m', 'tmpfs', small]);
  let b: TestBerthd | undefined;
  try {
    b = await startBerthd({ args: ['--root', join(small, 'root')] });
    const ok = await b.client.call('RunPodSandbox', { config: podConfig(b, 'before-full') });
    // Fill the filesystem.
    const fill = join(small, 'filler');
    const fh = await open(fill, 'w');
    try {
      const chunk = Buffer.alloc(1 << 20, 1);
      for (;;) await fh.write(chunk);
    } catch (e) {
      t.is((e as NodeJS.ErrnoException).code, 'ENOSPC');
    } finally {
      await fh.close();
    }
    // Squeeze out the last bytes so SQLite cannot grow its WAL either.
    await writeFile(join(small, 'filler2'), Buffer.alloc(4096)).catch(() => undefined);
    const err = await t.throwsAsync(b.client.call('RunPodSandbox', { config: podConfig(b, 'when-full') }));
    const e = err as unknown as { code: number; details: string };
    t.log(`RunPodSandbox on a full filesystem: ${Status[e.code]}: ${e.details}`);
    t.is(e.code, Status.RESOURCE_EXHAUSTED);
    // Nothing half-made: the earlier pod is still whole; the failed one is gone.
    const pods = (await b.client.call('ListPodSandbox', {})).items as Array<{ id: string; metadata: { name: string } }>;
    t.deepEqual(pods.map((p) => p.metadata.name), ['before-full']);
    // Space freed: a restart finds an intact store (its integrity check runs at every start).
    await rm(fill, { force: true });
    await rm(join(small, 'filler2'), { force: true });
    await b.kill();
    await b.start();
    t.is((await b.client.call('PodSandboxStatus', { pod_sandbox_id: ok.pod_sandbox_id })).status.state, 'SANDBOX_READY');
    const again = await b.client.call('RunPodSandbox', { config: podConfig(b, 'after-full') });
    t.truthy(again.pod_sandbox_id);
    await removeAllPods(b);
  } finally {
    await removePodsAndCleanup(b);
    await run('umount', [small], { allowFailure: true });
  }
});

rootOnly('a damaged meta.db: berthd refuses to start with the recovery steps, and starts with its pods once the store is restored', async (t) => {
  const b = await startBerthd();
  try {
    const { pod_sandbox_id: id } = await b.client.call('RunPodSandbox', { config: podConfig(b, 'survivor') });
    t.is(await b.stop(), 0);
    const db = join(b.root, 'meta.db');
    await copyFile(db, `${db}.good`);
    // Damage pages in the middle of the file (its header stays valid).
    const fh = await open(db, 'r+');
    const { size } = await fh.stat();
    await fh.write(randomBytes(2048), 0, 2048, Math.max(4096, Math.floor(size / 2)));
    await fh.close();
    const e1 = await t.throwsAsync(b.start());
    t.log(e1!.message.split('\n').find((l) => l.includes('berthd:')) ?? e1!.message.slice(-600));
    t.regex(e1!.message, /damaged|integrity check/);
    t.regex(e1!.message, /To recover/);
    // Not a database at all.
    await writeFile(db, randomBytes(8192));
    const e2 = await t.throwsAsync(b.start());
    t.regex(e2!.message, /damaged/);
    t.regex(e2!.message, /sqlite3 .*\.recover/);
    // The operator restores the copy: berthd starts and the pod is still known.
    await copyFile(`${db}.good`, db);
    await b.start();
    t.is((await b.client.call('PodSandboxStatus', { pod_sandbox_id: id })).status.state, 'SANDBOX_READY');
  } finally {
    await removePodsAndCleanup(b);
  }
});

rootOnly('a locked meta.db: berthd refuses to start, naming the lock and how to find its holder', async (t) => {
  const b = await startBerthd();
  try {
    t.is(await b.stop(), 0);
    const db = join(b.root, 'meta.db');
    // Another process holds an exclusive lock on the store.
    const holder = spawn('sqlite3', [db], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, BERTH_TEST_RUN: b.dir } });
    holder.stdin.write('PRAGMA locking_mode=EXCLUSIVE;\nBEGIN EXCLUSIVE;\nSELECT 1;\n');
    await new Promise<void>((r) => holder.stdout.once('data', () => r()));
    try {
      const e = await t.throwsAsync(b.start());
      t.regex(e!.message, /locked by another process/);
      t.regex(e!.message, /fuser/);
    } finally {
      const gone = new Promise((r) => holder.once('exit', r));
      holder.kill('SIGKILL');
      await gone;
    }
    await b.start();
    t.deepEqual((await b.client.call('ListPodSandbox', {})).items, []);
  } finally {
    await removePodsAndCleanup(b);
  }
});
