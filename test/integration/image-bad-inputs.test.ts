// Bad inputs: each fails the pull with a clear typed error and leaves no record, blob,
// layer or temp file behind.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isKind, type ErrorKind } from '../../server/errors.js';
import { buildImage, pushImage, type LayerSpec } from '../helpers/image-builder.js';
import { openImageEnv, storeLeftovers, type TestImageEnv } from '../helpers/image-fixtures.js';
import { freePort, startRegistry, type TestRegistry } from '../helpers/registry.js';
import { startProxy, type Fault, type TestProxy } from '../helpers/registry-proxy.js';
import { writeTar } from '../helpers/tar.js';

let reg: TestRegistry;
const envs: TestImageEnv[] = [];
const proxies: TestProxy[] = [];
async function env(opts: Parameters<typeof openImageEnv>[0] = {}, root?: string): Promise<TestImageEnv> {
  const e = await openImageEnv(opts, root);
  envs.push(e);
  return e;
}

test.before(async () => {
  reg = await startRegistry();
});
test.after.always(async () => {
  for (const p of proxies) await p.stop();
  for (const e of envs) e.cleanup();
  await reg?.stop();
});

/** Pushes an image with `layers` under `repo:v1` and returns its reference via `host`. */
async function push(repo: string, layers: LayerSpec[]) {
  const img = await buildImage({ layers });
  await pushImage(reg.url, repo, 'v1', img);
  return img;
}

async function expectFailure(t: import('ava').ExecutionContext, e: TestImageEnv, ref: string, kind: ErrorKind, why: RegExp): Promise<void> {
  const err = await t.throwsAsync(e.manager.pull(ref));
  t.true(isKind(err, kind), `${kind} expected, got ${String(err)}`);
  t.regex(err!.message, why);
  t.deepEqual(storeLeftovers(e), [], 'nothing left behind');
  t.deepEqual(e.manager.list(), []);
}

async function faulty(fault: (req: { method: string; path: string }) => Fault | undefined): Promise<TestProxy> {
  const p = await startProxy({ upstream: reg.url, fault });
  proxies.push(p);
  return p;
}

const good: LayerSpec = { entries: [{ path: 'ok', content: 'fine' }] };

test('a blob whose digest does not match', async (t) => {
  const img = await push('bad/digest', [good, { entries: [{ path: 'x', content: Buffer.alloc(10_000, 9) }] }]);
  const p = await faulty(({ path }) => (path.endsWith(img.layers[1]!.digest) ? { kind: 'corrupt' } : undefined));
  await expectFailure(t, await env(), `${p.host}/bad/digest:v1`, 'FailedPrecondition', /digest mismatch/);
});

test('a truncated blob', async (t) => {
  const img = await push('bad/truncated', [good, { entries: [{ path: 'x', content: randomBytes(200_000) }], compression: 'none' }]);
  const p = await faulty(({ path }) => (path.endsWith(img.layers[1]!.digest) ? { kind: 'truncate', bytes: 50_000 } : undefined));
  await expectFailure(t, await env(), `${p.host}/bad/truncated:v1`, 'Unavailable', /after 2 attempts/);
});

test('a tar entry with ../', async (t) => {
  await push('bad/dotdot', [good, { entries: [], rawTar: writeTar([{ path: 'a', type: 'dir' }, { path: 'a/../../evil', content: 'x' }]) }]);
  await expectFailure(t, await env(), `${reg.host}/bad/dotdot:v1`, 'FailedPrecondition', /"a\/\.\.\/\.\.\/evil" points outside the layer/);
});

test('a tar entry with an absolute path', async (t) => {
  await push('bad/absolute', [{ entries: [], rawTar: writeTar([{ path: '/etc/evil', content: 'x' }]) }]);
  await expectFailure(t, await env(), `${reg.host}/bad/absolute:v1`, 'FailedPrecondition', /absolute path/);
});

test('a symlink that escapes the layer', async (t) => {
  await push('bad/symlink', [{ entries: [{ path: 'd', type: 'dir' }, { path: 'd/link', type: 'symlink', linkname: '../../../etc' }] }]);
  await expectFailure(t, await env(), `${reg.host}/bad/symlink:v1`, 'FailedPrecondition', /symlink "d\/link" -> "..\/..\/..\/etc" points outside/);
});

test('an entry written through a symlink', async (t) => {
  const outside = mkdtempSync(join(tmpdir(), 'berth-test-outside-'));
  try {
    await push('bad/through', [{ entries: [{ path: 'l', type: 'symlink', linkname: outside }, { path: 'l/planted', content: 'x' }] }]);
    await expectFailure(t, await env(), `${reg.host}/bad/through:v1`, 'FailedPrecondition', /goes through the symlink "l"/);
    t.false(existsSync(join(outside, 'planted')));
  } finally {
    rmdirSync(outside);
  }
});

test('a hard link to a file outside the layer', async (t) => {
  await push('bad/hardlink', [{ entries: [{ path: 'h', type: 'link', linkname: '../../../../etc/passwd' }] }]);
  await expectFailure(t, await env(), `${reg.host}/bad/hardlink:v1`, 'FailedPrecondition', /points outside the layer/);
});

test('an unknown layer media type', async (t) => {
  await push('bad/mediatype', [good, { entries: [{ path: 'x', content: 'y' }], mediaType: 'application/vnd.example.weird.layer' }]);
  await expectFailure(t, await env(), `${reg.host}/bad/mediatype:v1`, 'FailedPrecondition', /unsupported layer media type "application\/vnd.example.weird.layer"/);
});

test('a Docker schema 1 manifest', async (t) => {
  const p = await faulty(({ path }) =>
    path.includes('/manifests/')
      ? { kind: 'replace', body: Buffer.from(JSON.stringify({ schemaVersion: 1, name: 'x', fsLayers: [] })), contentType: 'application/vnd.docker.distribution.manifest.v1+prettyjws' }
      : undefined,
  );
  await expectFailure(t, await env(), `${p.host}/any/thing:v1`, 'FailedPrecondition', /schema 1/);
});

test('a registry that is down, and a tag that does not exist', async (t) => {
  const port = await freePort();
  await expectFailure(t, await env(), `127.0.0.1:${port}/nothing:v1`, 'Unavailable', /ECONNREFUSED/);
  await expectFailure(t, await env(), `${reg.host}/not/there:v1`, 'NotFound', /not found/);
});

test('an image config whose diff_ids do not match the layers', async (t) => {
  const img = await buildImage({ layers: [good] });
  const cfg = JSON.parse(img.config.data.toString());
  cfg.rootfs.diff_ids = [`sha256:${'1'.repeat(64)}`];
  const { sha256 } = await import('../helpers/image-builder.js');
  const data = Buffer.from(JSON.stringify(cfg));
  const config = { ...img.config, data, digest: sha256(data), size: data.length };
  const man = JSON.parse(img.manifest.data.toString());
  man.config = { mediaType: config.mediaType, digest: config.digest, size: config.size };
  const mdata = Buffer.from(JSON.stringify(man));
  await pushImage(reg.url, 'bad/diffid', 'v1', { ...img, config, manifest: { ...img.manifest, data: mdata, digest: sha256(mdata), size: mdata.length } });
  await expectFailure(t, await env(), `${reg.host}/bad/diffid:v1`, 'FailedPrecondition', /uncompressed content has digest/);
});

test('a disk that fills mid-pull (download, then unpack)', async (t) => {
  // 3 MB that does not compress: the blob alone overflows 2 MiB; with 4 MiB the blob fits and the unpack does not.
  await push('bad/big', [good, { entries: [{ path: 'big', content: randomBytes(3_000_000) }] }]);
  for (const size of ['2m', '4m']) {
    const mnt = mkdtempSync(join(tmpdir(), 'berth-test-tmpfs-'));
    const m = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', mnt], { encoding: 'utf8' });
    t.is(m.status, 0, m.stderr);
    try {
      const e = await env({}, mnt);
      await expectFailure(t, e, `${reg.host}/bad/big:v1`, 'ResourceExhausted', /no space left on device/);
      e.db.close();
    } finally {
      const u = spawnSync('umount', [mnt], { encoding: 'utf8' });
      t.is(u.status, 0, u.stderr);
      rmdirSync(mnt);
    }
  }
});
