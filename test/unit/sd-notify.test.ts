// Covers server/sd-notify.ts, berthd's sd_notify(3) client: NOTIFY_SOCKET parsing (paths,
// abstract '@' names, what disables it), the datagram format, that the variable is removed
// from the environment it was read from, and real sends to a datagram socket the test binds.
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { randomBytes } from 'node:crypto';
import { DgramSocket } from 'node-unix-socket';
import { createNotifier, formatNotify, notifySocketAddress } from '../../server/sd-notify.js';

function receiver(address: string): { sock: DgramSocket; next: () => Promise<string> } {
  const sock = new DgramSocket();
  sock.bind(address);
  const queue: string[] = [];
  const waiters: ((s: string) => void)[] = [];
  sock.on('data', (buf: Buffer) => {
    const w = waiters.shift();
    if (w) w(buf.toString('utf8'));
    else queue.push(buf.toString('utf8'));
  });
  return {
    sock,
    next: () => (queue.length > 0 ? Promise.resolve(queue.shift()!) : new Promise((r) => waiters.push(r))),
  };
}

test('NOTIFY_SOCKET: absolute paths as is, @names become abstract, anything else disables', (t) => {
  t.is(notifySocketAddress('/run/systemd/notify'), '/run/systemd/notify');
  t.is(notifySocketAddress('@berth/notify'), '\0berth/notify');
  t.is(notifySocketAddress(undefined), undefined);
  t.is(notifySocketAddress(''), undefined);
  t.is(notifySocketAddress('@'), undefined);
  t.is(notifySocketAddress('relative/notify'), undefined);
});

test('the datagram is KEY=VALUE lines; newlines in a value cannot start a new field', (t) => {
  t.is(formatNotify({ READY: '1', STATUS: 'serving' }).toString(), 'READY=1\nSTATUS=serving');
  t.is(formatNotify({ STATUS: 'a\nREADY=1' }).toString(), 'STATUS=a READY=1');
  t.throws(() => formatNotify({ 'ready': '1' }), { message: /invalid field name/ });
  t.throws(() => formatNotify({}), { message: /nothing to send/ });
});

test('without NOTIFY_SOCKET the notifier is disabled and sends nothing', async (t) => {
  const env: NodeJS.ProcessEnv = {};
  const n = await createNotifier(env);
  t.false(n.enabled);
  await n.notify({ READY: '1' });
  n.close();
});

test('sends to a path socket and removes NOTIFY_SOCKET from the environment it read', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-sdnotify-'));
  const path = join(dir, 'notify');
  const r = receiver(path);
  try {
    const env: NodeJS.ProcessEnv = { NOTIFY_SOCKET: path, OTHER: 'kept' };
    const n = await createNotifier(env);
    t.true(n.enabled);
    t.false('NOTIFY_SOCKET' in env, 'children spawned later must not inherit it');
    t.is(env.OTHER, 'kept');
    await n.notify({ STATUS: 'starting' });
    await n.notify({ READY: '1', STATUS: 'serving CRI on /run/berth/berth.sock' });
    t.is(await r.next(), 'STATUS=starting');
    t.is(await r.next(), 'READY=1\nSTATUS=serving CRI on /run/berth/berth.sock');
    n.close();
    await t.throwsAsync(n.notify({ STOPPING: '1' }), { message: /closed/ });
  } finally {
    r.sock.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('sends to an abstract socket named with @', async (t) => {
  const name = `berth-sdnotify-test-${randomBytes(6).toString('hex')}`;
  const r = receiver('\0' + name);
  try {
    const n = await createNotifier({ NOTIFY_SOCKET: '@' + name });
    await n.notify({ STOPPING: '1' });
    t.is(await r.next(), 'STOPPING=1');
    n.close();
  } finally {
    r.sock.close();
  }
});

test('a socket nobody listens on makes notify reject with the reason', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-sdnotify-'));
  try {
    const n = await createNotifier({ NOTIFY_SOCKET: join(dir, 'nobody') });
    await t.throwsAsync(n.notify({ READY: '1' }), { message: /^sd_notify: / });
    n.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
