// Pulls from a real docker-registry on 127.0.0.1: layer formats, whiteouts, links,
// indexes, list/status/remove, leases, restart, sharing, cancellation, progress.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { isKind } from '../../server/errors.js';
import { buildImage, buildIndex, busyboxLayer, pushImage, pushIndex, hostArchitecture, type BuiltImage } from '../helpers/image-builder.js';
import { expectedTree, openImageEnv, recordingLogger, snapshotTree, storeLeftovers, type TestImageEnv } from '../helpers/image-fixtures.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { startProxy } from '../helpers/registry-proxy.js';
import type { TarFile } from '../helpers/tar.js';

let reg: TestRegistry;
const envs: TestImageEnv[] = [];
async function env(opts: Parameters<typeof openImageEnv>[0] = {}): Promise<TestImageEnv> {
  const e = await openImageEnv(opts);
  envs.push(e);
  return e;
}

test.before(async () => {
  reg = await startRegistry();
});
test.after.always(async () => {
  for (const e of envs) e.cleanup();
  await reg?.stop();
});

const cap = Buffer.from([1, 0, 0, 2, 0x00, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
const base: TarFile[] = [
  { path: 'etc', type: 'dir', mode: 0o755 },
  { path: 'etc/config', content: 'one\n', mode: 0o640, uid: 1000, gid: 1001, mtime: 1_650_000_000 },
  { path: 'etc/old', content: 'remove me' },
  { path: 'opq', type: 'dir', mode: 0o711, uid: 5, gid: 6 },
  { path: 'opq/inner', content: 'hidden later' },
  { path: 'usr', type: 'dir' },
  { path: 'usr/bin', type: 'dir' },
  { path: 'usr/bin/tool', content: 'tool body', mode: 0o4755, xattrs: { 'security.capability': cap, 'user.origin': 'test' } },
  { path: 'usr/bin/tool-link', type: 'link', linkname: 'usr/bin/tool' },
  { path: 'usr/bin/rel', type: 'symlink', linkname: 'tool', uid: 7, gid: 8 },
  { path: 'usr/bin/abs', type: 'symlink', linkname: '/usr/bin/tool' },
  { path: 'dev', type: 'dir' },
  { path: 'dev/null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666 },
  { path: 'dev/fifo', type: 'fifo', mode: 0o600 },
  { path: `deep/${'n'.repeat(120)}/file`, content: 'long path' },
];
const upper: TarFile[] = [
  { path: 'etc', type: 'dir' },
  { path: 'etc/.wh.old', content: '' },
  { path: 'etc/config', content: 'two\n', mode: 0o600 },
  { path: 'opq', type: 'dir', mode: 0o755 },
  { path: 'opq/.wh..wh..opq', content: '' },
  { path: 'opq/new', content: 'visible' },
  { path: 'sticky', type: 'dir', mode: 0o1777 },
];
const top: TarFile[] = [
  { path: 'top.txt', content: Buffer.alloc(200_000, 'z'), uid: 65534, gid: 65534 },
  // Either side of the size up to which files are written with synchronous calls.
  { path: 'edge', type: 'dir', mode: 0o750 },
  { path: 'edge/empty', content: '', mode: 0o4711 },
  { path: 'edge/64k', content: randomBytes(65_536), uid: 3, gid: 4, mode: 0o640 },
  { path: 'edge/64k-and-1', content: randomBytes(65_537), uid: 5, gid: 6, mode: 0o2755 },
];

function compareTree(t: import('ava').ExecutionContext, dir: string, entries: TarFile[]) {
  const got = snapshotTree(dir);
  const want = expectedTree(entries);
  for (const [rel, w] of want) {
    const g = got.get(rel);
    if (!g) {
      t.fail(`missing ${rel}`);
      continue;
    }
    const { linkOf, ...facts } = w;
    const { ino: _ino, ...gfacts } = g;
    if (facts.type === 'dir') delete gfacts.mtime;
    t.deepEqual(gfacts, { ...facts }, rel);
    if (linkOf) t.is(g.ino, got.get(linkOf)!.ino, `${rel} is a hard link of ${linkOf}`);
  }
  const implicit = [...got.keys()].filter((k) => k !== '' && !want.has(k));
  // Only parents of entries may exist without an entry of their own.
  for (const k of implicit) t.true([...want.keys()].some((w) => w.startsWith(`${k}/`)), `unexpected ${k}`);
}

test('multi-layer image: gzip, uncompressed and zstd layers unpack file by file, whiteouts in overlay form', async (t) => {
  const img = await buildImage({
    layers: [
      { entries: base, compression: 'gzip' },
      { entries: upper, compression: 'none' },
      { entries: top, compression: 'zstd' },
    ],
    config: { User: '1002', Entrypoint: ['/bin/sh'], Cmd: ['-c', 'true'], Env: ['A=b'], WorkingDir: '/work' },
  });
  await pushImage(reg.url, 'test/layers', 'v1', img);
  const e = await env();
  const res = await e.manager.pull(`${reg.host}/test/layers:v1`);
  t.is(res.id, img.config.digest);
  t.deepEqual(res.repoTags, [`${reg.host}/test/layers:v1`]);
  t.deepEqual(res.repoDigests, [`${reg.host}/test/layers@${img.manifest.digest}`]);

  const resolved = e.manager.resolve(`${reg.host}/test/layers:v1`);
  t.is(resolved.layers.length, 3);
  t.deepEqual(
    resolved.layers.map((l) => l.diffId),
    img.layers.map((l) => l.diffId),
  );
  compareTree(t, resolved.layers[0]!.path, base);
  compareTree(t, resolved.layers[1]!.path, upper);
  compareTree(t, resolved.layers[2]!.path, top);
  t.deepEqual(resolved.config.config?.Entrypoint, ['/bin/sh']);

  // Status as the CRI reports it.
  const st = e.manager.status(`${reg.host}/test/layers:v1`, true);
  t.truthy(st.image);
  t.is(st.image!.id, img.config.digest);
  t.deepEqual(st.image!.uid, { value: '1002' });
  t.is(st.image!.username, '');
  t.is(st.image!.size, String(img.manifest.size + img.config.size + img.layers.reduce((n, l) => n + l.size, 0)));
  t.false(st.image!.pinned);
  const info = JSON.parse(st.info.info!);
  t.deepEqual(info.imageSpec.config.Env, ['A=b']);
  t.is(info.layers.length, 3);
});

test('two-platform index: the host platform is chosen; the index digest is the repo digest', async (t) => {
  const arch = hostArchitecture();
  const other = arch === 'amd64' ? 'arm64' : 'amd64';
  const mine = await buildImage({ layers: [{ entries: [{ path: 'arch', content: arch }] }] });
  const theirs = await buildImage({ layers: [{ entries: [{ path: 'arch', content: other }] }], architecture: other, ...(other === 'arm64' ? { variant: 'v8' } : {}) });
  const idx = buildIndex([theirs, mine]);
  await pushIndex(reg.url, 'test/multi', 'latest', idx);
  const e = await env();
  const res = await e.manager.pull(`${reg.host}/test/multi`);
  t.is(res.id, mine.config.digest);
  t.deepEqual(res.repoDigests, [`${reg.host}/test/multi@${idx.index.digest}`]);
  const snap = snapshotTree(e.manager.resolve(res.id).layers[0]!.path);
  t.truthy(snap.get('arch'));

  // An index without this platform: NotFound naming what it offers, nothing kept.
  const only = buildIndex([theirs]);
  await pushIndex(reg.url, 'test/foreign', 'latest', only);
  const e2 = await env();
  const err = await t.throwsAsync(e2.manager.pull(`${reg.host}/test/foreign`));
  t.true(isKind(err, 'NotFound'), String(err));
  t.regex(err!.message, new RegExp(`linux/${other}`));
  t.deepEqual(storeLeftovers(e2), []);
});

test('docker schema 2 manifest list and manifest, by digest and with tag+digest', async (t) => {
  const img = await buildImage({ layers: [busyboxLayer()], format: 'docker', config: { User: 'nobody:nogroup' } });
  const idx = buildIndex([img], 'docker');
  await pushIndex(reg.url, 'test/docker', 'v2', idx);
  const e = await env();
  const byDigest = await e.manager.pull(`${reg.host}/test/docker@${img.manifest.digest}`);
  t.is(byDigest.id, img.config.digest);
  t.deepEqual(byDigest.repoTags, []);
  t.deepEqual(byDigest.repoDigests, [`${reg.host}/test/docker@${img.manifest.digest}`]);
  const both = await e.manager.pull(`${reg.host}/test/docker:v2@${idx.index.digest}`);
  t.is(both.id, img.config.digest);
  t.deepEqual(both.repoTags, []);
  const tagged = await e.manager.pull(`${reg.host}/test/docker:v2`);
  const st = e.manager.status(tagged.id).image!;
  t.deepEqual(st.repo_tags, [`${reg.host}/test/docker:v2`]);
  t.deepEqual(st.repo_digests.sort(), [`${reg.host}/test/docker@${idx.index.digest}`, `${reg.host}/test/docker@${img.manifest.digest}`].sort());
  t.is(st.username, 'nobody');
  t.is(st.uid, null);
  // busybox really is there and executable.
  const layer = e.manager.resolve(tagged.id).layers[0]!.path;
  const snap = snapshotTree(layer);
  t.is(snap.get('bin/busybox')!.mode, 0o755);
  t.is(snap.get('bin/sh')!.target, 'busybox');
  t.is(snap.get('tmp')!.mode, 0o1777);
});

test('list, status by every name, tag moves, remove keeps shared layers, records survive a restart', async (t) => {
  const shared = busyboxLayer();
  const a = await buildImage({ layers: [shared, { entries: [{ path: 'a', content: 'a' }] }] });
  const b = await buildImage({ layers: [shared, { entries: [{ path: 'b', content: 'b' }] }] });
  await pushImage(reg.url, 'test/app', 'a', a);
  await pushImage(reg.url, 'test/app', 'b', b);
  const e = await env({ pinnedImages: [`${reg.host}/test/app:b`] });
  const m = e.manager;
  const ra = await m.pull(`${reg.host}/test/app:a`);
  const rb = await m.pull(`${reg.host}/test/app:b`);
  t.is(m.list(null).length, 2);
  t.deepEqual(
    m.list({ image: { image: `${reg.host}/test/app:a`, annotations: {}, user_specified_image: '', runtime_handler: '', image_ref: '' } }).map((i) => i.id),
    [ra.id],
  );
  for (const name of [ra.id, ra.id.slice(7), ra.id.slice(7, 19), `${reg.host}/test/app:a`, `${reg.host}/test/app@${a.manifest.digest}`, a.manifest.digest]) {
    t.is(m.status(name).image?.id, ra.id, name);
  }
  t.is(m.status('nothing:here').image, null);
  t.true(m.status(rb.id).image!.pinned);
  t.false(m.status(ra.id).image!.pinned);
  // Both images share the base layer: one directory.
  const la = m.resolve(ra.id).layers;
  const lb = m.resolve(rb.id).layers;
  t.is(la[0]!.path, lb[0]!.path);
  t.not(la[1]!.path, lb[1]!.path);

  const fs1 = await m.fsUsage();
  t.is(fs1.fs_id!.mountpoint, e.root);
  t.true(Number(fs1.used_bytes!.value) > 1_900_000);
  t.true(Number(fs1.inodes_used!.value) > 10);

  // A restart keeps everything.
  const m2 = await e.reopen({ pinnedImages: [`${reg.host}/test/app:b`] });
  t.is(m2.list().length, 2);
  t.true(m2.status(rb.id).image!.pinned);

  // Retagging: b's tag now names image a; b keeps only its digest name.
  await pushImage(reg.url, 'test/app', 'b', a);
  await m2.pull(`${reg.host}/test/app:b`);
  t.deepEqual(m2.status(ra.id).image!.repo_tags.sort(), [`${reg.host}/test/app:a`, `${reg.host}/test/app:b`]);
  t.deepEqual(m2.status(rb.id).image!.repo_tags, []);

  // Removing a keeps b's layers, including the shared base.
  t.true(await m2.remove(`${reg.host}/test/app:a`));
  t.false(await m2.remove(`${reg.host}/test/app:a`), 'idempotent');
  t.is(m2.status(ra.id).image, null);
  t.true(existsSync(lb[0]!.path));
  t.true(existsSync(lb[1]!.path));
  t.false(existsSync(la[1]!.path));
  t.false(existsSync(join(e.root, 'content/blobs/sha256', a.config.digest.slice(7))));
  t.true(await m2.remove(rb.id));
  t.deepEqual(storeLeftovers(e), []);
});

test('a container lease keeps layers after the image is removed until released', async (t) => {
  const img = await buildImage({ layers: [{ entries: [{ path: 'x', content: 'leased' }] }] });
  await pushImage(reg.url, 'test/lease', 'v1', img);
  const e = await env();
  const r = await e.manager.pull(`${reg.host}/test/lease:v1`);
  const leased = e.manager.leaseLayers('container-1', r.id);
  t.is(leased.layers.length, 1);
  t.deepEqual(e.manager.leaseHolders(), ['container-1']);
  await e.manager.remove(r.id);
  t.is(e.manager.status(r.id).image, null);
  t.true(existsSync(leased.layers[0]!.path), 'layer stays while leased');
  t.throws(() => e.manager.leaseLayers('container-2', r.id), { message: /not found/ });
  // Pulling the image again reuses the leased layer.
  await e.manager.pull(`${reg.host}/test/lease:v1`);
  await e.manager.remove(r.id);
  await e.manager.releaseLayers('container-1');
  t.false(existsSync(leased.layers[0]!.path));
  t.deepEqual(storeLeftovers(e), []);
});

test('concurrent pulls of one image share one download per blob', async (t) => {
  const img = await buildImage({ layers: [busyboxLayer(), { entries: [{ path: 'c', content: Buffer.alloc(300_000, 1) }], compression: 'none' }] });
  await pushImage(reg.url, 'test/concurrent', 'v1', img);
  const proxy = await startProxy({ upstream: reg.url, fault: () => ({ kind: 'delay', ms: 30 }) });
  try {
    const e = await env();
    const ref = `${proxy.host}/test/concurrent:v1`;
    const results = await Promise.all([e.manager.pull(ref), e.manager.pull(ref), e.manager.pull(ref)]);
    t.true(results.every((r) => r.id === img.config.digest));
    for (const l of img.layers) {
      t.is(proxy.requests.filter((r) => r.method === 'GET' && r.path.endsWith(`/blobs/${l.digest}`)).length, 1, l.digest);
    }
    t.is(e.manager.list().length, 1);
  } finally {
    await proxy.stop();
  }
});

test('cancelling a pull stops it and leaves nothing; progress is logged while it runs', async (t) => {
  const big: BuiltImage = await buildImage({ layers: [{ entries: [{ path: 'big', content: Buffer.alloc(2_000_000, 3) }], compression: 'none' }] });
  await pushImage(reg.url, 'test/slow', 'v1', big);
  // The layer blob answers only after 500 ms.
  const proxy = await startProxy({ upstream: reg.url, fault: ({ path }) => (path.endsWith(big.layers[0]!.digest) ? { kind: 'delay', ms: 500 } : undefined) });
  try {
    const log = recordingLogger();
    const e = await env({ logger: log, progressIntervalMs: 100 });
    const ctl = new AbortController();
    const p = e.manager.pull(`${proxy.host}/test/slow:v1`, { signal: ctl.signal });
    setTimeout(() => ctl.abort(), 250);
    const err = await t.throwsAsync(p);
    t.true(isKind(err, 'Canceled'), String(err));
    t.deepEqual(storeLeftovers(e), []);
    t.deepEqual(readdirSync(join(e.root, 'content/ingest')), []);

    // Uncancelled, it completes and logs per-layer progress and a summary.
    const r = await e.manager.pull(`${proxy.host}/test/slow:v1`, {
      sandboxConfig: { metadata: { name: 'pod', namespace: 'ns', uid: 'u', attempt: 0 } } as never,
    });
    t.is(r.id, big.config.digest);
    const done = log.lines.find((l) => l.msg === 'pulled image');
    t.truthy(done);
    t.like(done!.meta as object, { pod: 'pod', namespace: 'ns', layers: 1, bytes: big.layers[0]!.size });
    t.true(log.lines.some((l) => l.msg === 'pulling image'));
    const progress = log.lines.filter((l) => l.msg === 'pull progress');
    t.true(progress.length >= 2, 'progress logged at the interval');
    t.like((progress[0]!.meta as { layers: object[] }).layers[0]!, { total: big.layers[0]!.size });
  } finally {
    await proxy.stop();
  }
});

test('an image with many layers keeps their order', async (t) => {
  const layers = Array.from({ length: 15 }, (_, i) => ({ entries: [{ path: `l${i}`, content: String(i) }, { path: 'same', content: `from ${i}` }] }));
  const img = await buildImage({ layers });
  await pushImage(reg.url, 'test/many', 'v1', img);
  const e = await env({ maxConcurrentDownloads: 4 });
  const r = await e.manager.pull(`${reg.host}/test/many:v1`);
  const resolved = e.manager.resolve(r.id);
  t.deepEqual(
    resolved.layers.map((l) => l.diffId),
    img.layers.map((l) => l.diffId),
  );
  resolved.layers.forEach((l, i) => t.truthy(snapshotTree(l.path).get(`l${i}`)));
});

test('max_concurrent_downloads bounds the layer downloads in flight, and they do run side by side', async (t) => {
  const layers = Array.from({ length: 5 }, (_, i) => ({ entries: [{ path: `f${i}`, content: `layer ${i} `.repeat(1000) }] }));
  const img = await buildImage({ layers });
  await pushImage(reg.url, 'test/slots', 'v1', img);
  const layerDigests = new Set(img.layers.map((l) => l.digest));
  // Each layer GET waits a while before its bytes flow, so downloads that may overlap do.
  const proxy = await startProxy({ upstream: reg.url, fault: ({ path }) => (layerDigests.has(path.slice(path.lastIndexOf('/') + 1)) ? { kind: 'delay', ms: 300 } : undefined) });
  try {
    const e = await env({ maxConcurrentDownloads: 2 });
    const r = await e.manager.pull(`${proxy.host}/test/slots:v1`);
    t.is(r.id, img.config.digest);
    t.is(proxy.blobGets.max, 2, 'two at a time, never more');
    t.is(proxy.requests.filter((q) => q.method === 'GET' && layerDigests.has(q.path.slice(q.path.lastIndexOf('/') + 1))).length, 5);
  } finally {
    await proxy.stop();
  }
});

test('opening the store clears what a crash left: temp files, unrecorded blobs and layers', async (t) => {
  const img = await buildImage({ layers: [{ entries: [{ path: 'keep', content: 'k' }] }] });
  await pushImage(reg.url, 'test/crash', 'v1', img);
  const e = await env();
  await e.manager.pull(`${reg.host}/test/crash:v1`);
  const { mkdirSync, writeFileSync } = await import('node:fs');
  writeFileSync(join(e.root, 'content/ingest/partial'), 'half a blob');
  mkdirSync(join(e.root, 'layers/ingest/half-layer/usr'), { recursive: true });
  writeFileSync(join(e.root, 'content/blobs/sha256', 'f'.repeat(64)), 'orphan blob');
  mkdirSync(join(e.root, 'layers/sha256', 'e'.repeat(64)));
  const m = await e.reopen();
  t.deepEqual(readdirSync(join(e.root, 'content/ingest')), []);
  t.deepEqual(readdirSync(join(e.root, 'layers/ingest')), []);
  t.false(existsSync(join(e.root, 'content/blobs/sha256', 'f'.repeat(64))));
  t.false(existsSync(join(e.root, 'layers/sha256', 'e'.repeat(64))));
  // The recorded image is untouched.
  t.is(m.resolve(`${reg.host}/test/crash:v1`).id, img.config.digest);
  t.true(existsSync(m.resolve(img.config.digest).layers[0]!.path));
});
