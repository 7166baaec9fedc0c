// The error contract (README "Errors and request limits"; rows in
// test/helpers/error-contract.ts) against a real berthd, runc and conmon: every row's
// request gets its code, with a short message that never echoes the 1 MiB inputs; then
// berthd is still healthy and left nothing half-made (the same pods and containers, the
// same directories under its root and state, the same mounts). Needs root.
import anyTest, { type TestFn } from 'ava';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { status as Status } from '@grpc/grpc-js';
import { isRoot, podConfig } from '../helpers/berthd.js';
import { startBerthdWithImages, stopBerthdWithImages, type BerthdWithImages } from '../helpers/berthd-images.js';
import { busyboxLayer } from '../helpers/image-builder.js';
import { CONTRACT, type ContractFixtures } from '../helpers/error-contract.js';
import { mountPoints } from '../../hostutil/mounts.js';

interface Ctx {
  env: BerthdWithImages;
  f: ContractFixtures;
  before: Snapshot;
}
const test = anyTest as TestFn<Ctx>;
const rootOnly = isRoot() ? test.serial : test.serial.skip;
if (!isRoot()) console.log('error contract tests skipped: they need root');

interface Snapshot {
  pods: string[];
  containers: string[];
  dirs: Record<string, string[]>;
  mounts: string[];
}

async function ls(dir: string): Promise<string[]> {
  return (await readdir(dir).catch(() => [] as string[])).sort();
}

async function snapshot(c: Ctx): Promise<Snapshot> {
  const b = c.env.b;
  const pods = (await b.client.call('ListPodSandbox', {})).items.map((p: { id: string }) => p.id).sort();
  const containers = (await b.client.call('ListContainers', {})).containers.map((x: { id: string }) => x.id).sort();
  const dirs: Record<string, string[]> = {};
  for (const d of [join(b.root, 'containers'), join(b.root, 'sandboxes'), join(b.state, 'containers'), join(b.state, 'sandboxes'), b.logRoot]) dirs[d] = await ls(d);
  const mounts = (await mountPoints()).filter((m) => m.startsWith(b.dir)).sort();
  return { pods, containers, dirs, mounts };
}

test.before(async (t) => {
  if (!isRoot()) return;
  const base = busyboxLayer();
  const env = await startBerthdWithImages({
    busybox: { layers: [base], config: { Cmd: ['/bin/sh'] } },
    bare: { layers: [base], config: {} },
  });
  const b = env.b;
  const seccompDir = join(b.dir, 'seccomp');
  await mkdir(join(seccompDir, 'dir'), { recursive: true });
  await writeFile(join(seccompDir, 'ok.json'), JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW' }));
  const run = async (name: string) => {
    const config = podConfig(b, name);
    const { pod_sandbox_id } = await b.client.call('RunPodSandbox', { config });
    return { id: pod_sandbox_id as string, config };
  };
  const pod = await run('contract');
  const stoppedPod = await run('contract-stopped');
  await b.client.call('StopPodSandbox', { pod_sandbox_id: stoppedPod.id });
  const ctr = (name: string) => ({ metadata: { name, attempt: 0 }, image: { image: env.images.busybox }, command: ['sleep', '3600'], log_path: `${name}/0.log` });
  const running = (await b.client.call('CreateContainer', { pod_sandbox_id: pod.id, config: ctr('running'), sandbox_config: pod.config })).container_id as string;
  await b.client.call('StartContainer', { container_id: running });
  const created = (await b.client.call('CreateContainer', { pod_sandbox_id: pod.id, config: ctr('created'), sandbox_config: pod.config })).container_id as string;
  // 20 MiB in the pod's /dev/shm (tmpfs, charged to the container; no swap here to reclaim it into).
  const hogConfig = { ...ctr('hog'), command: ['sh', '-c', 'head -c 20971520 /dev/zero > /dev/shm/fill && touch /tmp/ready && sleep 3600'], linux: { resources: { memory_limit_in_bytes: String(256 * 1024 * 1024) } } };
  const hog = (await b.client.call('CreateContainer', { pod_sandbox_id: pod.id, config: hogConfig, sandbox_config: pod.config })).container_id as string;
  await b.client.call('StartContainer', { container_id: hog });
  for (let i = 0; ; i++) {
    const r = await b.client.call('ExecSync', { container_id: hog, cmd: ['test', '-f', '/tmp/ready'], timeout: '10' });
    if (r.exit_code === 0) break;
    if (i > 300) throw new Error('the hog container did not fill its memory');
    await new Promise((res) => setTimeout(res, 100));
  }
  const f: ContractFixtures = {
    image: env.images.busybox!,
    bareImage: env.images.bare!,
    pod,
    stoppedPod,
    running,
    created,
    hog,
    seccompDir,
    podConfig: (name, extra = {}) => podConfig(b, name, extra),
  };
  Object.assign(t.context, { env, f });
  t.context.before = await snapshot(t.context);
});
test.after.always((t) => stopBerthdWithImages(t.context.env));

for (const row of CONTRACT) {
  rootOnly(`${row.rpc}: ${row.condition} → ${row.code}`, async (t) => {
    const { b } = t.context.env;
    const req = row.request(t.context.f);
    let code = 'OK';
    let details = '';
    try {
      await b.client.call(row.rpc, req, { ...(row.service ? { service: row.service } : {}), timeoutMs: 120_000 });
    } catch (e) {
      const err = e as { code: number; details: string };
      code = Status[err.code] ?? String(err.code);
      details = err.details ?? '';
    }
    t.is(code, row.code, details);
    if (row.condition.includes("runtime's reason")) t.log(details);
    // Short, and never an echo of the 1 MiB inputs (or of anything long) from the request.
    t.true(details.length <= 1024, `message of ${details.length} characters`);
    t.false(/(.)\1{200}/.test(details), 'the message repeats a character 200 times: an echo of the input');
  });
}

rootOnly('afterwards berthd is healthy and left nothing half-made', async (t) => {
  const c = t.context;
  const b = c.env.b;
  t.is(b.proc.exitCode, null, 'berthd still runs');
  const st = await b.client.call('Status', {});
  t.true(st.status.conditions.some((x: { type: string; status: boolean }) => x.type === 'RuntimeReady' && x.status));
  const r = await b.client.call('ExecSync', { container_id: c.f.running, cmd: ['echo', 'alive'], timeout: '10' });
  t.is(r.exit_code, 0);
  t.is(Buffer.from(r.stdout).toString(), 'alive\n');
  const after = await snapshot(c);
  t.deepEqual(after.pods, c.before.pods);
  t.deepEqual(after.containers, c.before.containers);
  // Log directories of refused pods are never made (RunPodSandbox refuses before mkdir).
  t.deepEqual(after.dirs, c.before.dirs);
  t.deepEqual(after.mounts, c.before.mounts);
  t.false(b.stderr().includes('"level":"error"'), 'no error-level log line (INTERNAL/UNKNOWN or a failed rollback)');
});
