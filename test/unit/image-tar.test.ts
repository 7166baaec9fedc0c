// The tar reader (server/image/tar-reader.ts: entry types, long names, pax records, corrupt
// and truncated archives) and layer-unpack's path cleaning and symlink escape checks.
import test from 'ava';
import { isKind } from '../../server/errors.js';
import { cleanEntryPath, symlinkEscapes } from '../../server/image/layer-unpack.js';
import { parsePax, readTar, type TarHeader } from '../../server/image/tar-reader.js';
import { writeTar } from '../helpers/tar.js';

async function* chunked(b: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
}

async function readAll(tar: Buffer, chunk = 7): Promise<{ h: TarHeader; data: Buffer }[]> {
  const out = [];
  for await (const { header, body } of readTar(chunked(tar, chunk))) {
    const parts: Buffer[] = [];
    for await (const c of body) parts.push(Buffer.from(c));
    out.push({ h: header, data: Buffer.concat(parts) });
  }
  return out;
}

test('reads back every entry type, long names and binary xattrs', async (t) => {
  const long = `${'d'.repeat(80)}/${'f'.repeat(90)}`;
  const cap = Buffer.from([1, 0, 0, 2, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  const tar = writeTar([
    { path: 'dir', type: 'dir', mode: 0o750, uid: 1000, gid: 1001, mtime: 1_600_000_000 },
    { path: 'dir/file', content: 'hello', mode: 0o4755, xattrs: { 'security.capability': cap, 'user.note': 'n' } },
    { path: long, content: Buffer.alloc(1000, 7) },
    { path: 'dir/sym', type: 'symlink', linkname: 'file' },
    { path: 'dir/hard', type: 'link', linkname: 'dir/file' },
    { path: 'dev', type: 'char', devmajor: 1, devminor: 3, mode: 0o666 },
    { path: 'fifo', type: 'fifo' },
    { path: 'frac', content: '', mtime: 1_600_000_000.25 },
  ]);
  const all = await readAll(tar);
  t.deepEqual(
    all.map((e) => [e.h.name, e.h.type]),
    [
      ['dir/', 'dir'],
      ['dir/file', 'file'],
      [long, 'file'],
      ['dir/sym', 'symlink'],
      ['dir/hard', 'link'],
      ['dev', 'char'],
      ['fifo', 'fifo'],
      ['frac', 'file'],
    ],
  );
  t.is(all[0]!.h.mode, 0o750);
  t.is(all[0]!.h.uid, 1000);
  t.is(all[0]!.h.gid, 1001);
  t.is(all[0]!.h.mtime, 1_600_000_000);
  t.is(all[1]!.data.toString(), 'hello');
  t.is(all[1]!.h.mode, 0o4755);
  t.deepEqual(all[1]!.h.xattrs.get('security.capability'), cap);
  t.is(all[1]!.h.xattrs.get('user.note')!.toString(), 'n');
  t.is(all[2]!.data.length, 1000);
  t.is(all[3]!.h.linkname, 'file');
  t.is(all[4]!.h.linkname, 'dir/file');
  t.is(all[5]!.h.devmajor, 1);
  t.is(all[5]!.h.devminor, 3);
  t.is(all[7]!.h.mtime, 1_600_000_000.25);
});

test('skips bodies the consumer leaves unread', async (t) => {
  const tar = writeTar([
    { path: 'a', content: Buffer.alloc(3000, 1) },
    { path: 'b', content: 'bee' },
  ]);
  const names: string[] = [];
  let b = '';
  for await (const { header, body } of readTar(chunked(tar, 100))) {
    names.push(header.name);
    if (header.name === 'b') for await (const c of body) b += c.toString();
  }
  t.deepEqual(names, ['a', 'b']);
  t.is(b, 'bee');
});

test('refuses a corrupt header and a truncated archive', async (t) => {
  const tar = writeTar([{ path: 'a', content: 'x'.repeat(600) }]);
  const bad = Buffer.from(tar);
  bad[10] ^= 0xff;
  const e1 = await t.throwsAsync(readAll(bad));
  t.regex(e1!.message, /checksum/);
  const e2 = await t.throwsAsync(readAll(tar.subarray(0, 700)));
  t.regex(e2!.message, /unexpected end/);
  t.true(isKind(e2, 'FailedPrecondition'));
});

test('parses pax records with multi-digit lengths', (t) => {
  const v = 'x'.repeat(120);
  const rec = Buffer.from(`${v.length + 10} path=${v}\n`);
  t.is(parsePax(rec).get('path')!.toString(), v);
  t.throws(() => parsePax(Buffer.from('99 path=x\n')));
});

test('entry paths are cleaned and escapes refused', (t) => {
  t.is(cleanEntryPath('./a/b/'), 'a/b');
  t.is(cleanEntryPath('a/./b/../c'), 'a/c');
  t.is(cleanEntryPath('./'), '');
  for (const p of ['/etc/passwd', '../x', 'a/../../x']) {
    const e = t.throws(() => cleanEntryPath(p));
    t.true(isKind(e, 'FailedPrecondition'));
  }
  t.false(symlinkEscapes('bin/sh', 'busybox'));
  t.false(symlinkEscapes('bin/sh', '/bin/busybox'));
  t.false(symlinkEscapes('a/b/c', '../../x'));
  t.true(symlinkEscapes('a/b/c', '../../../x'));
  t.true(symlinkEscapes('link', '..'));
});
