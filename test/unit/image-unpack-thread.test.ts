// The unpack thread (server/image/unpack-thread.ts, unpack-worker.ts) and unpackLayer over
// it, without root: files small, larger than a batch (through the thread) and large
// (written directly, after the thread made their directory or removed what they replace),
// many entries (more calls than one batch), directories, symlinks and hard links land with
// their bytes, modes and times, and so they do when a small layer's calls run on the main
// thread instead (the thread is started only by a job that fills a batch); a layer cut inside a large file fails and leaves no file
// handle open;
// a failing call surfaces as an errno error with its code, the job's later calls never run,
// and the thread serves the next job; close() or idleness stops it and a later job starts a
// new one.
import test from 'ava';
import { lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
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

function pattern(n: number, mul: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < b.length; i++) b[i] = (i * mul) & 0xff;
  return b;
}

test('unpackLayer over the thread: every entry kind, many files, files larger than a batch and large ones', async (t) => {
  const dest = tempDir(t);
  const thread = new UnpackThread();
  t.teardown(() => thread.close());
  const big = pattern(3 * 1024 * 1024 + 123, 31);
  const mid = pattern(700 * 1024 + 7, 17); // several of the thread's batches, below the direct size
  const replacement = pattern(1536 * 1024, 13);
  const entries: TarFile[] = [{ path: 'd/', type: 'dir', mode: 0o750, uid, gid, mtime: 1_600_000_000 }];
  for (let i = 0; i < 700; i++) entries.push({ path: `d/f${i}`, content: `file ${i}\n`.repeat(i % 50), mode: 0o640, uid, gid, mtime: 1_600_000_000 + i });
  entries.push(
    // Its directories are made by the thread just before: the direct write must wait for them.
    { path: 'new/deeper/big.bin', content: big, mode: 0o604, uid, gid, mtime: 1_650_000_000 },
    { path: 'mid.bin', content: mid, mode: 0o600, uid, gid },
    { path: 'd/f4', content: replacement, mode: 0o600, uid, gid },
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
  t.true(readFileSync(join(dest, 'new/deeper/big.bin')).equals(big));
  t.is(statSync(join(dest, 'new/deeper/big.bin')).mode & 0o7777, 0o604, 'metadata applied after the direct write');
  t.is(statSync(join(dest, 'new/deeper/big.bin')).mtimeMs, 1_650_000_000 * 1000);
  t.true(readFileSync(join(dest, 'mid.bin')).equals(mid));
  t.true(readFileSync(join(dest, 'd/f4')).equals(replacement), 'a large file replaces an earlier small one');
  t.is(readlinkSync(join(dest, 'link-to-f1')), 'd/f1');
  t.true(lstatSync(join(dest, 'link-to-f1')).isSymbolicLink());
  t.is(statSync(join(dest, 'hard-f2')).ino, statSync(join(dest, 'd/f2')).ino);
  t.is(readFileSync(join(dest, 'd/f3'), 'utf8'), 'replaced\n', 'a later entry replaces an earlier one');
  t.is(res.inodes, 1 + 700 + 2 + 1 + 1 + 1 + 1 + 1, 'd, its files, new/deeper, big.bin, mid.bin, the symlink, d/f4 and d/f3 created twice; the hard link is no new inode');
  const fileBytes = entries.filter((e) => (e.type ?? 'file') === 'file').reduce((n, e) => n + Buffer.byteLength(e.content ?? ''), 0);
  t.is(res.size, fileBytes, 'bytes written, through the thread and directly');
});

// Serial: it counts the process's open files, which the other tests change.
test.serial('a layer cut inside a large file fails, and its file handle is closed', async (t) => {
  const dest = tempDir(t);
  const thread = new UnpackThread();
  t.teardown(() => thread.close());
  const tar = writeTar([{ path: 'big.bin', content: pattern(4 * 1024 * 1024, 7), uid, gid }]);
  const fds = () => readdirSync('/proc/self/fd').length;
  const before = fds();
  await t.throwsAsync(unpackLayer({ tar: chunked(tar.subarray(0, 3 * 1024 * 1024)), dest, thread }), { message: /truncated|unexpected end|short/i });
  t.is(fds(), before, 'no file handle left open');
});

for (const where of ['on the main thread', 'on the thread'] as const) {
  test(`a failing call ${where} is an errno error with its code; later calls of the job never run; the next job goes on`, async (t) => {
    const dir = tempDir(t);
    const thread = new UnpackThread();
    t.teardown(() => thread.close());
    writeFileSync(join(dir, 'taken'), 'x');
    const job = thread.job();
    // A full batch of calls hands the job to the thread.
    if (where === 'on the thread') for (let i = 0; i < 64; i++) await job.call({ op: 'mkdir', path: join(dir, `d${i}`), mode: 0o755 });
    const fd = job.fd();
    await job.call({ op: 'create', path: join(dir, 'taken'), fd });
    await job.call({ op: 'mkdir', path: join(dir, 'never'), mode: 0o755 });
    const err = await t.throwsAsync(job.flush());
    t.is((err as NodeJS.ErrnoException).code, 'EEXIST');
    t.is(job.ranLocally, where === 'on the main thread');
    t.is(thread.running, where === 'on the thread');
    await t.throwsAsync(job.call({ op: 'mkdir', path: join(dir, 'later'), mode: 0o755 }).then(() => job.flush()), { is: err });
    await job.end();
    t.false(existsSync(join(dir, 'never')), 'calls after the failure did not run');
    t.false(existsSync(join(dir, 'later')));

    const next = thread.job();
    const fd2 = next.fd();
    await next.call({ op: 'create', path: join(dir, 'fresh'), fd: fd2 });
    await next.write(fd2, [Buffer.from('hello '), Buffer.from('world')], 0);
    await next.call({ op: 'close', fd: fd2 });
    await next.flush();
    await next.end();
    t.is(readFileSync(join(dir, 'fresh'), 'utf8'), 'hello world');
  });
}

test('an unpack that fails midway leaves nothing running, and close() then a new job restarts the thread', async (t) => {
  const dest = tempDir(t);
  const thread = new UnpackThread();
  t.teardown(() => thread.close());
  const files = (prefix: string): TarFile[] => Array.from({ length: 100 }, (_, i) => ({ path: `${prefix}${i}`, content: `${i}`, mode: 0o644, uid, gid }));
  // A symlink pointing out of the layer is refused by the main thread after earlier entries went to the thread.
  const tar = writeTar([...files('a'), { path: 'evil', type: 'symlink', linkname: '../../etc/passwd', uid, gid }]);
  await t.throwsAsync(unpackLayer({ tar: chunked(tar), dest, thread }), { message: /points outside the layer/ });
  t.true(thread.running);
  await thread.close();
  t.false(thread.running);
  const dest2 = tempDir(t);
  await unpackLayer({ tar: chunked(writeTar(files('b'))), dest: dest2, thread });
  t.true(thread.running);
  t.is(readFileSync(join(dest2, 'b99'), 'utf8'), '99');
});

test('a small layer runs on the main thread without starting the thread; a layer that fills a batch starts it, and the next small one uses it', async (t) => {
  const thread = new UnpackThread();
  t.teardown(() => thread.close());
  const small = writeTar([
    { path: 'etc/', type: 'dir', mode: 0o755, uid, gid, mtime: 1_600_000_000 },
    { path: 'etc/hostname', content: 'berth\n', mode: 0o644, uid, gid, mtime: 1_600_000_001 },
    { path: 'etc/big', content: pattern(2 << 20, 3), mode: 0o640, uid, gid },
    { path: 'sh', type: 'symlink', linkname: 'etc/hostname', uid, gid },
  ]);
  const dest = tempDir(t);
  await unpackLayer({ tar: chunked(small), dest, thread });
  t.false(thread.running, 'not started for four entries');
  t.is(readFileSync(join(dest, 'etc/hostname'), 'utf8'), 'berth\n');
  t.is(statSync(join(dest, 'etc/hostname')).mode & 0o7777, 0o644);
  t.is(statSync(join(dest, 'etc/hostname')).mtimeMs, 1_600_000_001 * 1000);
  t.is(statSync(join(dest, 'etc')).mtimeMs, 1_600_000_000 * 1000);
  t.true(readFileSync(join(dest, 'etc/big')).equals(pattern(2 << 20, 3)));
  t.is(readlinkSync(join(dest, 'sh')), 'etc/hostname');

  const many: TarFile[] = [];
  for (let i = 0; i < 100; i++) many.push({ path: `f${i}`, content: `${i}`, uid, gid });
  const dest2 = tempDir(t);
  await unpackLayer({ tar: chunked(writeTar(many)), dest: dest2, thread });
  t.true(thread.running, 'started by a layer of 100 files');
  t.is(readFileSync(join(dest2, 'f99'), 'utf8'), '99');

  const job = thread.job();
  t.false(job.ranLocally, 'a job that begins while the thread runs uses it');
  await job.end();
});

test('an idle thread stops, and the next job starts it again', async (t) => {
  const dir = tempDir(t);
  const thread = new UnpackThread(50);
  t.teardown(() => thread.close());
  // Enough calls to fill a batch: a job starts the thread only then.
  const once = async (name: string) => {
    const job = thread.job();
    for (let i = 0; i < 70; i++) await job.call({ op: 'mkdir', path: join(dir, `${name}${i}`), mode: 0o755 });
    await job.flush();
    await job.end();
  };
  await once('a');
  t.true(thread.running);
  const deadline = Date.now() + 10_000;
  while (thread.running && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  t.false(thread.running, 'stopped after its idle time');
  await once('b');
  t.true(thread.running);
  t.true(existsSync(join(dir, 'b69')));
});
