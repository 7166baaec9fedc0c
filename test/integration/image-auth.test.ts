// Registry authentication and endpoints: htpasswd basic auth on a real registry, a
// bearer token server (credentials, identity token, registry token), redirects to a
// blob store, mirrors with and without fallback, retries on transient errors.
import test from 'ava';
import { isKind } from '../../server/errors.js';
import type { AuthConfig__Output } from '../../wire/cri/generated/runtime/v1/AuthConfig.js';
import { buildImage, pushImage, type BuiltImage } from '../helpers/image-builder.js';
import { openImageEnv, storeLeftovers, type TestImageEnv } from '../helpers/image-fixtures.js';
import { freePort, startRegistry, type TestRegistry } from '../helpers/registry.js';
import { selfSignedCert, startProxy, type TestProxy } from '../helpers/registry-proxy.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let open: TestRegistry;
let locked: TestRegistry;
let img: BuiltImage;
const envs: TestImageEnv[] = [];
const proxies: TestProxy[] = [];
async function env(opts: Parameters<typeof openImageEnv>[0] = {}): Promise<TestImageEnv> {
  const e = await openImageEnv(opts);
  envs.push(e);
  return e;
}
async function proxy(opts: Parameters<typeof startProxy>[0]): Promise<TestProxy> {
  const p = await startProxy(opts);
  proxies.push(p);
  return p;
}
const auth = (a: Partial<AuthConfig__Output>): AuthConfig__Output => ({
  username: '',
  password: '',
  auth: '',
  server_address: '',
  identity_token: '',
  registry_token: '',
  ...a,
});

test.before(async () => {
  [open, locked] = await Promise.all([startRegistry(), startRegistry({ users: { alice: 's3cret' } })]);
  img = await buildImage({ layers: [{ entries: [{ path: 'hello', content: 'world' }] }, { entries: [{ path: 'two', content: '2' }] }] });
  await pushImage(open.url, 'test/app', 'v1', img);
  await pushImage(locked.url, 'test/app', 'v1', img, { username: 'alice', password: 's3cret' });
});
test.after.always(async () => {
  for (const p of proxies) await p.stop();
  for (const e of envs) e.cleanup();
  await Promise.all([open?.stop(), locked?.stop()]);
});

test('htpasswd registry: basic auth from username/password or the auth field', async (t) => {
  const e = await env();
  const ref = `${locked.host}/test/app:v1`;
  t.is((await e.manager.pull(ref, { auth: auth({ username: 'alice', password: 's3cret' }) })).id, img.config.digest);
  await e.manager.remove(ref);
  t.is((await e.manager.pull(ref, { auth: auth({ auth: Buffer.from('alice:s3cret').toString('base64') }) })).id, img.config.digest);
});

test('htpasswd registry: wrong or missing credentials are PermissionDenied and leave nothing', async (t) => {
  const e = await env();
  const ref = `${locked.host}/test/app:v1`;
  const wrong = await t.throwsAsync(e.manager.pull(ref, { auth: auth({ username: 'alice', password: 'nope' }) }));
  t.true(isKind(wrong, 'PermissionDenied'), String(wrong));
  t.regex(wrong!.message, /rejected the credentials for user "alice"/);
  const none = await t.throwsAsync(e.manager.pull(ref));
  t.true(isKind(none, 'PermissionDenied'));
  t.regex(none!.message, /requires credentials/);
  t.deepEqual(storeLeftovers(e), []);
});

test('bearer tokens: realm, service and scope; basic credentials at the token server', async (t) => {
  const p = await proxy({ upstream: open.url, bearer: { users: { bob: 'pw' }, service: 'svc' } });
  const e = await env();
  const r = await e.manager.pull(`${p.host}/test/app:v1`, { auth: auth({ username: 'bob', password: 'pw' }) });
  t.is(r.id, img.config.digest);
  t.true(p.tokenRequests.length >= 1);
  const q = new URLSearchParams(p.tokenRequests[0]!.query);
  t.is(q.get('service'), 'svc');
  t.is(q.get('scope'), 'repository:test/app:pull');
  t.is(p.tokenRequests[0]!.authorization, `Basic ${Buffer.from('bob:pw').toString('base64')}`);
  // One token serves the whole pull: manifests and blobs carry it.
  t.true(p.requests.filter((x) => x.path.startsWith('/v2/test/app/blobs/')).every((x) => x.authorization?.startsWith('Bearer ')));
  t.is(p.tokenRequests.length, 1, 'token cached');
});

test('bearer tokens: wrong credentials and anonymous access are refused', async (t) => {
  const p = await proxy({ upstream: open.url, bearer: { users: { bob: 'pw' } } });
  const e = await env();
  const wrong = await t.throwsAsync(e.manager.pull(`${p.host}/test/app:v1`, { auth: auth({ username: 'bob', password: 'bad' }) }));
  t.true(isKind(wrong, 'PermissionDenied'), String(wrong));
  t.regex(wrong!.message, /wrong credentials/);
  const anon = await t.throwsAsync(e.manager.pull(`${p.host}/test/app:v1`));
  t.true(isKind(anon, 'PermissionDenied'));
  t.deepEqual(storeLeftovers(e), []);
});

test('bearer tokens: identity token (OAuth2 refresh) and a given registry token', async (t) => {
  const p = await proxy({ upstream: open.url, bearer: { refreshTokens: ['refresh-1'] } });
  const e = await env();
  t.is((await e.manager.pull(`${p.host}/test/app:v1`, { auth: auth({ identity_token: 'refresh-1' }) })).id, img.config.digest);
  const form = new URLSearchParams(p.tokenRequests[0]!.form);
  t.is(form.get('grant_type'), 'refresh_token');
  t.is(form.get('refresh_token'), 'refresh-1');
  t.is(form.get('scope'), 'repository:test/app:pull');

  await e.manager.remove(img.config.digest);
  const before = p.tokenRequests.length;
  p.tokens.add('handed-out');
  t.is((await e.manager.pull(`${p.host}/test/app:v1`, { auth: auth({ registry_token: 'handed-out' }) })).id, img.config.digest);
  t.is(p.tokenRequests.length, before, 'a registry token is used as is');
});

test('blob redirects are followed without sending registry credentials to the blob store', async (t) => {
  const p = await proxy({
    upstream: open.url,
    bearer: { anonymous: true },
    fault: ({ method, path }) => (method === 'GET' && path.includes('/blobs/') ? { kind: 'redirect' } : undefined),
  });
  const e = await env();
  t.is((await e.manager.pull(`${p.host}/test/app:v1`)).id, img.config.digest);
  t.true(p.requests.some((r) => r.path.startsWith('/_blobstore/')));
  t.false(p.requests.some((r) => r.path.startsWith('/_blobstore/') && r.authorization !== undefined));
});

test('mirrors: tried in order, with and without falling back to the registry', async (t) => {
  const dead = `127.0.0.1:${await freePort()}`;
  const e = await env({
    registry: {
      retryAttempts: 1,
      requestTimeoutMs: 3000,
      mirrors: {
        'registry.k8s.io': { endpoints: [`http://${dead}`, open.url], fallback: false },
        'gcr.io': { endpoints: [`http://${dead}`], fallback: false },
      },
    },
  });
  // registry.k8s.io is never contacted: the local mirror stands in for it.
  const r = await e.manager.pull('registry.k8s.io/test/app:v1');
  t.is(r.id, img.config.digest);
  t.deepEqual(r.repoTags, ['registry.k8s.io/test/app:v1']);
  const err = await t.throwsAsync(e.manager.pull('gcr.io/test/app:v1'));
  t.true(isKind(err, 'Unavailable'), String(err));
  t.regex(err!.message, new RegExp(dead.replace(/\./g, '\\.')));

  // A mirror that lacks the image, then the registry itself (here a loopback one).
  const empty = await startRegistry();
  try {
    const e2 = await env({ registry: { mirrors: { [open.host]: { endpoints: [empty.url], fallback: true } } } });
    t.is((await e2.manager.pull(`${open.host}/test/app:v1`)).id, img.config.digest);
  } finally {
    await empty.stop();
  }
});

test('transient errors are retried with backoff', async (t) => {
  let failures = 2;
  const p = await proxy({
    upstream: open.url,
    fault: ({ path }) => (path.includes('/blobs/') && failures-- > 0 ? { kind: 'status', status: 503 } : undefined),
  });
  const e = await env({ registry: { retryAttempts: 4, retryBaseDelayMs: 10 } });
  t.is((await e.manager.pull(`${p.host}/test/app:v1`)).id, img.config.digest);
  t.true(failures < 0);
});

test('TLS registries: refused without the CA, trusted with an extra CA file', async (t) => {
  const cert = selfSignedCert();
  const p = await proxy({ upstream: open.url, tls: cert });
  const dir = mkdtempSync(join(tmpdir(), 'berth-test-ca-'));
  try {
    writeFileSync(join(dir, 'ca.pem'), cert.cert);
    const https = { allowLoopbackPlainHttp: false, retryAttempts: 1 };
    const untrusted = await env({ registry: https });
    const err = await t.throwsAsync(untrusted.manager.pull(`${p.host}/test/app:v1`));
    t.true(isKind(err, 'Unavailable'), String(err));
    t.regex(err!.message, /certificate/);
    t.deepEqual(storeLeftovers(untrusted), []);

    const perHost = await env({ registry: { ...https, hosts: { [p.host]: { caFiles: [join(dir, 'ca.pem')], skipVerify: false } } } });
    t.is((await perHost.manager.pull(`${p.host}/test/app:v1`)).id, img.config.digest);
    const global = await env({ registry: { ...https, caFiles: [join(dir, 'ca.pem')] } });
    t.is((await global.manager.pull(`${p.host}/test/app:v1`)).id, img.config.digest);
    const skip = await env({ registry: { ...https, hosts: { [p.host]: { caFiles: [], skipVerify: true } } } });
    t.is((await skip.manager.pull(`${p.host}/test/app:v1`)).id, img.config.digest);
    // Plain HTTP to a TLS-only host is not attempted unless configured.
    const listedInsecure = await env({ registry: { insecure: [p.host], retryAttempts: 1 } });
    t.truthy(await t.throwsAsync(listedInsecure.manager.pull(`${p.host}/test/app:v1`)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a download cut off mid-way resumes with a Range request', async (t) => {
  const big = await buildImage({ layers: [{ entries: [{ path: 'big', content: Buffer.alloc(400_000, 5) }], compression: 'none' }] });
  await pushImage(open.url, 'test/resume', 'v1', big);
  const layer = big.layers[0]!.digest;
  let cuts = 0;
  const p = await proxy({
    upstream: open.url,
    fault: ({ path, range }) => (path.endsWith(layer) && !range && cuts++ === 0 ? { kind: 'truncate', bytes: 150_000 } : undefined),
  });
  const e = await env({ registry: { retryAttempts: 3, retryBaseDelayMs: 10 } });
  t.is((await e.manager.pull(`${p.host}/test/resume:v1`)).id, big.config.digest);
  const gets = p.requests.filter((r) => r.path.endsWith(layer));
  t.is(gets.length, 2);
  t.regex(gets[1]!.range ?? '', /^bytes=\d+-$/);
  t.true(Number(/\d+/.exec(gets[1]!.range!)![0]) > 0, 'resumed after the bytes received');
});
