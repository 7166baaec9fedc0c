// The HTTP underneath the registry client: node:http(s) with keep-alive agents per TLS
// setting, redirects followed (credentials dropped when the origin changes), a timeout
// until response headers, an idle timeout on bodies, abort by AbortSignal, and a
// retry helper with exponential backoff for transient failures.
import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import https from 'node:https';
import { rootCertificates } from 'node:tls';
import { BerthError, canceled, unavailable } from '../errors.js';

export interface TlsOptions {
  /** Extra CA certificates (PEM) added to the system roots. */
  ca?: string[];
  skipVerify?: boolean;
}

export interface HttpRequest {
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: URL;
  headers?: Record<string, string>;
  body?: Buffer | string;
  signal?: AbortSignal;
  tls?: TlsOptions;
  /** Connect + time to response headers. */
  timeoutMs: number;
  /** Body inactivity limit once headers arrived. */
  idleTimeoutMs: number;
  maxRedirects?: number;
}

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** Final URL after redirects. */
  url: URL;
  body: IncomingMessage;
}

/** A failure worth retrying: connection refused/reset, timeouts, 5xx, 429. */
export class TransientError extends Error {
  constructor(
    message: string,
    readonly retryAfterMs?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'TransientError';
  }
}

const httpAgent = new http.Agent({ keepAlive: true, maxSockets: 32 });
const httpsAgents = new Map<string, https.Agent>();
function agentFor(url: URL, tls: TlsOptions | undefined): http.Agent {
  if (url.protocol === 'http:') return httpAgent;
  const key = JSON.stringify([tls?.ca ?? null, tls?.skipVerify ?? false]);
  let a = httpsAgents.get(key);
  if (!a) {
    a = new https.Agent({
      keepAlive: true,
      maxSockets: 32,
      // Passing `ca` replaces Node's bundled roots: keep them and add the configured ones.
      ...(tls?.ca ? { ca: [...rootCertificates, ...tls.ca] } : {}),
      rejectUnauthorized: !(tls?.skipVerify ?? false),
    });
    httpsAgents.set(key, a);
  }
  return a;
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'ENOTFOUND',
  'ECONNABORTED',
  'UND_ERR_SOCKET',
]);

function abortError(signal: AbortSignal | undefined): BerthError {
  const reason = signal?.reason;
  if (reason instanceof BerthError) return reason;
  return canceled('the pull was cancelled');
}

function once(req: HttpRequest, url: URL, headers: Record<string, string>): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    if (req.signal?.aborted) return reject(abortError(req.signal));
    const mod = url.protocol === 'https:' ? https : http;
    const r = mod.request(url, {
      method: req.method,
      headers,
      agent: agentFor(url, url.protocol === 'https:' ? req.tls : undefined),
    });
    let settled = false;
    const timer = setTimeout(() => {
      r.destroy(new TransientError(`${req.method} ${url.origin}${url.pathname}: no response within ${req.timeoutMs} ms`));
    }, req.timeoutMs);
    const onAbort = () => r.destroy(abortError(req.signal));
    req.signal?.addEventListener('abort', onAbort, { once: true });
    const cleanup = () => {
      clearTimeout(timer);
      req.signal?.removeEventListener('abort', onAbort);
    };
    r.on('response', (res) => {
      settled = true;
      cleanup();
      // From here on the body's consumer owns the stream; abort and idle still end it.
      const onBodyAbort = () => res.destroy(abortError(req.signal));
      req.signal?.addEventListener('abort', onBodyAbort, { once: true });
      res.on('close', () => req.signal?.removeEventListener('abort', onBodyAbort));
      res.setTimeout(req.idleTimeoutMs, () => {
        res.destroy(new TransientError(`${req.method} ${url.origin}${url.pathname}: no data for ${req.idleTimeoutMs} ms`));
      });
      resolve(res);
    });
    r.on('error', (err: NodeJS.ErrnoException) => {
      cleanup();
      if (settled) return;
      settled = true;
      if (req.signal?.aborted) return reject(abortError(req.signal));
      if (err instanceof TransientError || err instanceof BerthError) return reject(err);
      if (err.code && NETWORK_CODES.has(err.code)) {
        return reject(new TransientError(`${req.method} ${url.origin}: ${err.code} ${err.message}`, undefined, { cause: err }));
      }
      reject(unavailable(`${req.method} ${url.origin}${url.pathname}: ${err.message}`, err));
    });
    r.end(req.body);
  });
}

/** Sends a request, following redirects. The caller must consume or destroy `body`. */
export async function httpRequest(req: HttpRequest): Promise<HttpResponse> {
  let url = req.url;
  let headers: Record<string, string> = { 'user-agent': 'berth/0.1', ...(req.headers ?? {}) };
  let method = req.method;
  const max = req.maxRedirects ?? 10;
  for (let hop = 0; ; hop++) {
    const res = await once({ ...req, method }, url, headers);
    const status = res.statusCode ?? 0;
    if ([301, 302, 303, 307, 308].includes(status) && res.headers.location) {
      res.resume();
      if (hop >= max) throw unavailable(`${req.method} ${req.url.href}: more than ${max} redirects`);
      const next = new URL(res.headers.location, url);
      if (next.origin !== url.origin) {
        // Blob storage (S3, CDNs) authenticates with the signed URL; never leak registry credentials.
        const { authorization: _drop, ...rest } = headers;
        headers = rest;
      }
      if (status === 303) method = 'GET';
      url = next;
      continue;
    }
    return { status, headers: res.headers, url, body: res };
  }
}

/** Reads a whole (small) body, refusing more than `limit` bytes. */
export async function readBody(res: HttpResponse, limit: number): Promise<Buffer> {
  const len = Number(res.headers['content-length'] ?? NaN);
  if (len > limit) {
    res.body.destroy();
    throw unavailable(`response from ${res.url.origin}${res.url.pathname} is ${len} bytes, more than the ${limit} allowed`);
  }
  const chunks: Buffer[] = [];
  let n = 0;
  try {
    for await (const c of res.body) {
      n += (c as Buffer).length;
      if (n > limit) {
        res.body.destroy();
        throw unavailable(`response from ${res.url.origin}${res.url.pathname} is more than the ${limit} bytes allowed`);
      }
      chunks.push(c as Buffer);
    }
  } catch (e) {
    throw asTransient(e);
  }
  return Buffer.concat(chunks);
}

/** Errors from reading a body mid-way (reset, premature close) are transient. */
export function asTransient(e: unknown): unknown {
  if (e instanceof BerthError || e instanceof TransientError) return e;
  const code = (e as NodeJS.ErrnoException)?.code;
  if (code === 'ABORT_ERR') return e;
  if (code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE' || (code && NETWORK_CODES.has(code)) || (e as Error)?.message === 'aborted') {
    return new TransientError(`connection lost: ${(e as Error).message}`, undefined, { cause: e });
  }
  return e;
}

export function retryAfterMs(headers: IncomingHttpHeaders): number | undefined {
  const v = headers['retry-after'];
  if (!v) return undefined;
  const s = Number(v);
  if (Number.isFinite(s)) return Math.min(s * 1000, 30_000);
  const t = Date.parse(v);
  return Number.isFinite(t) ? Math.min(Math.max(0, t - Date.now()), 30_000) : undefined;
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal));
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(abortError(signal));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export interface RetryPolicy {
  attempts: number;
  baseDelayMs: number;
  onRetry?: (err: TransientError, attempt: number, delayMs: number) => void;
}

/** Runs `fn` again on TransientError with exponential backoff and jitter; a last
 *  transient failure becomes `unavailable`. */
export async function withRetry<T>(what: string, policy: RetryPolicy, signal: AbortSignal | undefined, fn: (attempt: number) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (e) {
      const err = asTransient(e);
      if (signal?.aborted) throw abortError(signal);
      if (!(err instanceof TransientError)) throw err;
      if (attempt >= policy.attempts) throw unavailable(`${what}: ${err.message} (after ${attempt} attempts)`, err);
      const backoff = Math.min(10_000, policy.baseDelayMs * 2 ** (attempt - 1));
      const delay = err.retryAfterMs ?? Math.round(backoff / 2 + Math.random() * (backoff / 2));
      policy.onRetry?.(err, attempt, delay);
      await sleep(delay, signal);
    }
  }
}

export { abortError };
