// berth-shim serving a burst: concurrent CreateContainers run side by side in the one
// started shim (no Node start-up per container), a shim that dies is replaced, and a
// create whose shim dies mid-job fails cleanly. Needs root.
import anyTest, { type TestFn } from 'ava';
import { readFile, readdir } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { podConfig, isRoot } from '../helpers/berthd.js';
import { startBerthdWithImages, stopBerthdWithImages, type BerthdTestContext } from '../helpers/berthd-images.js';
import { busyboxLayer } from '../helpers/image-builder.js';

type Ctx = BerthdTestContext;
const test = anyTest as TestFn<Ctx>;
const rootOnly = isRoot() ? test.serial : test.serial.skip;

test.before(async (t) => {
  if (!isRoot()) return;
  const { b, reg, images } = await startBerthdWithImages({ busybox: { layers: [busyboxLayer()], config: { Cmd: ['/bin/sh'] } } });
  Object.assign(t.context, { b, reg, image: images.busybox });
});
test.after.always((t) => stopBerthdWithImages(t.context));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** berthd's berth-shim children. */
async function shimPids(berthdPid: number): Promise<number[]> {
  const out: number[] = [];
  for (const d of await readdir('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = await readFile(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== berthdPid) continue;
      if ((await readFile(`/proc/${d}/cmdline`, 'utf8')).includes('shim/main.js')) out.push(Number(d));
    } catch {
      /* gone */
    }
  }
  return out;
}

async function pod(t: { context: Ctx }, name: string) {
  const b = t.context.b;
  const config = podConfig(b, name, { linux: { cgroup_parent: `/berth-test-${randomBytes(4).toString('hex')}` } });
  const { pod_sandbox_id } = await b.client.call('RunPodSandbox', { config });
  return { id: pod_sandbox_id as string, config };
}

function create(t: { context: Ctx }, p: { id: string; config: object }, name: string) {
  return t.context.b.client.call('CreateContainer', {
    pod_sandbox_id: p.id,
    config: { metadata: { name, attempt: 0 }, image: { image: t.context.image }, command: ['sleep', '1000'], log_path: `${name}/0.log` },
    sandbox_config: p.config,
  });
}

rootOnly('a burst of creates runs in the one started shim', async (t) => {
  const b = t.context.b;
  const before = await shimPids(b.proc.pid!);
  t.is(before.length, 1, 'one spare shim waits');
  const p = await pod(t, 'burst');
  const ids = (await Promise.all(Array.from({ length: 8 }, (_, i) => create(t, p, `c${i}`)))).map((r) => r.container_id as string);
  await Promise.all(ids.map((id) => b.client.call('StartContainer', { container_id: id })));
  for (const id of ids) t.is((await b.client.call('ContainerStatus', { container_id: id })).status.state, 'CONTAINER_RUNNING');
  t.deepEqual(await shimPids(b.proc.pid!), before, 'no other shim was started; the spare stays');
  await b.client.call('StopPodSandbox', { pod_sandbox_id: p.id });
  await b.client.call('RemovePodSandbox', { pod_sandbox_id: p.id });
});

rootOnly('a shim that dies is replaced; creates it was running fail cleanly', async (t) => {
  const b = t.context.b;
  const [spare] = await shimPids(b.proc.pid!);
  t.truthy(spare);
  process.kill(spare!, 'SIGKILL'); // ours: berthd's child, started for this test's berthd
  let next: number[] = [];
  for (let i = 0; i < 50; i++) {
    await sleep(100);
    next = await shimPids(b.proc.pid!);
    if (next.length === 1 && next[0] !== spare) break;
  }
  t.is(next.length, 1);
  t.not(next[0], spare, 'a new spare replaced the killed one');
  const p = await pod(t, 'after-kill');
  const { container_id } = await create(t, p, 'ok');
  await b.client.call('StartContainer', { container_id });
  t.is((await b.client.call('ContainerStatus', { container_id })).status.state, 'CONTAINER_RUNNING');
  // Kill the shim while it runs a create: that create fails, and leaves no container behind.
  const pending = create(t, p, 'doomed');
  const victim = (await shimPids(b.proc.pid!))[0]!;
  process.kill(victim, 'SIGKILL');
  const outcome = await pending.then(
    () => 'created',
    (e: { details: string }) => e.details,
  );
  if (outcome !== 'created') {
    t.regex(outcome, /berth-shim ended/);
    const names = (await b.client.call('ListContainers', { filter: { pod_sandbox_id: p.id } })).containers.map((c: { metadata: { name: string } }) => c.metadata.name);
    t.deepEqual(names, ['ok'], 'the failed create left nothing listed');
  } else t.log('the create finished before its shim was killed');
  await b.client.call('StopPodSandbox', { pod_sandbox_id: p.id });
  await b.client.call('RemovePodSandbox', { pod_sandbox_id: p.id });
});
