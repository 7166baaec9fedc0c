// Covers cli/metrics-proxy.ts, the chart's scrape target: over real HTTPS on loopback, with
// a stand-in Kubernetes API (TokenReview and SubjectAccessReview endpoints) and a stand-in
// berthd metrics endpoint, both HTTP servers this test starts: an authorised token gets
// berthd's answer (body, content type), the reviews carry the right user and non-resource
// URL and the proxy's own credentials, answers are cached per token (errors are not),
// and missing, unknown and unauthorised tokens, other paths and methods, an API failure
// and berthd being down get 401/403/404/405/503/502. Also the cache and --listen parsing.
import test from 'ava';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { request } from 'node:https';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import type { AddressInfo } from 'node:net';
import { run } from '../../server/exec.js';
import { cachedReviewer, kubeTokenReviewer, parseListen, startMetricsProxy, type MetricsProxy, type Review } from '../../cli/metrics-proxy.js';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const METRICS = '# HELP berth_runtime_ready Whether the runtime is ready.\n# TYPE berth_runtime_ready gauge\nberth_runtime_ready 1\n';

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

function body(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString()));
  });
}

interface Env {
  proxy: MetricsProxy;
  ca: Buffer;
  apiCalls: { path: string; auth: string; body: Obj }[];
  closeUpstream: () => Promise<void>;
  cleanup: () => Promise<void>;
}

async function setup(): Promise<Env> {
  const dir = mkdtempSync(join(tmpdir(), 'berth-proxy-'));
  // A self-signed certificate for 127.0.0.1, as the chart's generated one is for its service name.
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=berth-test', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')]);
  const cert = readFileSync(join(dir, 'cert.pem'));
  const key = readFileSync(join(dir, 'key.pem'));
  const apiCalls: Env['apiCalls'] = [];
  const api = createServer(async (req, res) => {
    const b = JSON.parse(await body(req)) as Obj;
    apiCalls.push({ path: req.url!, auth: req.headers.authorization ?? '', body: b });
    const reply = (code: number, o: unknown) => {
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(JSON.stringify(o));
    };
    if (req.url === '/apis/authentication.k8s.io/v1/tokenreviews') {
      const token = b.spec.token as string;
      if (token === 'boom') return reply(500, { message: 'etcd is having a day' });
      if (token === 'scraper' || token === 'nobody') {
        return reply(201, { ...b, status: { authenticated: true, user: { username: `system:serviceaccount:monitoring:${token}`, uid: `uid-${token}`, groups: ['system:serviceaccounts'] } } });
      }
      return reply(201, { ...b, status: { authenticated: false, error: 'invalid bearer token' } });
    }
    if (req.url === '/apis/authorization.k8s.io/v1/subjectaccessreviews') {
      const allowed = b.spec.user === 'system:serviceaccount:monitoring:scraper' && b.spec.nonResourceAttributes?.path === '/metrics' && b.spec.nonResourceAttributes?.verb === 'get';
      return reply(201, { ...b, status: { allowed, ...(allowed ? {} : { reason: 'no RBAC policy matched' }) } });
    }
    reply(404, {});
  });
  const upstream = createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404);
      return res.end();
    }
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
    res.end(METRICS);
  });
  const apiPort = await listen(api);
  const upPort = await listen(upstream);
  const reviewer = cachedReviewer(kubeTokenReviewer({ baseUrl: `http://127.0.0.1:${apiPort}`, token: async () => 'proxy-own-token' }, '/metrics'), 60_000);
  const proxy = await startMetricsProxy({ host: '127.0.0.1', port: 0, upstream: new URL(`http://127.0.0.1:${upPort}/metrics`), path: '/metrics', cert, key, reviewer });
  let upstreamOpen = true;
  const closeUpstream = () =>
    new Promise<void>((r) => {
      upstreamOpen = false;
      upstream.close(() => r());
      upstream.closeAllConnections();
    });
  return {
    proxy,
    ca: cert,
    apiCalls,
    closeUpstream,
    cleanup: async () => {
      await proxy.close();
      api.closeAllConnections();
      await new Promise<void>((r) => api.close(() => r()));
      if (upstreamOpen) await closeUpstream();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function get(env: Env, opts: { path?: string; token?: string; method?: string } = {}): Promise<{ status: number; headers: Obj; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: env.proxy.port, path: opts.path ?? '/metrics', method: opts.method ?? 'GET', ca: env.ca, headers: opts.token ? { authorization: `Bearer ${opts.token}` } : {} },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text: Buffer.concat(chunks).toString() }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

test('an authorised token gets berthd metrics over verified TLS; the reviews are right and cached', async (t) => {
  const env = await setup();
  try {
    const r = await get(env, { token: 'scraper' });
    t.is(r.status, 200, r.text);
    t.is(r.text, METRICS);
    t.is(r.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
    t.deepEqual(env.apiCalls.map((c) => c.path), ['/apis/authentication.k8s.io/v1/tokenreviews', '/apis/authorization.k8s.io/v1/subjectaccessreviews']);
    for (const c of env.apiCalls) t.is(c.auth, 'Bearer proxy-own-token', 'the proxy calls the API with its own credentials');
    t.deepEqual(env.apiCalls[0]!.body.spec, { token: 'scraper' });
    t.deepEqual(env.apiCalls[1]!.body.spec, {
      user: 'system:serviceaccount:monitoring:scraper',
      uid: 'uid-scraper',
      groups: ['system:serviceaccounts'],
      extra: {},
      nonResourceAttributes: { path: '/metrics', verb: 'get' },
    });
    t.is((await get(env, { token: 'scraper' })).status, 200);
    t.is(env.apiCalls.length, 2, 'the second scrape is answered from the cache');
  } finally {
    await env.cleanup();
  }
});

test('missing, unknown and unauthorised tokens are refused; API failures are not cached', async (t) => {
  const env = await setup();
  try {
    const none = await get(env);
    t.is(none.status, 401);
    t.is(none.headers['www-authenticate'], 'Bearer realm="berth metrics"');
    t.is(env.apiCalls.length, 0, 'no token, no API call');
    const unknown = await get(env, { token: 'forged' });
    t.is(unknown.status, 401);
    t.regex(unknown.text, /invalid bearer token/);
    const nobody = await get(env, { token: 'nobody' });
    t.is(nobody.status, 403);
    t.regex(nobody.text, /system:serviceaccount:monitoring:nobody may not get \/metrics \(no RBAC policy matched\)/);
    t.false(nobody.text.includes(METRICS));
    const before = env.apiCalls.length;
    t.is((await get(env, { token: 'boom' })).status, 503);
    t.is((await get(env, { token: 'boom' })).status, 503);
    t.is(env.apiCalls.length, before + 2, 'a failed review is asked again next time');
  } finally {
    await env.cleanup();
  }
});

test('only GET/HEAD of the metrics path is served; berthd down is a 502', async (t) => {
  const env = await setup();
  try {
    t.is((await get(env, { path: '/debug/pprof', token: 'scraper' })).status, 404);
    t.is((await get(env, { path: '/metrics', token: 'scraper', method: 'POST' })).status, 405);
    const head = await get(env, { token: 'scraper', method: 'HEAD' });
    t.is(head.status, 200);
    t.is(head.text, '');
    await env.closeUpstream();
    const down = await get(env, { token: 'scraper' });
    t.is(down.status, 502);
    t.regex(down.text, /berthd's metrics endpoint http:\/\/127\.0\.0\.1:\d+\/metrics is unavailable/);
  } finally {
    await env.cleanup();
  }
});

test('the review cache expires, is bounded, and keys by token', async (t) => {
  let now = 1000;
  const calls: string[] = [];
  const inner = { review: async (token: string): Promise<Review> => (calls.push(token), { authenticated: true, allowed: token === 'a' }) };
  const c = cachedReviewer(inner, 60_000, 2, () => now);
  t.true((await c.review('a')).allowed);
  t.false((await c.review('b')).allowed);
  await c.review('a');
  t.deepEqual(calls, ['a', 'b']);
  now += 60_001;
  await c.review('a');
  t.deepEqual(calls, ['a', 'b', 'a'], 'expired');
  await c.review('c'); // evicts the oldest entry (b)
  await c.review('b');
  t.deepEqual(calls, ['a', 'b', 'a', 'c', 'b']);
  const uncached = cachedReviewer(inner, 0);
  await uncached.review('a');
  await uncached.review('a');
  t.is(calls.length, 7);
});

test('--listen takes HOST:PORT and [IPv6]:PORT', (t) => {
  t.deepEqual(parseListen('10.0.0.5:9465'), { host: '10.0.0.5', port: 9465 });
  t.deepEqual(parseListen('[fd00::5]:9465'), { host: 'fd00::5', port: 9465 });
  t.throws(() => parseListen('10.0.0.5'), { message: /is not HOST:PORT/ });
  t.throws(() => parseListen('10.0.0.5:0'), { message: /is not HOST:PORT/ });
  t.throws(() => parseListen('$(POD_IP):9465x'), { message: /is not HOST:PORT/ });
});
