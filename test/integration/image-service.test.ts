// ImageService through a real berthd and a real registry: pull by tag and digest, list
// with filter, status (verbose, pinned, user), remove, fs info, a registry mirror standing
// in for registry.k8s.io, errors, restart, and `berth images` import/ls/rm.
import anyTest, { type TestFn } from 'ava';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { status as Status } from '@grpc/grpc-js';
import { startBerthd, isRoot, type TestBerthd } from '../helpers/berthd.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { buildImage, busyboxLayer, pushImage, type BuiltImage } from '../helpers/image-builder.js';

const test = anyTest as TestFn<{ b: TestBerthd; reg: TestRegistry; img: BuiltImage; pause: BuiltImage }>;
const rootOnly = isRoot() ? test.serial : test.serial.skip;
const BERTH_CLI = fileURLToPath(new URL('../../cli/berth.js', import.meta.url));

test.before(async (t) => {
  if (!isRoot()) return;
  const reg = await startRegistry();
  t.context.reg = reg;
  t.context.img = await buildImage({
    layers: [busyboxLayer(), { entries: [{ path: 'etc', type: 'dir' }, { path: 'etc/app.conf', content: 'x=1\n' }] }],
    config: { User: 'www-data', Cmd: ['/bin/sh'] },
  });
  t.context.pause = await buildImage({ layers: [busyboxLayer()], config: { Entrypoint: ['/bin/sleep', 'inf'] } });
  await pushImage(reg.url, 'test/app', 'v1', t.context.img);
  await pushImage(reg.url, 'pause', '3.9', t.context.pause);
  t.context.b = await startBerthd({
    configToml: `[image.registry.mirrors."registry.k8s.io"]\nendpoints = ["${reg.url}"]\nfallback = false\n`,
  });
});
test.after.always(async (t) => {
  await t.context.b?.cleanup();
  await t.context.reg?.stop();
});

const img = (c: TestBerthd, method: string, req: object) => c.client.call(method, req, { service: 'image' });

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'OK';
  } catch (e) {
    return Status[(e as { code: number }).code]!;
  }
}

rootOnly('pull by tag, list, status, pull by digest, remove', async (t) => {
  const { b, reg, img: built } = t.context;
  const ref = `${reg.host}/test/app:v1`;
  const { image_ref } = await img(b, 'PullImage', { image: { image: ref } });
  t.is(image_ref, built.config.digest);
  const list = (await img(b, 'ListImages', {})).images;
  t.true(list.some((i: { id: string }) => i.id === built.config.digest));
  const filtered = (await img(b, 'ListImages', { filter: { image: { image: ref } } })).images;
  t.is(filtered.length, 1);
  const st = await img(b, 'ImageStatus', { image: { image: ref }, verbose: true });
  t.deepEqual(st.image.repo_tags, [ref]);
  t.is(st.image.repo_digests[0], `${reg.host}/test/app@${built.manifest.digest}`);
  t.is(st.image.username, 'www-data');
  t.true(Number(st.image.size) > 0);
  t.false(st.image.pinned);
  t.truthy(st.info.info, 'verbose info present');
  t.is((await img(b, 'ImageStatus', { image: { image: `${reg.host}/test/nothing:v9` } })).image, null);
  // By digest, the same image.
  t.is((await img(b, 'PullImage', { image: { image: `${reg.host}/test/app@${built.manifest.digest}` } })).image_ref, built.config.digest);
  const fs = await img(b, 'ImageFsInfo', {});
  t.true(BigInt(fs.image_filesystems[0].used_bytes.value) > 0n);
  t.is(fs.image_filesystems[0].fs_id.mountpoint, b.root);
  t.is(fs.container_filesystems[0].fs_id.mountpoint, join(b.root, 'containers'));
  // Survives a restart.
  await b.kill();
  await b.start();
  t.is((await img(b, 'ImageStatus', { image: { image: ref } })).image.id, built.config.digest);
  await img(b, 'RemoveImage', { image: { image: ref } });
  t.is((await img(b, 'ImageStatus', { image: { image: ref } })).image, null);
  await img(b, 'RemoveImage', { image: { image: ref } }); // idempotent
});

rootOnly('a mirror stands in for registry.k8s.io; the sandbox image is pinned', async (t) => {
  const { b, pause } = t.context;
  const { image_ref } = await img(b, 'PullImage', { image: { image: 'registry.k8s.io/pause:3.9' } });
  t.is(image_ref, pause.config.digest);
  const st = await img(b, 'ImageStatus', { image: { image: 'registry.k8s.io/pause:3.9' } });
  t.true(st.image.pinned);
  await img(b, 'RemoveImage', { image: { image: image_ref } });
});

rootOnly('bad references and missing images are clear errors', async (t) => {
  const { b, reg } = t.context;
  t.is(await code(img(b, 'PullImage', { image: { image: 'library/Upper:x' } })), 'INVALID_ARGUMENT');
  t.is(await code(img(b, 'PullImage', { image: { image: '' } })), 'INVALID_ARGUMENT');
  t.is(await code(img(b, 'PullImage', {})), 'INVALID_ARGUMENT');
  t.is(await code(img(b, 'PullImage', { image: { image: `${reg.host}/test/missing:v1` } })), 'NOT_FOUND');
  t.is(await code(img(b, 'PullImage', { image: { image: `${reg.host}/test/app:nope` } })), 'NOT_FOUND');
});

rootOnly('berth images import / ls / rm through the running berthd', async (t) => {
  const { b, reg } = t.context;
  const file = join(b.dir, 'app.tar');
  const sk = spawnSync('skopeo', ['copy', '--src-tls-verify=false', `docker://${reg.host}/test/app:v1`, `oci-archive:${file}:example.com/offline/app:v1`], { encoding: 'utf8' });
  t.is(sk.status, 0, sk.stderr);
  const cli = (...args: string[]) => spawnSync(process.execPath, [BERTH_CLI, ...args, '--state', b.state], { encoding: 'utf8' });
  const imp = cli('images', 'import', file);
  t.is(imp.status, 0, imp.stderr);
  t.regex(imp.stdout, /imported example\.com\/offline\/app:v1 sha256:/);
  t.regex(cli('images', 'ls').stdout, /example\.com\/offline\/app:v1/);
  t.truthy((await img(b, 'ImageStatus', { image: { image: 'example.com/offline/app:v1' } })).image);
  t.is(cli('images', 'rm', 'example.com/offline/app:v1').status, 0);
  t.is((await img(b, 'ImageStatus', { image: { image: 'example.com/offline/app:v1' } })).image, null);
  const missing = cli('images', 'rm', 'example.com/offline/app:v1');
  t.is(missing.status, 1);
  t.regex(missing.stderr, /not found/);
  const bad = cli('images', 'import', join(b.dir, 'nope.tar'));
  t.is(bad.status, 1);
});
