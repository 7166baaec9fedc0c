// berthd restarts: pods survive a crash (SIGKILL) and a graceful stop (SIGTERM) with
// their IPs and namespaces; stop/remove work afterwards; the socket is handled safely.
import anyTest, { type TestFn } from 'ava';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { status as Status } from '@grpc/grpc-js';
import { startBerthd, podConfig, isRoot, nsMounted, BERTHD, type TestBerthd } from '../helpers/berthd.js';
import { run } from '../../hostutil/exec.js';
import { BERTHD_NODE_FLAGS } from '../../server/node-flags.js';

const test = anyTest as TestFn<{ b: TestBerthd }>;
const rootOnly = isRoot() ? test.serial : test.serial.skip;

test.before(async (t) => {
  if (!isRoot()) return;
  t.context.b = await startBerthd();
});
test.after.always(async (t) => {
  await t.context.b?.cleanup();
});

rootOnly('pods keep their IPs and namespaces across a berthd crash, and stop/remove work after it', async (t) => {
  const b = t.context.b;
  const ids: string[] = [];
  for (const name of ['keep-a', 'keep-b']) {
    const extra = name === 'keep-b' ? { linux: { security_context: { namespace_options: { pid: 'POD' } } } } : {};
    ids.push((await b.client.call('RunPodSandbox', { config: podConfig(b, name, extra) })).pod_sandbox_id);
  }
  const before = await Promise.all(ids.map((id) => b.client.call('PodSandboxStatus', { pod_sandbox_id: id, verbose: true })));
  await b.kill();
  t.true(existsSync(b.socket), 'a crashed berthd leaves its socket behind');
  await b.start(); // replaces the stale socket
  const after = await Promise.all(ids.map((id) => b.client.call('PodSandboxStatus', { pod_sandbox_id: id, verbose: true })));
  for (const [i, st] of after.entries()) {
    t.is(st.status.state, 'SANDBOX_READY');
    t.is(st.status.network.ip, before[i].status.network.ip);
    t.is(st.status.created_at, before[i].status.created_at);
    t.deepEqual(st.status.metadata, before[i].status.metadata);
    const info = JSON.parse(st.info.info);
    t.true(await nsMounted(info.namespaces.network));
    t.is(info.pid, JSON.parse(before[i].info.info).pid);
  }
  // Graceful stop keeps pods too.
  t.is(await b.stop(), 0);
  t.false(existsSync(b.socket), 'a graceful stop removes the socket');
  await b.start();
  for (const id of ids) {
    const st = await b.client.call('PodSandboxStatus', { pod_sandbox_id: id });
    t.is(st.status.state, 'SANDBOX_READY');
    await b.client.call('StopPodSandbox', { pod_sandbox_id: id });
    await b.client.call('RemovePodSandbox', { pod_sandbox_id: id });
  }
  t.is((await run('ip', ['-o', 'link', 'show', 'master', b.net.bridge], { allowFailure: true })).stdout.trim(), '');
  t.deepEqual((await b.client.call('ListPodSandbox', {})).items, []);
});

rootOnly('a pod stopped before a crash can be removed after it', async (t) => {
  const b = t.context.b;
  const { pod_sandbox_id: id } = await b.client.call('RunPodSandbox', { config: podConfig(b, 'stop-then-crash') });
  await b.client.call('StopPodSandbox', { pod_sandbox_id: id });
  await b.kill();
  await b.start();
  t.is((await b.client.call('PodSandboxStatus', { pod_sandbox_id: id })).status.state, 'SANDBOX_NOTREADY');
  await b.client.call('RemovePodSandbox', { pod_sandbox_id: id });
  await t.throwsAsync(b.client.call('PodSandboxStatus', { pod_sandbox_id: id }), { message: /NOT_FOUND|not found/ });
});

rootOnly('a second berthd on a live socket is refused with a clear message', async (t) => {
  const b = t.context.b;
  const second = spawn(process.execPath, [...BERTHD_NODE_FLAGS, BERTHD, '--socket', b.socket, '--root', `${b.dir}/root2`, '--state', `${b.dir}/state2`, '--pod-log-root', b.logRoot], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  second.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((r) => second.once('exit', (c) => r(c)));
  t.is(code, 1);
  t.regex(err, /already serving on/);
  t.is((await b.client.call('Version', {})).runtime_name, 'berth', 'the running berthd still serves');
});

rootOnly('without a CNI config the network is not ready; host-network pods still run', async (t) => {
  const n = await startBerthd({ cni: false });
  t.teardown(() => n.cleanup());
  const s = await n.client.call('Status', {});
  const net = s.status.conditions.find((c: { type: string }) => c.type === 'NetworkReady');
  t.false(net.status);
  t.is(net.reason, 'NoCNIConfig');
  t.regex(net.message, /no network config found/);
  await t.throwsAsync(n.client.call('RunPodSandbox', { config: podConfig(n, 'needs-net') }), {
    message: /FAILED_PRECONDITION.*not ready/,
  });
  const { pod_sandbox_id: id } = await n.client.call('RunPodSandbox', {
    config: podConfig(n, 'host-net', { linux: { security_context: { namespace_options: { network: 'NODE' } } } }),
  });
  t.is((await n.client.call('PodSandboxStatus', { pod_sandbox_id: id })).status.state, 'SANDBOX_READY');
  await n.client.call('RemovePodSandbox', { pod_sandbox_id: id });
  t.is(Status[Status.OK], 'OK');
});
