// OCI distribution v2 client: resolves a reference to its manifest through the
// configured endpoints (mirrors in order, then the registry), fetches manifests by
// digest and opens blob streams, authenticating as each registry challenges.
import type { IncomingMessage } from 'node:http';
import { createHash } from 'node:crypto';
import { BerthError, canceled, failedPrecondition, notFound, unavailable } from '../errors.js';
import { fetchToken, parseChallenges, permissionDenied, type Challenge, type Credentials, type Token } from './auth.js';
import { sha256Digest } from './digest.js';
import { abortError, asTransient, httpRequest, readBody, retryAfterMs, sleep, TransientError, withRetry, type HttpResponse } from './http.js';
import { silentLogger, type Logger } from '../logger.js';
import { isSchema1, MANIFEST_ACCEPT, schema1Refused } from './media-types.js';
import { formatReference, validateDigest, type ImageReference } from './reference.js';
import { endpointsWithCas, type Endpoint, type RegistryConfig } from './registry-config.js';

const MAX_MANIFEST_BYTES = 4 << 20;

export interface FetchedManifest {
  digest: string;
  mediaType: string;
  body: Buffer;
}

export interface ResolveOptions {
  credentials?: Credentials;
  /** The CRI AuthConfig's server_address: credentials also go to a mirror of that name. */
  serverAddress?: string;
  signal?: AbortSignal;
}

export class RegistryClient {
  /** Bearer tokens by endpoint, realm, service, scope and credential identity. */
  readonly tokens = new Map<string, Token>();

  constructor(
    readonly config: RegistryConfig,
    readonly logger: Logger = silentLogger(),
  ) {}

  /** A session on one endpoint's repository. */
  repository(endpoint: Endpoint, path: string, credentials?: Credentials): Repository {
    return new Repository(this, endpoint, path, credentials);
  }

  /**
   * Fetches the top manifest (index or image manifest) of `ref`, trying the
   * registry's mirrors in order and then the registry itself (unless configured
   * not to). Returns the repository session that answered, for the blobs.
   */
  async resolve(ref: ImageReference, opts: ResolveOptions = {}): Promise<{ repository: Repository; manifest: FetchedManifest }> {
    const endpoints = await endpointsWithCas(this.config, ref.domain);
    const target = ref.digest ?? ref.tag ?? 'latest';
    const failures: string[] = [];
    let last: unknown;
    for (const ep of endpoints) {
      const creds = credentialsFor(this.config, ep, opts.credentials, opts.serverAddress);
      const repo = this.repository(ep, ref.path, creds);
      try {
        const manifest = await repo.getManifest(target, opts.signal);
        return { repository: repo, manifest };
      } catch (e) {
        if (opts.signal?.aborted || (e instanceof BerthError && e.kind === 'Canceled')) throw e;
        // Content problems (schema 1, digest mismatch) are not a reason to try elsewhere.
        if (e instanceof BerthError && e.kind === 'FailedPrecondition') throw e;
        last = e;
        failures.push(`${ep.scheme}://${ep.host}: ${(e as Error).message}`);
        if (ep.mirror) this.logger.warn('registry mirror failed, trying the next endpoint', { ref: formatReference(ref), mirror: ep.host, error: (e as Error).message });
      }
    }
    const why = failures.join('; ');
    if (last instanceof BerthError) throw new BerthError(last.kind, endpoints.length > 1 ? `${formatReference(ref)}: ${why}` : last.message, { cause: last });
    throw unavailable(`${formatReference(ref)}: ${why}`, last);
  }
}

function credentialsFor(cfg: RegistryConfig, ep: Endpoint, cri: Credentials | undefined, serverAddress: string | undefined): Credentials | undefined {
  const server = serverAddress?.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
  const matches = !server || server === ep.host || (server === 'docker.io' || server === 'index.docker.io' ? ep.host === 'registry-1.docker.io' : false);
  if (cri && (ep.mirror ? server === ep.host : matches)) return cri;
  const hc = cfg.hosts[ep.host];
  if (hc?.username !== undefined) return { username: hc.username, password: hc.password ?? '' };
  return undefined;
}

type AuthState = { scheme: 'basic' } | { scheme: 'bearer'; challenge: Challenge; key: string };

export class Repository {
  private auth: AuthState | undefined;

  constructor(
    readonly client: RegistryClient,
    readonly endpoint: Endpoint,
    readonly path: string,
    readonly credentials?: Credentials,
  ) {}

  get origin(): string {
    return `${this.endpoint.scheme}://${this.endpoint.host}`;
  }

  private url(kind: 'manifests' | 'blobs', ref: string): URL {
    return new URL(`${this.origin}/v2/${this.path}/${kind}/${ref}`);
  }

  private authorization(): string | undefined {
    if (!this.auth) return undefined;
    const c = this.credentials;
    if (this.auth.scheme === 'basic') {
      if (c?.username === undefined) return undefined;
      return `Basic ${Buffer.from(`${c.username}:${c.password ?? ''}`).toString('base64')}`;
    }
    if (c?.registryToken) return `Bearer ${c.registryToken}`;
    const t = this.client.tokens.get(this.auth.key);
    return t && t.expiresAt > Date.now() ? `Bearer ${t.token}` : undefined;
  }

  /** Answers a 401: learns the scheme and gets a token; false if nothing new can be tried. */
  private async authenticate(res: HttpResponse, signal: AbortSignal | undefined, round: number, sentAuth: boolean): Promise<void> {
    // Round 0 with credentials sent: a cached token may have expired, so get a fresh
    // one; a 401 after fresh credentials means they are wrong.
    const alreadySent = round > 0 && sentAuth;
    const challenges = parseChallenges(res.headers['www-authenticate'] as string | undefined);
    const bearer = challenges.find((c) => c.scheme === 'bearer');
    const basic = challenges.find((c) => c.scheme === 'basic');
    const c = this.credentials;
    const where = `${this.origin}/${this.path}`;
    if (bearer) {
      if (alreadySent) throw permissionDenied(`registry ${where} refused the token${c ? ' for these credentials' : ''}: access denied`);
      if (c?.registryToken) {
        this.auth = { scheme: 'bearer', challenge: bearer, key: '' };
        return;
      }
      const realm = bearer.params.realm;
      if (!realm) throw unavailable(`registry ${where} sent a Bearer challenge without realm`);
      const scope = bearer.params.scope ?? `repository:${this.path}:pull`;
      const who = c ? createHash('sha256').update(JSON.stringify([c.username, c.password, c.identityToken])).digest('hex') : 'anonymous';
      const key = JSON.stringify([this.endpoint.host, realm, bearer.params.service, scope, who]);
      this.auth = { scheme: 'bearer', challenge: bearer, key };
      const cached = this.client.tokens.get(key);
      if (cached && cached.expiresAt > Date.now() && !sentAuth) return;
      const cfg = this.client.config;
      const token = await withRetry(`token from ${realm}`, { attempts: cfg.retryAttempts, baseDelayMs: cfg.retryBaseDelayMs }, signal, () =>
        fetchToken({
          realm,
          ...(bearer.params.service !== undefined ? { service: bearer.params.service } : {}),
          scopes: [scope],
          ...(c ? { credentials: c } : {}),
          tls: { ...(this.endpoint.ca ? { ca: this.endpoint.ca } : {}), skipVerify: this.endpoint.skipVerify },
          ...(signal ? { signal } : {}),
          timeoutMs: cfg.requestTimeoutMs,
        }),
      );
      const now = Date.now();
      for (const [k, t] of this.client.tokens) if (t.expiresAt <= now) this.client.tokens.delete(k);
      this.client.tokens.set(key, token);
      return;
    }
    if (basic) {
      if (c?.username === undefined) throw permissionDenied(`registry ${where} requires credentials (basic auth) and none were given`);
      if (alreadySent) throw permissionDenied(`registry ${where} rejected the credentials for user ${JSON.stringify(c.username)}`);
      this.auth = { scheme: 'basic' };
      return;
    }
    throw permissionDenied(`registry ${where} answered 401 without a usable challenge`);
  }

  /** One authenticated GET (retried on transient errors), 2xx response returned. */
  private async get(url: URL, accept: string | undefined, signal: AbortSignal | undefined, what: string, extra: Record<string, string> = {}): Promise<HttpResponse> {
    const cfg = this.client.config;
    return withRetry(
      what,
      {
        attempts: cfg.retryAttempts,
        baseDelayMs: cfg.retryBaseDelayMs,
        onRetry: (err, attempt, delay) => this.client.logger.warn('registry request failed, retrying', { what, attempt, delayMs: delay, error: err.message }),
      },
      signal,
      async () => {
        for (let round = 0; ; round++) {
          const authz = this.authorization();
          const res = await httpRequest({
            method: 'GET',
            url,
            headers: { ...extra, ...(accept ? { accept } : {}), ...(authz ? { authorization: authz } : {}) },
            ...(signal ? { signal } : {}),
            tls: { ...(this.endpoint.ca ? { ca: this.endpoint.ca } : {}), skipVerify: this.endpoint.skipVerify },
            timeoutMs: cfg.requestTimeoutMs,
            idleTimeoutMs: cfg.idleTimeoutMs,
          });
          if (res.status >= 200 && res.status < 300) return res;
          const detail = await errorDetail(res);
          if (res.status === 401 && round < 2) {
            await this.authenticate(res, signal, round, authz !== undefined);
            continue;
          }
          if (res.status === 401 || res.status === 403) throw permissionDenied(`${what}: access denied by ${this.origin} (HTTP ${res.status})${detail}`);
          if (res.status === 404) throw notFound(`${what}: not found at ${this.origin}${detail}`);
          if (res.status === 429 || res.status >= 500) throw new TransientError(`${what}: HTTP ${res.status} from ${this.origin}${detail}`, retryAfterMs(res.headers));
          throw unavailable(`${what}: unexpected HTTP ${res.status} from ${this.origin}${detail}`);
        }
      },
    );
  }

  /** A manifest by tag or digest; digest-addressed manifests are verified. */
  async getManifest(reference: string, signal?: AbortSignal): Promise<FetchedManifest> {
    const what = `manifest ${this.path}${reference.includes(':') ? '@' : ':'}${reference}`;
    const body = await withRetry(what, { attempts: this.client.config.retryAttempts, baseDelayMs: this.client.config.retryBaseDelayMs }, signal, async () => {
      const res = await this.get(this.url('manifests', reference), MANIFEST_ACCEPT, signal, what);
      const bytes = await readBody(res, MAX_MANIFEST_BYTES);
      return { bytes, contentType: String(res.headers['content-type'] ?? '').split(';')[0]!.trim() };
    });
    let parsed: { mediaType?: unknown; schemaVersion?: unknown };
    try {
      parsed = JSON.parse(body.bytes.toString('utf8'));
    } catch {
      throw failedPrecondition(`${what} is not valid JSON`);
    }
    if (isSchema1(body.contentType) || parsed.schemaVersion === 1) throw schema1Refused(what);
    const mediaType = typeof parsed.mediaType === 'string' && parsed.mediaType !== '' ? parsed.mediaType : body.contentType;
    const digest = reference.includes(':') ? validateDigest(reference) : sha256Digest(body.bytes);
    if (reference.includes(':')) {
      const actual = digest.startsWith('sha256:') ? sha256Digest(body.bytes) : digest;
      if (actual !== digest) throw failedPrecondition(`${what}: content digest is ${actual}, not the requested one`);
    }
    return { digest, mediaType, body: body.bytes };
  }

  /** Opens a blob for streaming (redirects followed), from `offset` if given. `partial`
   *  says whether the registry honoured the range; if not, the body starts at 0. The
   *  caller consumes or destroys the body. */
  async openBlob(digest: string, signal?: AbortSignal, offset = 0): Promise<{ body: IncomingMessage; contentLength?: number; partial: boolean }> {
    if (signal?.aborted) throw canceled('the pull was cancelled');
    const res = await this.get(this.url('blobs', digest), undefined, signal, `blob ${this.path}@${digest}`, offset > 0 ? { range: `bytes=${offset}-` } : {});
    const len = Number(res.headers['content-length']);
    let partial = false;
    if (offset > 0 && res.status === 206) {
      const m = /^bytes (\d+)-/.exec(String(res.headers['content-range'] ?? ''));
      if (!m || Number(m[1]) !== offset) {
        res.body.destroy();
        throw unavailable(`blob ${digest}: asked for bytes from ${offset}, got range ${JSON.stringify(res.headers['content-range'])}`);
      }
      partial = true;
    }
    return { body: res.body, ...(Number.isFinite(len) ? { contentLength: len } : {}), partial };
  }

  /**
   * A blob's bytes as they arrive. A connection lost mid-way is resumed with a Range
   * request from the last byte received (or, if the registry ignores ranges, by
   * skipping what was already received), with backoff, up to the retry attempts.
   */
  async *readBlob(digest: string, signal: AbortSignal): AsyncGenerator<Buffer> {
    const cfg = this.client.config;
    let offset = 0;
    for (let attempt = 1; ; attempt++) {
      const { body, partial } = await this.openBlob(digest, signal, offset);
      let skip = partial ? 0 : offset;
      try {
        for await (const c of body) {
          let chunk = c as Buffer;
          if (skip > 0) {
            if (chunk.length <= skip) {
              skip -= chunk.length;
              continue;
            }
            chunk = chunk.subarray(skip);
            skip = 0;
          }
          offset += chunk.length;
          yield chunk;
        }
        return;
      } catch (e) {
        const err = asTransient(e);
        if (signal.aborted) throw abortError(signal);
        if (!(err instanceof TransientError)) throw err;
        if (attempt >= cfg.retryAttempts) throw unavailable(`blob ${this.path}@${digest}: ${err.message} at byte ${offset} (after ${attempt} attempts)`, err);
        const delay = Math.min(10_000, cfg.retryBaseDelayMs * 2 ** (attempt - 1));
        this.client.logger.warn('blob download interrupted, resuming', { digest, offset, attempt, delayMs: delay, error: err.message });
        await sleep(delay, signal);
      } finally {
        body.destroy();
      }
    }
  }
}

/** A short reason from a registry error body (`{"errors":[{"code","message"}]}`). */
async function errorDetail(res: HttpResponse): Promise<string> {
  try {
    const b = await readBody(res, 64 << 10);
    const j = JSON.parse(b.toString('utf8')) as { errors?: { code?: string; message?: string }[] };
    const e = j.errors?.[0];
    return e ? `: ${e.code ?? ''} ${e.message ?? ''}`.trimEnd() : '';
  } catch {
    res.body.destroy();
    return '';
  }
}
