// The blob content store (server/image/content-store.ts) on a temporary directory: blobs
// written in small pieces, digest mismatches leaving nothing, and writevAll's short writes.
import test from 'ava';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isKind } from '../../server/errors.js';
import { ContentStore } from '../../server/image/content-store.js';
import { writevAll } from '../../server/image/writev.js';
import { sha256Digest } from '../../server/image/digest.js';

async function store(t: { teardown(fn: () => Promise<void>): void }): Promise<ContentStore> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-unit-content-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const s = new ContentStore(dir);
  await s.init();
  return s;
}

test('a blob written in many small reads comes out byte for byte', async (t) => {
  const s = await store(t);
  // Socket-read-sized and tiny chunks: more than writev's 1024 buffers in one batch.
  const chunks: Buffer[] = [];
  for (let i = 0; i < 3000; i++) chunks.push(randomBytes(i % 7 === 0 ? 65536 : 1 + (i % 900)));
  const all = Buffer.concat(chunks);
  const digest = sha256Digest(all);
  const w = await s.writer(digest, all.length);
  for (const c of chunks) await w.write(c);
  await w.commit();
  t.true(await s.has(digest, all.length));
  t.true((await readFile(s.path(digest))).equals(all));
  t.deepEqual(await readdir(s.ingestDir), []);
});

test('a blob whose digest does not match is not committed and leaves nothing', async (t) => {
  const s = await store(t);
  const data = randomBytes(3 << 20);
  const digest = sha256Digest(Buffer.from('something else'));
  const w = await s.writer(digest, data.length);
  for (let o = 0; o < data.length; o += 50_000) await w.write(data.subarray(o, o + 50_000));
  const e = await t.throwsAsync(w.commit());
  t.true(isKind(e, 'FailedPrecondition'));
  await w.abort();
  t.false(await s.has(digest));
  t.deepEqual(await readdir(s.ingestDir), []);
});

test('writevAll goes on after short writes', async (t) => {
  const out = Buffer.alloc(100);
  const calls: number[] = [];
  // A file handle whose writev takes at most 7 bytes a call.
  const fh = {
    async writev(buffers: Buffer[], position: number) {
      const take = Buffer.concat(buffers).subarray(0, 7);
      take.copy(out, position);
      calls.push(buffers.length);
      return { bytesWritten: take.length, buffers };
    },
  } as unknown as FileHandle;
  const parts = [Buffer.from('hello '), Buffer.from('wide '), Buffer.from(''), Buffer.from('world, '), Buffer.from('of writes')];
  await writevAll(fh, parts, 3);
  const want = Buffer.from('hello wide world, of writes');
  t.true(out.subarray(3, 3 + want.length).equals(want));
  t.true(calls.length >= Math.ceil(want.length / 7));
});
