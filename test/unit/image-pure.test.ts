// Pure image helpers: WWW-Authenticate challenges and CRI AuthConfig credentials, platform
// selection, registry endpoints (mirrors, plain HTTP, CA files), chain ids and the image user.
import test from 'ava';
import { isKind } from '../../server/errors.js';
import { credentialsFromAuthConfig, parseChallenges } from '../../server/image/auth.js';
import { imageUser } from '../../server/image/cri-image.js';
import { chainIds, sha256Digest } from '../../server/image/digest.js';
import { parseImageConfig, parseManifest } from '../../server/image/manifest.js';
import { sniffCompression } from '../../server/image/media-types.js';
import { selectManifest, type PlatformDescriptor } from '../../server/image/platform.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { endpointsFor, endpointsWithCas, isLoopbackHost, registryConfig } from '../../server/image/registry-config.js';

test('parses WWW-Authenticate challenges', (t) => {
  t.deepEqual(parseChallenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"'), [
    { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/busybox:pull' } },
  ]);
  t.deepEqual(parseChallenges('Basic realm="x y", Bearer realm=r'), [
    { scheme: 'basic', params: { realm: 'x y' } },
    { scheme: 'bearer', params: { realm: 'r' } },
  ]);
  t.deepEqual(parseChallenges('Bearer realm="a\\"b"'), [{ scheme: 'bearer', params: { realm: 'a"b' } }]);
  t.deepEqual(parseChallenges(undefined), []);
});

test('credentials from the CRI AuthConfig', (t) => {
  const base = { username: '', password: '', auth: '', server_address: '', identity_token: '', registry_token: '' };
  t.is(credentialsFromAuthConfig(null), undefined);
  t.is(credentialsFromAuthConfig(base), undefined);
  t.deepEqual(credentialsFromAuthConfig({ ...base, username: 'u', password: 'p' }), { username: 'u', password: 'p' });
  t.deepEqual(credentialsFromAuthConfig({ ...base, auth: Buffer.from('me:pa:ss').toString('base64') }), { username: 'me', password: 'pa:ss' });
  t.deepEqual(credentialsFromAuthConfig({ ...base, identity_token: 'rt' }), { identityToken: 'rt' });
  t.deepEqual(credentialsFromAuthConfig({ ...base, registry_token: 'bt' }), { registryToken: 'bt' });
  t.true(isKind(t.throws(() => credentialsFromAuthConfig({ ...base, auth: Buffer.from('nocolon').toString('base64') })), 'InvalidArgument'));
});

test('platform selection', (t) => {
  const d = (architecture: string, variant?: string, os = 'linux'): PlatformDescriptor => ({
    digest: sha256Digest(`${os}${architecture}${variant}`),
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    size: 1,
    platform: { os, architecture, ...(variant ? { variant } : {}) },
  });
  const list = [d('amd64', undefined, 'windows'), d('arm', 'v6'), d('arm', 'v7'), d('arm64', 'v8'), d('amd64'), d('s390x')];
  t.is(selectManifest(list, { os: 'linux', architecture: 'amd64' }, 'x'), list[4]);
  t.is(selectManifest(list, { os: 'linux', architecture: 'arm64', variant: 'v8' }, 'x'), list[3]);
  t.is(selectManifest(list, { os: 'linux', architecture: 'arm', variant: 'v7' }, 'x'), list[2]);
  t.is(selectManifest([list[1]!], { os: 'linux', architecture: 'arm', variant: 'v7' }, 'x'), list[1]);
  t.is(selectManifest([d('arm64')], { os: 'linux', architecture: 'arm64', variant: 'v8' }, 'x').platform?.architecture, 'arm64');
  const e = t.throws(() => selectManifest([list[0]!, list[5]!], { os: 'linux', architecture: 'amd64' }, 'img'));
  t.true(isKind(e, 'NotFound'));
  t.regex(e!.message, /linux\/amd64.*windows\/amd64, linux\/s390x/);
});

test('registry endpoints: mirrors, fallback, plain HTTP rules', (t) => {
  const cfg = registryConfig({
    mirrors: {
      'registry.k8s.io': { endpoints: ['http://127.0.0.1:5000'], fallback: false },
      'docker.io': { endpoints: ['mirror.example:443', 'localhost:6000'], fallback: true },
    },
    insecure: ['plain.example:80'],
  });
  t.deepEqual(
    endpointsFor(cfg, 'registry.k8s.io').map((e) => `${e.scheme}://${e.host}${e.mirror ? ' m' : ''}`),
    ['http://127.0.0.1:5000 m'],
  );
  t.deepEqual(
    endpointsFor(cfg, 'docker.io').map((e) => `${e.scheme}://${e.host}${e.mirror ? ' m' : ''}`),
    ['https://mirror.example:443 m', 'http://localhost:6000 m', 'https://registry-1.docker.io'],
  );
  t.is(endpointsFor(cfg, 'plain.example:80')[0]!.scheme, 'http');
  t.is(endpointsFor(cfg, 'quay.io')[0]!.scheme, 'https');
  t.is(endpointsFor(registryConfig({ allowLoopbackPlainHttp: false }), '127.0.0.1:5000')[0]!.scheme, 'https');
  for (const h of ['localhost', 'localhost:5000', '127.0.0.1', '127.1.2.3:80', '[::1]:5000', '::1']) t.true(isLoopbackHost(h), h);
  for (const h of ['example.com', '10.0.0.1:5000', '[::2]:5000', 'localhost.example.com']) t.false(isLoopbackHost(h), h);
  t.true(isKind(t.throws(() => registryConfig({ mirrors: { x: { endpoints: ['ftp://x/y/z'], fallback: true } } })), 'InvalidArgument'));
});

test('registry CA files are read asynchronously per pull; an unreadable one fails only its host, as FailedPrecondition', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-unit-ca-'));
  try {
    writeFileSync(join(dir, 'global.pem'), 'GLOBAL');
    writeFileSync(join(dir, 'host.pem'), 'HOST');
    const cfg = registryConfig({
      caFiles: [join(dir, 'global.pem')],
      hosts: { 'a.example': { caFiles: [join(dir, 'host.pem')], skipVerify: false }, 'b.example': { caFiles: [join(dir, 'missing.pem')], skipVerify: false } },
    });
    t.deepEqual((await endpointsWithCas(cfg, 'a.example'))[0]!.ca, ['GLOBAL', 'HOST']);
    t.deepEqual((await endpointsWithCas(cfg, 'c.example'))[0]!.ca, ['GLOBAL']);
    const e = await t.throwsAsync(endpointsWithCas(cfg, 'b.example'));
    t.true(isKind(e, 'FailedPrecondition'), String(e));
    t.regex(e!.message, /missing\.pem/);
    // Not cached as failed: once the operator puts the file there, the next pull reads it.
    writeFileSync(join(dir, 'missing.pem'), 'LATE');
    t.deepEqual((await endpointsWithCas(cfg, 'b.example'))[0]!.ca, ['GLOBAL', 'LATE']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('chain ids follow the OCI image spec', (t) => {
  const a = sha256Digest('a');
  const b = sha256Digest('b');
  const c = sha256Digest('c');
  const ids = chainIds([a, b, c]);
  t.is(ids[0], a);
  t.is(ids[1], sha256Digest(`${a} ${b}`));
  t.is(ids[2], sha256Digest(`${ids[1]} ${c}`));
});

test('image user to CRI uid/username', (t) => {
  t.deepEqual(imageUser(''), {});
  t.deepEqual(imageUser(undefined), {});
  t.deepEqual(imageUser('1002'), { uid: 1002 });
  t.deepEqual(imageUser('1003:1004'), { uid: 1003 });
  t.deepEqual(imageUser('www-data'), { username: 'www-data' });
  t.deepEqual(imageUser('www-data:staff'), { username: 'www-data' });
});

test('manifests: unknown layer types and bad configs are refused', (t) => {
  const cfg = { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256Digest('c'), size: 1 };
  const m = (layerType: string) =>
    Buffer.from(JSON.stringify({ schemaVersion: 2, config: cfg, layers: [{ mediaType: layerType, digest: sha256Digest('l'), size: 3 }] }));
  t.is(parseManifest(m('application/vnd.oci.image.layer.v1.tar+zstd'), 'application/vnd.oci.image.manifest.v1+json', 'x').layers.length, 1);
  const e = t.throws(() => parseManifest(m('application/x-foo'), 'application/vnd.oci.image.manifest.v1+json', 'x'));
  t.true(isKind(e, 'FailedPrecondition'));
  t.regex(e!.message, /unsupported layer media type "application\/x-foo"/);
  const helm = Buffer.from(JSON.stringify({ schemaVersion: 2, config: { ...cfg, mediaType: 'application/vnd.cncf.helm.config.v1+json' }, layers: [] }));
  t.regex(t.throws(() => parseManifest(helm, 'application/vnd.oci.image.manifest.v1+json', 'x'))!.message, /not a container image/);
  const conf = (o: object) => Buffer.from(JSON.stringify(o));
  t.regex(t.throws(() => parseImageConfig(conf({ rootfs: { type: 'layers', diff_ids: [] } }), 'c', 1))!.message, /0 diff_ids for 1 layers/);
  t.regex(t.throws(() => parseImageConfig(conf({ os: 'windows', rootfs: { type: 'layers', diff_ids: [] } }), 'c', 0))!.message, /windows/);
  t.regex(t.throws(() => parseImageConfig(Buffer.from('nope'), 'c', 0))!.message, /not valid JSON/);
});

test('compression is sniffed from magic bytes', (t) => {
  t.is(sniffCompression(Buffer.from([0x1f, 0x8b, 8, 0])), 'gzip');
  t.is(sniffCompression(Buffer.from([0x28, 0xb5, 0x2f, 0xfd])), 'zstd');
  t.is(sniffCompression(Buffer.from('bin/')), 'none');
  t.is(sniffCompression(Buffer.alloc(0)), 'none');
});

test('registry config from the TOML table', async (t) => {
  const { registryConfigFromToml } = await import('../../server/image/registry-config.js');
  const cfg = registryConfigFromToml({
    insecure: ['a:5000'],
    allow_loopback_plain_http: false,
    retry_attempts: 2n,
    mirrors: { 'registry.k8s.io': { endpoints: ['http://127.0.0.1:5000'], fallback: false }, 'gcr.io': { endpoints: ['127.0.0.1:5001'] } },
    hosts: { 'a:5000': { skip_verify: true, username: 'u', password: 'p' } },
  });
  t.deepEqual(cfg.insecure, ['a:5000']);
  t.false(cfg.allowLoopbackPlainHttp);
  t.is(cfg.retryAttempts, 2);
  t.is(cfg.requestTimeoutMs, 30_000);
  t.deepEqual(cfg.mirrors['gcr.io'], { endpoints: ['127.0.0.1:5001'], fallback: true });
  t.deepEqual(cfg.hosts['a:5000'], { caFiles: [], skipVerify: true, username: 'u', password: 'p' });
  t.deepEqual(registryConfigFromToml(undefined).mirrors, {});
  t.regex(t.throws(() => registryConfigFromToml({ insecur: [] }))!.message, /image\.registry\.insecur: unknown key/);
  t.regex(t.throws(() => registryConfigFromToml({ retry_attempts: 0 }))!.message, /retry_attempts: must be an integer ≥ 1/);
  t.regex(t.throws(() => registryConfigFromToml({ mirrors: { x: { endpoints: 'y' } } }))!.message, /mirrors\."x"\.endpoints: must be a list/);
});
