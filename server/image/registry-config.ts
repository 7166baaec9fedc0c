// Per-registry settings (the `[images.registry]` part of config.toml) and how a
// reference's registry turns into the ordered list of endpoints a pull tries.
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { failedPrecondition, invalidArgument } from '../errors.js';
import { registryHost } from './reference.js';

export interface MirrorConfig {
  /** Endpoints tried in order before the upstream registry: `http://127.0.0.1:5000`,
   *  `https://mirror.example`, or a bare `host[:port]` (scheme chosen by the insecure /
   *  loopback rules). */
  endpoints: string[];
  /** After every mirror failed, try the registry itself. false on offline nodes. */
  fallback: boolean;
}

export interface HostConfig {
  /** Extra PEM CA files trusted for this host (in addition to the system roots and `caFiles`). */
  caFiles: string[];
  /** Do not verify the TLS certificate of this host (testing only). */
  skipVerify: boolean;
  /** Credentials used when the request carries none (the CRI AuthConfig wins). */
  username?: string;
  password?: string;
}

export interface RegistryConfig {
  /** Keyed by registry domain as it appears in normalised references:
   *  `docker.io`, `registry.k8s.io`, `127.0.0.1:5000`. */
  mirrors: Record<string, MirrorConfig>;
  /** `host[:port]` reached over plain HTTP. */
  insecure: string[];
  /** localhost, 127.0.0.0/8 and [::1] may be reached over plain HTTP without being
   *  listed, as Docker and containerd allow. */
  allowLoopbackPlainHttp: boolean;
  /** Extra PEM CA files trusted for every registry. */
  caFiles: string[];
  /** Per-host settings keyed by `host[:port]`. */
  hosts: Record<string, HostConfig>;
  /** Connect + response-header timeout of one request. */
  requestTimeoutMs: number;
  /** A body that sends nothing for this long is abandoned (and retried). */
  idleTimeoutMs: number;
  /** Attempts per request on transient errors (connection refused/reset, 5xx, 429). */
  retryAttempts: number;
  /** First backoff delay; doubles per attempt with jitter, capped at 10 s. */
  retryBaseDelayMs: number;
}

export function defaultRegistryConfig(): RegistryConfig {
  return {
    mirrors: {},
    insecure: [],
    allowLoopbackPlainHttp: true,
    caFiles: [],
    hosts: {},
    requestTimeoutMs: 30_000,
    idleTimeoutMs: 60_000,
    retryAttempts: 4,
    retryBaseDelayMs: 250,
  };
}

/** Fills defaults into a partial config (as parsed from TOML) and validates it. */
export function registryConfig(partial: Partial<RegistryConfig> = {}): RegistryConfig {
  const cfg = { ...defaultRegistryConfig(), ...partial };
  for (const [domain, m] of Object.entries(cfg.mirrors)) {
    if (!Array.isArray(m.endpoints)) throw invalidArgument(`registry mirrors for ${domain}: endpoints must be a list`);
    for (const e of m.endpoints) parseEndpoint(e);
    cfg.mirrors[domain] = { endpoints: m.endpoints, fallback: m.fallback ?? true };
  }
  for (const [h, hc] of Object.entries(cfg.hosts)) {
    cfg.hosts[h] = { ...hc, caFiles: hc.caFiles ?? [], skipVerify: hc.skipVerify ?? false };
  }
  return cfg;
}

export interface Endpoint {
  /** `host[:port]` as used in URLs and Host headers. */
  host: string;
  scheme: 'http' | 'https';
  mirror: boolean;
  /** The extra CA files configured for this host (global ones first). */
  caFiles: string[];
  /** Their PEM contents, filled in by `endpointsWithCas`; undefined = system roots only. */
  ca?: string[];
  skipVerify: boolean;
  username?: string;
  password?: string;
}

/** `localhost`, 127.0.0.0/8 or ::1, with or without a port. */
export function isLoopbackHost(hostPort: string): boolean {
  let h = hostPort;
  if (h.startsWith('[')) h = h.slice(1, h.indexOf(']'));
  else if (h.includes(':') && isIP(h) !== 6) h = h.slice(0, h.lastIndexOf(':'));
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1' || h === '0:0:0:0:0:0:0:1';
  return false;
}

function parseEndpoint(e: string): { host: string; scheme?: 'http' | 'https' } {
  const m = /^(?:(https?):\/\/)?([^/]+)\/?$/.exec(e);
  if (!m) throw invalidArgument(`invalid registry endpoint ${JSON.stringify(e)}: want [http(s)://]host[:port]`);
  return { host: m[2]!, ...(m[1] ? { scheme: m[1] as 'http' | 'https' } : {}) };
}

/** CA files read so far, by path: read once, with fs/promises, at the first pull that needs them. */
const caCache = new Map<string, Promise<string>>();
function readCa(file: string): Promise<string> {
  let pem = caCache.get(file);
  if (pem === undefined) {
    pem = readFile(file, 'utf8');
    caCache.set(file, pem);
    // A failed read is not cached: the operator may fix the file and retry the pull.
    pem.catch(() => caCache.delete(file));
  }
  return pem;
}

function endpoint(cfg: RegistryConfig, host: string, scheme: 'http' | 'https' | undefined, mirror: boolean): Endpoint {
  const plain = cfg.insecure.includes(host) || (cfg.allowLoopbackPlainHttp && isLoopbackHost(host));
  const hc = cfg.hosts[host];
  const caFiles = [...cfg.caFiles, ...(hc?.caFiles ?? [])];
  return {
    host,
    scheme: scheme ?? (plain ? 'http' : 'https'),
    mirror,
    caFiles,
    skipVerify: hc?.skipVerify ?? false,
    ...(hc?.username !== undefined ? { username: hc.username } : {}),
    ...(hc?.password !== undefined ? { password: hc.password } : {}),
  };
}

/** The endpoints to try, in order, for a reference's registry domain. */
export function endpointsFor(cfg: RegistryConfig, domain: string): Endpoint[] {
  const out: Endpoint[] = [];
  const m = cfg.mirrors[domain];
  for (const e of m?.endpoints ?? []) {
    const p = parseEndpoint(e);
    // An explicit http:// mirror is the operator's decision: it is used as written.
    out.push(endpoint(cfg, p.host, p.scheme, true));
  }
  if (!m || m.fallback || m.endpoints.length === 0) out.push(endpoint(cfg, registryHost(domain), undefined, false));
  return out;
}

/**
 * The `[image.registry]` table of config.toml (snake_case, as parsed by a TOML reader)
 * into a RegistryConfig with defaults filled. Unknown keys and wrong types are
 * invalidArgument naming the key.
 *
 *   [image.registry]
 *   insecure = ["myreg.lan:5000"]          # plain HTTP
 *   allow_loopback_plain_http = true
 *   ca_files = ["/etc/berth/certs/corp.pem"]
 *   request_timeout_ms = 30000
 *   idle_timeout_ms = 60000
 *   retry_attempts = 4
 *   retry_base_delay_ms = 250
 *   [image.registry.mirrors."registry.k8s.io"]
 *   endpoints = ["http://127.0.0.1:5000"]
 *   fallback = false
 *   [image.registry.hosts."myreg.lan:5000"]
 *   ca_files = []
 *   skip_verify = false
 *   username = "ci"
 *   password = "…"
 */
export function registryConfigFromToml(raw: unknown, where = 'image.registry'): RegistryConfig {
  if (raw === undefined || raw === null) return registryConfig({});
  const obj = (v: unknown, key: string): Record<string, unknown> => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw invalidArgument(`config ${key}: must be a table`);
    return v as Record<string, unknown>;
  };
  const strings = (v: unknown, key: string): string[] => {
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw invalidArgument(`config ${key}: must be a list of strings`);
    return v as string[];
  };
  const bool = (v: unknown, key: string): boolean => {
    if (typeof v !== 'boolean') throw invalidArgument(`config ${key}: must be true or false`);
    return v;
  };
  const int = (v: unknown, key: string, min: number): number => {
    const n = typeof v === 'bigint' ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < min) throw invalidArgument(`config ${key}: must be an integer ≥ ${min}`);
    return n;
  };
  const str = (v: unknown, key: string): string => {
    if (typeof v !== 'string') throw invalidArgument(`config ${key}: must be a string`);
    return v;
  };
  const top = obj(raw, where);
  const out: Partial<RegistryConfig> = {};
  for (const [k, v] of Object.entries(top)) {
    const key = `${where}.${k}`;
    switch (k) {
      case 'insecure':
        out.insecure = strings(v, key);
        break;
      case 'allow_loopback_plain_http':
        out.allowLoopbackPlainHttp = bool(v, key);
        break;
      case 'ca_files':
        out.caFiles = strings(v, key);
        break;
      case 'request_timeout_ms':
        out.requestTimeoutMs = int(v, key, 1);
        break;
      case 'idle_timeout_ms':
        out.idleTimeoutMs = int(v, key, 1);
        break;
      case 'retry_attempts':
        out.retryAttempts = int(v, key, 1);
        break;
      case 'retry_base_delay_ms':
        out.retryBaseDelayMs = int(v, key, 0);
        break;
      case 'mirrors':
        out.mirrors = {};
        for (const [domain, m] of Object.entries(obj(v, key))) {
          const mk = `${key}."${domain}"`;
          const mt = obj(m, mk);
          for (const extra of Object.keys(mt)) if (extra !== 'endpoints' && extra !== 'fallback') throw invalidArgument(`config ${mk}.${extra}: unknown key`);
          out.mirrors[domain] = { endpoints: strings(mt.endpoints ?? [], `${mk}.endpoints`), fallback: mt.fallback === undefined ? true : bool(mt.fallback, `${mk}.fallback`) };
        }
        break;
      case 'hosts':
        out.hosts = {};
        for (const [host, h] of Object.entries(obj(v, key))) {
          const hk = `${key}."${host}"`;
          const ht = obj(h, hk);
          const hc: HostConfig = { caFiles: [], skipVerify: false };
          for (const [hkey, hv] of Object.entries(ht)) {
            if (hkey === 'ca_files') hc.caFiles = strings(hv, `${hk}.ca_files`);
            else if (hkey === 'skip_verify') hc.skipVerify = bool(hv, `${hk}.skip_verify`);
            else if (hkey === 'username') hc.username = str(hv, `${hk}.username`);
            else if (hkey === 'password') hc.password = str(hv, `${hk}.password`);
            else throw invalidArgument(`config ${hk}.${hkey}: unknown key`);
          }
          out.hosts[host] = hc;
        }
        break;
      default:
        throw invalidArgument(`config ${key}: unknown key`);
    }
  }
  return registryConfig(out);
}

/** `endpointsFor` with each endpoint's CA files read (without blocking the event loop). */
export async function endpointsWithCas(cfg: RegistryConfig, domain: string): Promise<Endpoint[]> {
  return Promise.all(
    endpointsFor(cfg, domain).map(async (ep) => {
      if (ep.caFiles.length === 0) return ep;
      const ca = await Promise.all(
        ep.caFiles.map((f) =>
          readCa(f).catch((e: unknown) => {
            // The node's configuration is at fault, not the request.
            throw failedPrecondition(`cannot read registry CA file ${f} (config.toml [images.registry]): ${(e as Error).message}`, e);
          }),
        ),
      );
      return { ...ep, ca };
    }),
  );
}
