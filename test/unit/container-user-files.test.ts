// server/container/user-files.ts: the image's /etc/passwd and /etc/group read from its
// unpacked layers never lead onto the host (absolute and relative symlinks stay inside the
// image; loops end). The layered lookup itself is covered in container-pure.test.ts.
import test from 'ava';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readLayeredFile, readLayeredUserFiles } from '../../server/container/user-files.js';

function layer(): { base: string; root: string; outside: string; cleanup: () => void } {
  const base = mkdtempSync(join(tmpdir(), 'berth-user-files-'));
  const root = join(base, 'layer');
  const outside = join(base, 'host-secret');
  mkdirSync(join(root, 'etc'), { recursive: true });
  mkdirSync(join(root, 'usr/share/base'), { recursive: true });
  writeFileSync(outside, 'host:x:0:0::/:/bin/sh\n');
  return { base, root, outside, cleanup: () => rmSync(base, { recursive: true, force: true }) };
}

test('readLayeredUserFiles reads /etc/passwd and /etc/group; absent files are null', async (t) => {
  const { root, cleanup } = layer();
  t.teardown(cleanup);
  writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\n');
  t.deepEqual(await readLayeredUserFiles([root]), { passwd: 'root:x:0:0::/root:/bin/sh\n', group: null });
});

test('an absolute symlink to a host path resolves inside the image, never to the host', async (t) => {
  const { root, outside, cleanup } = layer();
  t.teardown(cleanup);
  symlinkSync(outside, join(root, 'etc/passwd'));
  t.is(await readLayeredFile([root], '/etc/passwd'), null);
  writeFileSync(join(root, 'usr/share/base/group'), 'root:x:0:\n');
  symlinkSync('/usr/share/base/group', join(root, 'etc/group'));
  t.is(await readLayeredFile([root], '/etc/group'), 'root:x:0:\n');
});

test('relative symlinks with .. stay clamped at the image root', async (t) => {
  const { root, cleanup } = layer();
  t.teardown(cleanup);
  symlinkSync('../../../../../host-secret', join(root, 'etc/passwd'));
  t.is(await readLayeredFile([root], '/etc/passwd'), null);
  writeFileSync(join(root, 'usr/share/base/group'), 'root:x:0:\n');
  symlinkSync('../usr/share/base', join(root, 'etc/base'));
  t.is(await readLayeredFile([root], '/etc/base/group'), 'root:x:0:\n');
});

test('symlink loops end without an answer', async (t) => {
  const { root, cleanup } = layer();
  t.teardown(cleanup);
  symlinkSync('/etc/b', join(root, 'etc/a'));
  symlinkSync('/etc/a', join(root, 'etc/b'));
  t.is(await readLayeredFile([root], '/etc/a'), null);
});
