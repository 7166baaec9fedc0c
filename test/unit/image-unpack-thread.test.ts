// The unpack thread (server/image/unpack-thread.ts, unpack-worker.ts) and unpackLayer over
// it, without root: files small and large (spanning batches), many entries (more calls than
// one batch), directories, symlinks and hard links land with their bytes, modes and times;
// a failing call surfaces as an errno error with its code, the job's later calls never run,
// and the thread serves the next job; close() or idleness stops it and a later job starts a
// new one.
import test from 'ava';
import { lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { unpackLayer } from '../../server/image/layer-unpack.js';
import { UnpackThread } from '../../server/image/unpack-thread.js';
import { writeTar, type TarFile } from '../helpers/tar.js';

const uid = process.getuid?.() ?? 0;
const gid = process.getgid?.() ?? 0;

function tempDir(t: { teardown(fn: () => void): void }): string {
  const d = mkdtempSync(join(tmpdir(), 'berth-unpack-thread-'));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

async function* chunked(buf: Buffer, size = 65536): AsyncIterable<Buffer> {
  for (let o = 0; o < buf.length; o += size) yield buf.subarray(o, o + size);
}

test('unpackLayer over the thread: every entry kind, many files, a file larger than a batch', async (t) => {
  const dest = tempDir(t);
  const thread = new UnpackThread();
  t.teardown(() => thread.close());
  const big = Buffer.alloc(3 * 1024 * 1024 + 123);
  for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
  const entries: TarFile[] = [{ path: 'd/', type: 'dir', mode: 0o750, uid, gid, mtime: 1_600_000_000 }];
  for (let i = 0; i < 700; i++) entries.push({ path: `d/f${i}`, content: `file ${i}\n`.repeat(i % 50), mode: 0o640, uid, gid, mtime: 1_600_000_000 + i });
  entries.push(
    { path: 'big.bin', content: big, mode: 0o600, uid, gid, mtime: 1_650_000_000 },
    { path: 'link-to-f1', type: 'symlink', linkname: 'd/f1', uid, gid },
    { path: 'hard-f2', type: 'link', linkname: 'd/f2', uid, gid },
    { path: 'd/f3', content: 'replaced\n', mode: 0o644, uid, gid },
  );
  const tar = writeTar(entries);
  const res = await unpackLayer({ tar: chunked(tar), dest, thread });
  t.is(res.diffId, `sha256:${createHash('sha256').update(tar).digest('hex')}`);
  t.is(readFileSync(join(dest, 'd/f7'), 'utf8'), 'file 7\n'.repeat(7));
  t.is(statSync(join(dest, 'd/f7')).mode & 0o7777, 0o640);
  t.is(statSync(join(dest, 'd/f7')).mtimeMs, (1_600_000_000 + 7) * 1000);
  t.is(statSync(join(dest, 'd')).mode & 0o7777, 0o750);
  t.is(statSync(join(dest, 'd')).mtimeMs, 1_600_000_000 * 1000, 'directory times set last');
  t.true(readFileSync(join(dest, 'big.bin')).equals(big));
  t.is(readlinkSync(join(dest, 'link-to-f1')), 'd/f1');
  t.true(lstatSync(join(dest, 'link-to-f1')).isSymbolicLink());
  t.is(statSync(join(dest, 'hard-f2')).ino, statSync(join(dest, 'd/f2')).ino);
  t.is(readFileSync(join(dest, 'd/f3'), 'utf8'), 'replaced\n', 'a later entry replaces an earlier one');
  t.is(res.inodes, 1 + 700 + 1 + 1 + 1, 'd, its files, big.bin, the symlink, and d/f3 created twice; the hard link is no new inode');
});

test('a failing call is an errno error with its code; later calls of the job never run; the thread goes on', async (t) => {
  const dir = tempDir(t);
  const thread = new UnpackThread();
  t.teardown(() => thread.close());
  writeFileSync(join(dir, 'taken'), 'x');
  const job = thread.job();
  const fd = job.fd();
  await job.call({ op: 'create', path: join(dir, 'taken'), fd });
  await job.call({ op: 'mkdir', path: join(dir, 'never'), mode: 0o755 });
  const err = await t.throwsAsync(job.flush());
  t.is((err as NodeJS.ErrnoException).code, 'EEXIST');
  await job.end();
  t.false(existsSync(join(dir, 'never')), 'calls after the failure did not run');

  const next = thread.job();
  const fd2 = next.fd();
  await next.call({ op: 'create', path: join(dir, 'fresh'), fd: fd2 });
  await next.write(fd2, [Buffer.from('hello '), Buffer.from('world')], 0);
  await next.call({ op: 'close', fd: fd2 });
  await next.flush();
  await next.end();
  t.is(readFileSync(join(dir, 'fresh'), 'utf8'), 'hello world');
});

test('an unpack that fails midway leaves nothing running, and close() then a new job restarts the thread', async (t) => {
  const dest = tempDir(t);
  const thread = new UnpackThread();
  t.teardown(() => thread.close());
  // A symlink pointing out of the layer is refused by the main thread after earlier entries were queued.
  const tar = writeTar([
    { path: 'a', content: 'a', uid, gid },
    { path: 'evil', type: 'symlink', linkname: '../../etc/passwd', uid, gid },
  ]);
  await t.throwsAsync(unpackLayer({ tar: chunked(tar), dest, thread }), { message: /points outside the layer/ });
  await thread.close();
  const again = writeTar([{ path: 'b', content: 'b', mode: 0o644, uid, gid }]);
  const dest2 = tempDir(t);
  await unpackLayer({ tar: chunked(again), dest: dest2, thread });
  t.is(readFileSync(join(dest2, 'b'), 'utf8'), 'b');
});

test('an idle thread stops, and the next job starts it again', async (t) => {
  const dir = tempDir(t);
  const thread = new UnpackThread(50);
  t.teardown(() => thread.close());
  const once = async (name: string) => {
    const job = thread.job();
    await job.call({ op: 'mkdir', path: join(dir, name), mode: 0o755 });
    await job.flush();
    await job.end();
  };
  await once('a');
  t.true(thread.running);
  const deadline = Date.now() + 10_000;
  while (thread.running && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  t.false(thread.running, 'stopped after its idle time');
  await once('b');
  t.true(existsSync(join(dir, 'b')));
});
