// Registry authentication: credentials from the CRI AuthConfig (or config.toml), the
// WWW-Authenticate challenge (Basic or Bearer with realm/service/scope), and tokens
// from the realm (anonymous, basic, OAuth2 refresh token, or a given registry token).
import type { AuthConfig__Output } from '../../wire/cri/generated/runtime/v1/AuthConfig.js';
import { BerthError, invalidArgument, unavailable } from '../errors.js';
import { httpRequest, readBody, retryAfterMs, TransientError, type TlsOptions } from './http.js';

export interface Credentials {
  username?: string;
  password?: string;
  /** OAuth2 refresh token (`identity_token`), exchanged at the realm for access tokens. */
  identityToken?: string;
  /** A bearer token to send as is (`registry_token`). */
  registryToken?: string;
}

export function permissionDenied(msg: string): BerthError {
  return new BerthError('PermissionDenied', msg);
}

/** Credentials from a CRI AuthConfig; `auth` is base64("user:password"). */
export function credentialsFromAuthConfig(a: AuthConfig__Output | null | undefined): Credentials | undefined {
  if (!a) return undefined;
  const c: Credentials = {};
  if (a.username || a.password) {
    c.username = a.username;
    c.password = a.password;
  } else if (a.auth) {
    const decoded = Buffer.from(a.auth, 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    if (i < 0) throw invalidArgument('auth config: `auth` must be base64 of "username:password"');
    c.username = decoded.slice(0, i);
    c.password = decoded.slice(i + 1);
  }
  if (a.identity_token) c.identityToken = a.identity_token;
  if (a.registry_token) c.registryToken = a.registry_token;
  return Object.keys(c).length > 0 ? c : undefined;
}

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parses a WWW-Authenticate header (RFC 7235): one or more `scheme k=v, k="v"` challenges. */
export function parseChallenges(header: string | undefined): Challenge[] {
  if (!header) return [];
  const out: Challenge[] = [];
  let i = 0;
  const s = header;
  const skipWs = () => {
    while (i < s.length && (s[i] === ' ' || s[i] === '\t' || s[i] === ',')) i++;
  };
  const token = () => {
    const m = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+/.exec(s.slice(i));
    if (!m) return '';
    i += m[0].length;
    return m[0];
  };
  while (i < s.length) {
    skipWs();
    const scheme = token();
    if (!scheme) break;
    const params: Record<string, string> = {};
    for (;;) {
      while (i < s.length && (s[i] === ' ' || s[i] === '\t')) i++;
      const save = i;
      const key = token();
      while (i < s.length && s[i] === ' ') i++;
      if (!key || s[i] !== '=') {
        i = save; // the next challenge's scheme
        break;
      }
      i++;
      while (i < s.length && s[i] === ' ') i++;
      let value = '';
      if (s[i] === '"') {
        i++;
        while (i < s.length && s[i] !== '"') {
          if (s[i] === '\\' && i + 1 < s.length) i++;
          value += s[i++];
        }
        i++;
      } else {
        value = token();
      }
      params[key.toLowerCase()] = value;
      while (i < s.length && (s[i] === ' ' || s[i] === '\t')) i++;
      if (s[i] === ',') i++;
      else break;
    }
    out.push({ scheme: scheme.toLowerCase(), params });
  }
  return out;
}

export interface TokenRequest {
  realm: string;
  service?: string;
  scopes: string[];
  credentials?: Credentials;
  tls?: TlsOptions;
  signal?: AbortSignal;
  timeoutMs: number;
}

export interface Token {
  token: string;
  expiresAt: number;
}

/** Fetches a bearer token from the challenge's realm. */
export async function fetchToken(r: TokenRequest): Promise<Token> {
  let realm: URL;
  try {
    realm = new URL(r.realm);
  } catch {
    throw unavailable(`registry sent an invalid token realm ${JSON.stringify(r.realm)}`);
  }
  const c = r.credentials;
  const common = { signal: r.signal, tls: r.tls, timeoutMs: r.timeoutMs, idleTimeoutMs: r.timeoutMs } as const;
  let res;
  if (c?.identityToken) {
    // OAuth2 refresh-token grant (Docker's identity tokens).
    const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: c.identityToken, client_id: 'berth' });
    if (r.service) form.set('service', r.service);
    if (r.scopes.length) form.set('scope', r.scopes.join(' '));
    res = await httpRequest({
      ...common,
      method: 'POST',
      url: realm,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form.toString(),
    });
  } else {
    const url = new URL(realm);
    if (r.service) url.searchParams.set('service', r.service);
    for (const s of r.scopes) url.searchParams.append('scope', s);
    const headers: Record<string, string> = {};
    if (c?.username !== undefined) {
      headers.authorization = `Basic ${Buffer.from(`${c.username}:${c.password ?? ''}`).toString('base64')}`;
    }
    res = await httpRequest({ ...common, method: 'GET', url, headers });
  }
  const body = await readBody(res, 1 << 20);
  if (res.status === 401 || res.status === 403) {
    throw permissionDenied(
      `authentication at ${realm.origin} failed (HTTP ${res.status})${c ? ': wrong credentials?' : ': the registry requires credentials'}`,
    );
  }
  if (res.status === 429 || res.status >= 500) {
    throw new TransientError(`token server ${realm.origin} answered HTTP ${res.status}`, retryAfterMs(res.headers));
  }
  if (res.status !== 200) throw unavailable(`token server ${realm.origin} answered HTTP ${res.status}`);
  let j: { token?: string; access_token?: string; expires_in?: number };
  try {
    j = JSON.parse(body.toString('utf8'));
  } catch {
    throw unavailable(`token server ${realm.origin} sent no JSON`);
  }
  const token = j.token ?? j.access_token;
  if (!token) throw unavailable(`token server ${realm.origin} sent no token`);
  // 60 s is the distribution spec's default lifetime; renew a little early.
  const ttl = Math.max(10, (j.expires_in ?? 60) - 5);
  return { token, expiresAt: Date.now() + ttl * 1000 };
}
