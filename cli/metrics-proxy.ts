// `berth metrics-proxy`: the Helm chart's scrape target for berthd's metrics. berthd serves
// /metrics on loopback only (127.0.0.1:9464) and knows nothing of Kubernetes; this proxy
// runs unprivileged in the installer pod (hostNetwork), serves HTTPS on the node's
// address, and forwards a scrape only when the caller's bearer token is authenticated by a
// TokenReview and authorised by a SubjectAccessReview (verb get on the metrics path as a
// non-resource URL), as kubelet and kube-rbac-proxy check theirs. Answers are cached per
// token for a while so a scrape every 30 s costs the API server nothing new.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { request as httpsRequest, createServer as createHttpsServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';

/** Who a token belongs to and whether they may read the metrics. */
export interface Review {
  authenticated: boolean;
  allowed: boolean;
  user?: string;
  reason?: string;
}

export interface TokenReviewer {
  review(token: string): Promise<Review>;
}

export interface KubeApiOptions {
  /** https://host:port of the API server (or http://… in tests). */
  baseUrl: string;
  /** The proxy's own credentials, read per call: projected ServiceAccount tokens rotate. */
  token: () => Promise<string>;
  /** CA bundle of the API server. */
  ca?: Buffer;
  timeoutMs?: number;
}

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** The API server as a pod sees it: KUBERNETES_SERVICE_HOST/PORT, its ServiceAccount token and CA. */
export async function inClusterApi(env: NodeJS.ProcessEnv = process.env, who = 'metrics-proxy'): Promise<KubeApiOptions> {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT ?? '443';
  if (!host) throw new Error(`${who}: not in a pod (KUBERNETES_SERVICE_HOST is not set)`);
  const ca = await readFile(`${SA_DIR}/ca.crt`);
  return {
    baseUrl: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    token: async () => (await readFile(`${SA_DIR}/token`, 'utf8')).trim(),
    ca,
  };
}

async function postJson(api: KubeApiOptions, path: string, body: unknown): Promise<Record<string, any>> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const url = new URL(path, api.baseUrl);
  const payload = Buffer.from(JSON.stringify(body));
  const token = await api.token();
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(
      url,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json', authorization: `Bearer ${token}`, 'content-length': payload.length },
        ...(api.ca ? { ca: api.ca } : {}),
        timeout: api.timeoutMs ?? 5000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if ((res.statusCode ?? 500) >= 300) return reject(new Error(`${path}: HTTP ${res.statusCode}: ${text.slice(0, 200)}`));
          try {
            resolve(JSON.parse(text));
          } catch {
            reject(new Error(`${path}: the API server's answer is not JSON`));
          }
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${path}: no answer in ${api.timeoutMs ?? 5000} ms`)));
    req.on('error', reject);
    req.end(payload);
  });
}

/** TokenReview, then SubjectAccessReview for `get` on the non-resource URL `path`. */
export function kubeTokenReviewer(api: KubeApiOptions, path: string): TokenReviewer {
  return {
    async review(token) {
      const tr = await postJson(api, '/apis/authentication.k8s.io/v1/tokenreviews', {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenReview',
        spec: { token },
      });
      const st = tr.status ?? {};
      if (!st.authenticated) return { authenticated: false, allowed: false, reason: st.error || 'token not authenticated' };
      const user = st.user ?? {};
      const sar = await postJson(api, '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: {
          user: user.username,
          uid: user.uid,
          groups: user.groups ?? [],
          extra: user.extra ?? {},
          nonResourceAttributes: { path, verb: 'get' },
        },
      });
      const allowed = sar.status?.allowed === true;
      return { authenticated: true, allowed, user: user.username, reason: allowed ? undefined : sar.status?.reason || `not allowed to get ${path}` };
    },
  };
}

/** Caches a reviewer's answers per token (by hash) for `ttlMs`; errors are not cached. At most `max` entries. */
export function cachedReviewer(inner: TokenReviewer, ttlMs: number, max = 1000, now: () => number = Date.now): TokenReviewer {
  const cache = new Map<string, { until: number; review: Review }>();
  return {
    async review(token) {
      if (ttlMs <= 0) return inner.review(token);
      const key = createHash('sha256').update(token).digest('hex');
      const hit = cache.get(key);
      if (hit && hit.until > now()) return hit.review;
      const review = await inner.review(token);
      cache.delete(key);
      if (cache.size >= max) cache.delete(cache.keys().next().value!);
      cache.set(key, { until: now() + ttlMs, review });
      return review;
    },
  };
}

export interface ProxyOptions {
  host: string;
  port: number;
  /** berthd's endpoint, e.g. http://127.0.0.1:9464/metrics. */
  upstream: URL;
  /** The only path served (and the non-resource URL authorised). */
  path: string;
  cert: Buffer;
  key: Buffer;
  reviewer: TokenReviewer;
  upstreamTimeoutMs?: number;
  log?: (msg: string, fields?: Record<string, unknown>) => void;
}

export interface MetricsProxy {
  readonly port: number;
  close(): Promise<void>;
}

function deny(res: ServerResponse, code: number, text: string, extra: Record<string, string> = {}): void {
  res.writeHead(code, { 'content-type': 'text/plain; charset=utf-8', ...extra });
  res.end(text + '\n');
}

/** Parses `--listen HOST:PORT` (IPv6 in brackets). */
export function parseListen(value: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(value);
  const port = m ? Number(m[3]) : NaN;
  if (!m || !(port > 0 && port < 65536)) throw new Error(`metrics-proxy: --listen ${JSON.stringify(value)} is not HOST:PORT`);
  return { host: m[1] ?? m[2] ?? '', port };
}

export async function startMetricsProxy(opts: ProxyOptions): Promise<MetricsProxy> {
  const log = opts.log ?? (() => undefined);
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'https://proxy').pathname;
    if (path !== opts.path) return deny(res, 404, `not found: only ${opts.path} is served`);
    if (req.method !== 'GET' && req.method !== 'HEAD') return deny(res, 405, 'method not allowed', { allow: 'GET, HEAD' });
    const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
    if (!m) return deny(res, 401, 'unauthorized: a bearer token is required', { 'www-authenticate': 'Bearer realm="berth metrics"' });
    let review: Review;
    try {
      review = await opts.reviewer.review(m[1]!);
    } catch (e) {
      log('cannot review a token', { error: (e as Error).message });
      return deny(res, 503, `cannot check the token with the API server: ${(e as Error).message}`);
    }
    if (!review.authenticated) return deny(res, 401, `unauthorized: ${review.reason ?? 'token not authenticated'}`, { 'www-authenticate': 'Bearer realm="berth metrics"' });
    if (!review.allowed) return deny(res, 403, `forbidden: ${review.user ?? 'this user'} may not get ${opts.path}${review.reason ? ` (${review.reason})` : ''}`);
    const headers: Record<string, string> = {};
    for (const h of ['accept', 'accept-encoding'] as const) if (req.headers[h]) headers[h] = String(req.headers[h]);
    const up = httpRequest(opts.upstream, { method: req.method, headers, timeout: opts.upstreamTimeoutMs ?? 30_000 }, (ures) => {
      const out: Record<string, string> = {};
      for (const h of ['content-type', 'content-encoding', 'content-length'] as const) if (ures.headers[h]) out[h] = String(ures.headers[h]);
      res.writeHead(ures.statusCode ?? 502, out);
      ures.pipe(res);
      ures.on('error', () => res.destroy());
    });
    up.on('timeout', () => up.destroy(new Error('berthd did not answer in time')));
    up.on('error', (e) => {
      if (res.headersSent) return res.destroy();
      deny(res, 502, `berthd's metrics endpoint ${opts.upstream.href} is unavailable: ${e.message}`);
    });
    req.on('close', () => {
      if (!res.writableEnded) up.destroy();
    });
    up.end();
  };
  const server: Server = createHttpsServer({ cert: opts.cert, key: opts.key }, (req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (!res.headersSent) deny(res, 500, `internal error: ${(e as Error).message}`);
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  log('metrics proxy serving', { listen: `${opts.host}:${(server.address() as AddressInfo).port}`, upstream: opts.upstream.href });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
