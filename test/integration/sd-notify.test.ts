// Covers berthd under a service manager's notify protocol (Type=notify), with a
// NOTIFY_SOCKET this test owns in place of systemd's: berthd sends STATUS while starting,
// READY=1 only once its CRI socket serves (a Version call made the moment READY arrives
// succeeds), STOPPING=1 on SIGTERM, and no process berthd starts inherits NOTIFY_SOCKET.
// The unit under a real systemd (PID 1) is tested in the guest, not here.
import test from 'ava';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { DgramSocket } from 'node-unix-socket';
import { criClient } from '../../conformance/client.js';
import { isRoot, startBerthd, type TestBerthd } from '../helpers/berthd.js';

/** Environments of every live process started with BERTH_TEST_RUN=<dir> (berthd and what it spawned). */
async function processEnvironments(runDir: string): Promise<Map<number, string[]>> {
  const out = new Map<number, string[]>();
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const env = await readFile(`/proc/${name}/environ`, 'utf8').catch(() => '');
    const vars = env.split('\0');
    if (vars.includes(`BERTH_TEST_RUN=${runDir}`)) out.set(Number(name), vars);
  }
  return out;
}

test('berthd reports READY=1 only once the CRI socket serves, and STOPPING=1 on SIGTERM', async (t) => {
  if (!isRoot()) return t.fail('berthd tests need root');
  const dir = mkdtempSync(join(tmpdir(), 'berth-notify-'));
  const notifyPath = join(dir, 'notify');
  const messages: string[] = [];
  let readyCheck: Promise<string> | undefined;
  let berthd: TestBerthd | undefined;
  const sock = new DgramSocket();
  sock.bind(notifyPath);
  // berthd's CRI socket in this test's directory, known before berthd starts (a later --socket wins).
  const socketPath = { value: join(dir, 'cri.sock') };
  sock.on('data', (buf: Buffer) => {
    const msg = buf.toString('utf8');
    messages.push(msg);
    if (msg.split('\n').includes('READY=1') && !readyCheck) {
      // The moment READY arrives, kubelet may call: the socket must exist and answer.
      const exists = existsSync(socketPath.value);
      const client = criClient(`unix://${socketPath.value}`);
      readyCheck = client
        .call('Version', { version: 'v1' })
        .then((v) => `${exists} ${(v as { runtime_name: string }).runtime_name}`)
        .finally(() => client.close());
    }
  });
  try {
    berthd = await startBerthd({ cni: false, args: ['--socket', socketPath.value], env: { NOTIFY_SOCKET: notifyPath } });
    const deadline = Date.now() + 10_000;
    while (!readyCheck && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    t.truthy(readyCheck, `no READY=1 received; got ${JSON.stringify(messages)}`);
    t.is(await readyCheck, 'true berth');
    t.regex(messages[0]!, /^STATUS=starting/, 'the first message is a status, not READY');
    t.false(messages[0]!.includes('READY=1'));
    t.true(messages.some((m) => m.includes('STATUS=serving CRI on ' + socketPath.value)));

    const envs = await processEnvironments(berthd.dir);
    // /proc/<berthd>/environ shows berthd's environment as it was exec'd; its children show what it passed on.
    envs.delete(berthd.proc.pid!);
    t.true(envs.size >= 1, 'the berth-shim berthd starts ahead of need is running');
    for (const [pid, vars] of envs) t.false(vars.some((v) => v.startsWith('NOTIFY_SOCKET=')), `pid ${pid} inherited NOTIFY_SOCKET`);

    t.is(await berthd.stop(), 0);
    // The datagram was queued before berthd exited; its event may come after the exit event.
    const until = Date.now() + 5_000;
    while (!messages.some((m) => m.includes('STOPPING=1')) && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    const stopping = messages.find((m) => m.split('\n').includes('STOPPING=1'));
    t.truthy(stopping, `no STOPPING=1 received; got ${JSON.stringify(messages)}`);
    t.regex(stopping!, /STATUS=stopping \(SIGTERM\)/);
  } finally {
    sock.close();
    await berthd?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
});
