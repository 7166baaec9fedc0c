// Host reads for spec generation (server/oci/host.ts, devices.ts) on temporary trees: image
// files through symlinks clamped to the rootfs, loops refused, host paths, oom_score_adj's
// floor, kernel release parsing and host device numbers.
import test from 'ava';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BerthError } from '../../server/errors.js';
import { readHostDevice, readHostDevices } from '../../server/oci/devices.js';
import { minOomScoreAdj, parseKernelRelease, readImageFile, readImageUserFiles, realHostPath, resolveInRoot } from '../../server/oci/host.js';

function tree(): { root: string; outside: string; cleanup: () => void } {
  const base = mkdtempSync(join(tmpdir(), 'berth-oci-host-'));
  const root = join(base, 'rootfs');
  const outside = join(base, 'host-secret');
  mkdirSync(join(root, 'etc'), { recursive: true });
  mkdirSync(join(root, 'usr/share/base'), { recursive: true });
  writeFileSync(outside, 'host:x:0:0::/:/bin/sh\n');
  return { root, outside, cleanup: () => rmSync(base, { recursive: true, force: true }) };
}

test('readImageUserFiles reads /etc/passwd and /etc/group; absent files are null', (t) => {
  const { root, cleanup } = tree();
  t.teardown(cleanup);
  writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\n');
  t.deepEqual(readImageUserFiles(root), { passwd: 'root:x:0:0::/root:/bin/sh\n', group: null });
});

test('an absolute symlink in the image resolves inside the rootfs, never to the host', (t) => {
  const { root, outside, cleanup } = tree();
  t.teardown(cleanup);
  // /etc/passwd -> <host path of a secret>: must be read as <root>/<that path>, which does not exist.
  symlinkSync(outside, join(root, 'etc/passwd'));
  t.is(readImageFile(root, '/etc/passwd'), null);
  // /etc/group -> /usr/share/base/group, absolute inside the image.
  writeFileSync(join(root, 'usr/share/base/group'), 'root:x:0:\n');
  symlinkSync('/usr/share/base/group', join(root, 'etc/group'));
  t.is(readImageFile(root, '/etc/group'), 'root:x:0:\n');
});

test('relative symlinks with .. stay clamped at the rootfs', (t) => {
  const { root, cleanup } = tree();
  t.teardown(cleanup);
  symlinkSync('../../../../../host-secret', join(root, 'etc/passwd'));
  t.is(resolveInRoot(root, '/etc/passwd'), join(root, 'host-secret'));
  t.is(readImageFile(root, '/etc/passwd'), null);
  symlinkSync('../usr/share/base', join(root, 'etc/base'));
  t.is(resolveInRoot(root, '/etc/base/group'), join(root, 'usr/share/base/group'));
});

test('symlink loops are refused', (t) => {
  const { root, cleanup } = tree();
  t.teardown(cleanup);
  symlinkSync('/etc/b', join(root, 'etc/a'));
  symlinkSync('/etc/a', join(root, 'etc/b'));
  t.throws(() => resolveInRoot(root, '/etc/a'), { instanceOf: BerthError, message: /too many symbolic links/ });
});

test('realHostPath resolves symlinks and names missing paths', (t) => {
  const { root, cleanup } = tree();
  t.teardown(cleanup);
  symlinkSync(join(root, 'etc'), join(root, 'etc-link'));
  t.is(realHostPath(join(root, 'etc-link')), join(root, 'etc'));
  const err = t.throws(() => realHostPath(join(root, 'nope')), { instanceOf: BerthError });
  t.is(err?.kind, 'InvalidArgument');
  t.regex(err?.message ?? '', /does not exist/);
});

test('minOomScoreAdj: our own value without CAP_SYS_RESOURCE, -1000 with it', (t) => {
  t.is(minOomScoreAdj(['CAP_CHOWN'], 0), 0);
  t.is(minOomScoreAdj(['CAP_CHOWN'], -500), -500);
  t.is(minOomScoreAdj(['CAP_SYS_RESOURCE'], 0), -1000);
});

test('parseKernelRelease', (t) => {
  t.deepEqual(parseKernelRelease('6.1.0-13-amd64'), [6, 1]);
  t.deepEqual(parseKernelRelease('4.19.0'), [4, 19]);
  t.is(parseKernelRelease('weird'), undefined);
});

test('readHostDevice reads major/minor of /dev/null and skips non-devices', (t) => {
  t.deepEqual(readHostDevice('/dev/null'), { path: '/dev/null', type: 'c', major: 1, minor: 3, fileMode: readHostDevice('/dev/null')?.fileMode ?? -1, uid: 0, gid: 0 });
  const { root, cleanup } = tree();
  t.teardown(cleanup);
  t.is(readHostDevice(join(root, 'etc')), undefined);
  t.deepEqual(readHostDevices(join(root, 'etc')), [], 'a directory without device nodes');
  writeFileSync(join(root, 'etc/plain'), 'x');
  t.throws(() => readHostDevices(join(root, 'etc/plain')), { instanceOf: BerthError, message: /not a device/ });
  t.throws(() => readHostDevices(join(root, 'missing')), { instanceOf: BerthError, message: /does not exist/ });
  t.deepEqual(readHostDevices('/dev/zero').map((d) => [d.major, d.minor]), [[1, 5]]);
});
