// A small HTTP front for a test registry: a bearer token server (realm, service, scope;
// basic credentials or OAuth2 refresh tokens at the realm), and fault injection
// (status codes, corrupted or truncated bodies, cross-origin blob redirects, delays).
// Listens on 127.0.0.1 with a free port; stop() closes it.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type Fault =
  | { kind: 'status'; status: number; body?: string; headers?: Record<string, string> }
  | { kind: 'corrupt' }
  | { kind: 'truncate'; bytes: number }
  | { kind: 'redirect' }
  | { kind: 'delay'; ms: number }
  /** The body in `chunk`-byte pieces, one every `everyMs` ms (a slow link: pulls show progress, can be cancelled mid-body). */
  | { kind: 'trickle'; chunk: number; everyMs: number }
  | { kind: 'replace'; body: Buffer; contentType?: string };

export interface BearerOptions {
  /** Users allowed at the token endpoint (basic auth). */
  users?: Record<string, string>;
  /** OAuth2 refresh tokens (CRI identity_token) accepted at the token endpoint. */
  refreshTokens?: string[];
  /** Tokens issued without credentials. Default false. */
  anonymous?: boolean;
  tokenTtlSeconds?: number;
  service?: string;
}

export interface ProxyOptions {
  upstream: string;
  /** Serve HTTPS with this key and certificate (PEM). */
  tls?: { key: string; cert: string };
  bearer?: BearerOptions;
  fault?: (req: { method: string; path: string; range?: string }) => Fault | undefined;
}

export interface ProxyRequest {
  method: string;
  path: string;
  authorization?: string;
  range?: string;
}

export interface TestProxy {
  host: string;
  url: string;
  requests: ProxyRequest[];
  tokenRequests: { query: string; authorization?: string; form?: string }[];
  /** Tokens handed out (a test may add one to stand for a CRI registry_token). */
  tokens: Set<string>;
  /** Blob GETs being answered now, and the most there ever were at once. */
  blobGets: { now: number; max: number };
  stop(): Promise<void>;
}

function forward(upstream: string, req: IncomingMessage, path: string, body: Buffer): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const { authorization: _a, host: _h, ...headers } = req.headers;
    const r = http.request(new URL(path, upstream), { method: req.method, headers }, resolve);
    r.on('error', reject);
    r.end(body);
  });
}

async function readAll(s: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export async function startProxy(opts: ProxyOptions): Promise<TestProxy> {
  const requests: ProxyRequest[] = [];
  const tokenRequests: TestProxy['tokenRequests'] = [];
  const tokens = new Set<string>();
  let origin = '';
  let port = 0;
  const service = opts.bearer?.service ?? 'berth-test-registry';

  const blobGets = { now: 0, max: 0 };
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (req.method === 'GET' && /^\/v2\/.+\/blobs\//.test(url.pathname)) {
      blobGets.now++;
      blobGets.max = Math.max(blobGets.max, blobGets.now);
      res.once('close', () => blobGets.now--);
    }
    const body = await readAll(req);
    requests.push({
      method: req.method ?? '',
      path: url.pathname,
      ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
      ...(req.headers.range ? { range: req.headers.range } : {}),
    });

    if (url.pathname === '/token') {
      const auth = req.headers.authorization;
      tokenRequests.push({ query: url.search, ...(auth ? { authorization: auth } : {}), ...(req.method === 'POST' ? { form: body.toString() } : {}) });
      const b = opts.bearer ?? {};
      let ok = b.anonymous ?? false;
      if (req.method === 'POST') {
        const form = new URLSearchParams(body.toString());
        ok = form.get('grant_type') === 'refresh_token' && (b.refreshTokens ?? []).includes(form.get('refresh_token') ?? '');
      } else if (auth?.startsWith('Basic ')) {
        const [u, ...p] = Buffer.from(auth.slice(6), 'base64').toString().split(':');
        ok = b.users !== undefined && b.users[u!] === p.join(':');
      }
      if (!ok) {
        res.writeHead(401, { 'content-type': 'application/json' });
        return res.end(JSON.stringify({ details: 'incorrect username or password' }));
      }
      const token = randomBytes(16).toString('hex');
      tokens.add(token);
      res.writeHead(200, { 'content-type': 'application/json' });
      const key = req.method === 'POST' ? 'access_token' : 'token';
      return res.end(JSON.stringify({ [key]: token, expires_in: b.tokenTtlSeconds ?? 300 }));
    }

    if (url.pathname.startsWith('/_blobstore/')) {
      // Stands for S3 or a CDN: another origin that must not receive registry credentials.
      if (req.headers.authorization) {
        res.writeHead(400);
        return res.end('blob store got registry credentials');
      }
      const up = await forward(opts.upstream, req, `/v2/${url.pathname.slice('/_blobstore/'.length)}`, body);
      res.writeHead(up.statusCode ?? 502, up.headers);
      return up.pipe(res);
    }

    if (opts.bearer && url.pathname.startsWith('/v2/')) {
      const auth = req.headers.authorization ?? '';
      if (!(auth.startsWith('Bearer ') && tokens.has(auth.slice(7)))) {
        const m = /^\/v2\/(.+)\/(manifests|blobs|tags)\//.exec(url.pathname);
        const scope = m ? `,scope="repository:${m[1]}:pull"` : '';
        res.writeHead(401, { 'www-authenticate': `Bearer realm="${origin}/token",service="${service}"${scope}`, 'content-type': 'application/json' });
        return res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }));
      }
    }

    const fault = opts.fault?.({ method: req.method ?? '', path: url.pathname, ...(req.headers.range ? { range: req.headers.range } : {}) });
    if (fault?.kind === 'status') {
      res.writeHead(fault.status, fault.headers ?? {});
      return res.end(fault.body ?? '');
    }
    if (fault?.kind === 'redirect') {
      res.writeHead(307, { location: `http://localhost:${port}/_blobstore/${url.pathname.slice(4)}` });
      return res.end();
    }
    if (fault?.kind === 'delay') await new Promise((r) => setTimeout(r, fault.ms));
    if (fault?.kind === 'replace') {
      res.writeHead(200, { 'content-type': fault.contentType ?? 'application/octet-stream', 'content-length': String(fault.body.length) });
      return res.end(fault.body);
    }
    const up = await forward(opts.upstream, req, url.pathname + url.search, body);
    if (fault?.kind === 'trickle') {
      const data = await readAll(up);
      res.writeHead(up.statusCode ?? 502, { ...up.headers, 'content-length': String(data.length) });
      for (let i = 0; i < data.length && !res.destroyed; i += fault.chunk) {
        res.write(data.subarray(i, i + fault.chunk));
        await new Promise((r) => setTimeout(r, fault.everyMs));
      }
      return res.end();
    }
    if (fault?.kind === 'corrupt' || fault?.kind === 'truncate') {
      const data = await readAll(up);
      if (fault.kind === 'corrupt') {
        if (data.length) data[data.length - 1] ^= 0xff;
        res.writeHead(up.statusCode ?? 502, up.headers);
        return res.end(data);
      }
      res.writeHead(up.statusCode ?? 502, { ...up.headers, 'content-length': String(data.length) });
      res.write(data.subarray(0, fault.bytes));
      // Close mid-body: the client sees fewer bytes than Content-Length promised.
      setTimeout(() => res.socket?.destroy(), 10);
      return;
    }
    res.writeHead(up.statusCode ?? 502, up.headers);
    up.pipe(res);
  };

  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch((e) => {
      if (!res.headersSent) res.writeHead(502);
      res.end(String(e));
    });
  };
  const server = opts.tls ? https.createServer({ key: opts.tls.key, cert: opts.tls.cert }, onRequest) : http.createServer(onRequest);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  port = (server.address() as { port: number }).port;
  origin = `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  return {
    host: `127.0.0.1:${port}`,
    url: origin,
    requests,
    tokenRequests,
    tokens,
    blobGets,
    stop: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** A throwaway self-signed certificate for 127.0.0.1 and localhost (openssl). */
export function selfSignedCert(): { key: string; cert: string } {
  const dir = mkdtempSync(join(tmpdir(), 'berth-test-cert-'));
  try {
    const r = spawnSync(
      'openssl',
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
        '-days', '1', '-subj', '/CN=berth-test', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'],
      { encoding: 'utf8' },
    );
    if (r.status !== 0) throw new Error(`openssl: ${r.stderr}`);
    return { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert: readFileSync(join(dir, 'cert.pem'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
