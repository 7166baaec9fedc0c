// Air-gapped import: archives written by skopeo (oci-archive, docker-archive) and by
// hand (gzip-compressed OCI layout), compared with what a pull of the same image gives.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { isKind } from '../../server/errors.js';
import { buildImage, busyboxLayer, pushImage, type BuiltImage } from '../helpers/image-builder.js';
import { openImageEnv, snapshotTree, storeLeftovers, type TestImageEnv } from '../helpers/image-fixtures.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { writeTar } from '../helpers/tar.js';

let reg: TestRegistry;
let img: BuiltImage;
let dir: string;
const envs: TestImageEnv[] = [];
async function env(): Promise<TestImageEnv> {
  const e = await openImageEnv();
  envs.push(e);
  return e;
}

test.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'berth-test-import-'));
  reg = await startRegistry();
  img = await buildImage({
    layers: [busyboxLayer(), { entries: [{ path: 'etc', type: 'dir' }, { path: 'etc/app.conf', content: 'x=1\n', mode: 0o600, uid: 33, gid: 33 }] }],
    config: { User: 'www-data', Cmd: ['/bin/sh'] },
  });
  await pushImage(reg.url, 'test/import', 'v1', img);
});
test.after.always(async () => {
  for (const e of envs) e.cleanup();
  await reg?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function skopeo(dest: string) {
  const r = spawnSync('skopeo', ['copy', '--src-tls-verify=false', `docker://${reg.host}/test/import:v1`, dest], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`skopeo: ${r.stderr}`);
}

test('imports an OCI archive written by skopeo, named in the archive', async (t) => {
  const file = join(dir, 'oci.tar');
  skopeo(`oci-archive:${file}:example.com/team/app:v1`);
  const e = await env();
  const [imported] = await e.manager.importArchive(file);
  t.is(imported!.id, img.config.digest);
  t.deepEqual(imported!.repoTags, ['example.com/team/app:v1']);
  const st = e.manager.status('example.com/team/app:v1').image!;
  t.is(st.username, 'www-data');
  const layers = e.manager.resolve(imported!.id).layers;
  t.is(layers.length, 2);
  t.deepEqual(snapshotTree(layers[1]!.path).get('etc/app.conf')!.uid, 33);
});

test('imports a docker save archive written by skopeo and matches a pull', async (t) => {
  const file = join(dir, 'docker.tar');
  skopeo(`docker-archive:${file}:example.com/legacy:v2`);
  const e = await env();
  const [imported] = await e.manager.importArchive(file);
  t.is(imported!.id, img.config.digest);
  t.deepEqual(imported!.repoTags, ['example.com/legacy:v2']);
  const fromArchive = e.manager.resolve(imported!.id).layers.map((l) => l.chainId);

  const e2 = await env();
  await e2.manager.pull(`${reg.host}/test/import:v1`);
  t.deepEqual(e2.manager.resolve(img.config.digest).layers.map((l) => l.chainId), fromArchive, 'same chain ids as a pull');
  // Same tree, file by file (inode numbers aside).
  const strip = (m: Map<string, { ino: number }>) => [...m].map(([k, v]) => [k, { ...v, ino: 0 }]);
  t.deepEqual(strip(snapshotTree(e.manager.layerPath(fromArchive[0]!))), strip(snapshotTree(e2.manager.layerPath(fromArchive[0]!))));
});

test('imports a gzip-compressed OCI layout with a name given on the command line', async (t) => {
  const layout = writeTar([
    { path: 'oci-layout', content: JSON.stringify({ imageLayoutVersion: '1.0.0' }) },
    {
      path: 'index.json',
      content: JSON.stringify({
        schemaVersion: 2,
        manifests: [{ mediaType: img.manifest.mediaType, digest: img.manifest.digest, size: img.manifest.size, annotations: { 'org.opencontainers.image.ref.name': 'v3' } }],
      }),
    },
    { path: 'blobs', type: 'dir' },
    { path: 'blobs/sha256', type: 'dir' },
    ...[img.manifest, img.config, ...img.layers].map((b) => ({ path: `blobs/sha256/${b.digest.slice(7)}`, content: b.data })),
  ]);
  const file = join(dir, 'layout.tar.gz');
  writeFileSync(file, gzipSync(layout));
  const e = await env();
  const [imported] = await e.manager.importArchive(file, { name: 'offline.local/app' });
  t.deepEqual(imported!.repoTags, ['offline.local/app:v3']);
  t.is(e.manager.list().length, 1);
});

test('a broken archive imports nothing and leaves nothing', async (t) => {
  const e = await env();
  const notArchive = join(dir, 'junk.tar');
  writeFileSync(notArchive, writeTar([{ path: 'hello.txt', content: 'hi' }]));
  const err = await t.throwsAsync(e.manager.importArchive(notArchive));
  t.true(isKind(err, 'FailedPrecondition'));
  t.regex(err!.message, /neither an OCI image layout/);
  // A layout that names a blob it does not carry.
  const missing = join(dir, 'missing.tar');
  writeFileSync(
    missing,
    writeTar([
      { path: 'index.json', content: JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: img.manifest.mediaType, digest: img.manifest.digest, size: img.manifest.size }] }) },
      { path: `blobs/sha256/${img.manifest.digest.slice(7)}`, content: img.manifest.data },
      { path: `blobs/sha256/${img.config.digest.slice(7)}`, content: img.config.data },
    ]),
  );
  const err2 = await t.throwsAsync(e.manager.importArchive(missing));
  t.regex(err2!.message, /lacks the layer/);
  // A blob whose name lies about its digest.
  const lying = join(dir, 'lying.tar');
  writeFileSync(lying, writeTar([{ path: `blobs/sha256/${'0'.repeat(64)}`, content: 'not that' }]));
  const err3 = await t.throwsAsync(e.manager.importArchive(lying));
  t.regex(err3!.message, /digest mismatch/);
  t.deepEqual(storeLeftovers(e), []);
});
