// server/oci/host.ts and the readers of server/oci/devices.ts: what is read from the host
// for the spec (real paths of mount sources, devices, oom_score_adj, kernel release), and
// readHostLookups, which reads it all before the pure spec generation asks.
import test from 'ava';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BerthError } from '../../server/errors.js';
import { readHostDevice, readHostDevices } from '../../server/oci/devices.js';
import { minOomScoreAdj, parseKernelRelease, readHostLookups, readMinOomScoreAdj, realHostPath } from '../../server/oci/host.js';

function tree(): { root: string; cleanup: () => void } {
  const root = mkdtempSync(join(tmpdir(), 'berth-oci-host-'));
  mkdirSync(join(root, 'etc'), { recursive: true });
  return { root, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

test('realHostPath resolves symlinks and names missing paths', async (t) => {
  const { root, cleanup } = tree();
  t.teardown(cleanup);
  symlinkSync(join(root, 'etc'), join(root, 'etc-link'));
  t.is(await realHostPath(join(root, 'etc-link')), join(root, 'etc'));
  const err = await t.throwsAsync(realHostPath(join(root, 'nope')), { instanceOf: BerthError });
  t.is(err?.kind, 'InvalidArgument');
  t.regex(err?.message ?? '', /does not exist/);
});

test('minOomScoreAdj: our own value without CAP_SYS_RESOURCE, -1000 with it', (t) => {
  t.is(minOomScoreAdj(['CAP_CHOWN'], 0), 0);
  t.is(minOomScoreAdj(['CAP_CHOWN'], -500), -500);
  t.is(minOomScoreAdj(['CAP_SYS_RESOURCE'], 0), -1000);
});

test('readMinOomScoreAdj reads status and oom_score_adj of a proc directory', async (t) => {
  const { root, cleanup } = tree();
  t.teardown(cleanup);
  writeFileSync(join(root, 'status'), 'Name:\tx\nCapEff:\t0000000000000001\n');
  writeFileSync(join(root, 'oom_score_adj'), '-200\n');
  t.is(await readMinOomScoreAdj(root), -200);
  writeFileSync(join(root, 'status'), 'Name:\tx\nCapEff:\t000001ffffffffff\n');
  t.is(await readMinOomScoreAdj(root), -1000);
});

test('parseKernelRelease', (t) => {
  t.deepEqual(parseKernelRelease('6.1.0-13-amd64'), [6, 1]);
  t.deepEqual(parseKernelRelease('4.19.0'), [4, 19]);
  t.is(parseKernelRelease('weird'), undefined);
});

test('readHostDevice reads major/minor of /dev/null and skips non-devices', async (t) => {
  const nul = await readHostDevice('/dev/null');
  t.deepEqual(nul, { path: '/dev/null', type: 'c', major: 1, minor: 3, fileMode: nul?.fileMode ?? -1, uid: 0, gid: 0 });
  const { root, cleanup } = tree();
  t.teardown(cleanup);
  t.is(await readHostDevice(join(root, 'etc')), undefined);
  t.deepEqual(await readHostDevices(join(root, 'etc')), [], 'a directory without device nodes');
  writeFileSync(join(root, 'etc/plain'), 'x');
  await t.throwsAsync(readHostDevices(join(root, 'etc/plain')), { instanceOf: BerthError, message: /not a device/ });
  await t.throwsAsync(readHostDevices(join(root, 'missing')), { instanceOf: BerthError, message: /does not exist/ });
  t.deepEqual((await readHostDevices('/dev/zero')).map((d) => [d.major, d.minor]), [[1, 5]]);
});

test('readHostDevices walks /dev: every node found, pts and shm skipped', async (t) => {
  const all = await readHostDevices('/dev');
  t.true(all.some((d) => d.path === '/dev/null' && d.major === 1 && d.minor === 3));
  t.false(all.some((d) => d.path.startsWith('/dev/pts/') || d.path.startsWith('/dev/shm/') || d.path === '/dev/console'));
});

test('readHostLookups answers what it read, keeps errors for when the spec asks, and refuses questions not read', async (t) => {
  const { root, cleanup } = tree();
  t.teardown(cleanup);
  symlinkSync(join(root, 'etc'), join(root, 'etc-link'));
  writeFileSync(join(root, 'mountinfo'), `25 1 8:1 / ${root} rw,relatime shared:1 - ext4 /dev/sda1 rw\n`);
  const l = await readHostLookups({
    hostPaths: [join(root, 'etc-link'), join(root, 'missing'), ''],
    devicePaths: ['/dev/null', join(root, 'etc')],
    propagation: true,
    privileged: false,
    mountinfoFile: join(root, 'mountinfo'),
  });
  t.is(l.resolveHostPath(join(root, 'etc-link')), join(root, 'etc'));
  const missing = t.throws(() => l.resolveHostPath(join(root, 'missing')), { instanceOf: BerthError });
  t.is(missing?.kind, 'InvalidArgument');
  t.is(t.throws(() => l.resolveHostPath('/not/asked'), { instanceOf: BerthError })?.kind, 'Internal');
  t.deepEqual(l.deviceLookup('/dev/null').map((d) => [d.type, d.major, d.minor]), [['c', 1, 3]]);
  t.deepEqual(l.deviceLookup(join(root, 'etc')), [], 'a directory: its nodes (none)');
  t.is(l.hostPropagation?.(join(root, 'etc')), 'shared');
  t.is(l.hostDevices, undefined, 'only privileged containers get every host device');
  const p = await readHostLookups({ hostPaths: [], devicePaths: [], propagation: false, privileged: true, devDir: '/dev' });
  t.true((p.hostDevices ?? []).some((d) => d.path === '/dev/null'));
  t.is(p.hostPropagation, undefined);
});
