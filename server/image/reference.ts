// Docker/OCI image references: the distribution grammar and Docker's normalisation
// (`busybox` → `docker.io/library/busybox:latest`). Pure: no I/O.
//
//   reference  := name [ ":" tag ] [ "@" digest ]
//   name       := [ domain "/" ] path-component [ "/" path-component ]*
//   domain     := host [ ":" port ]         host := domain-name | IPv4 | "[" IPv6 "]"
//   path-comp  := [a-z0-9]+ ( ( [_.] | "__" | [-]* ) [a-z0-9]+ )*
//   tag        := [\w][\w.-]{0,127}
//   digest     := algorithm ":" hex          (sha256: 64 hex, sha512: 128 hex)
import { invalidArgument } from '../errors.js';
import { shown } from '../validate/text.js';

export const DEFAULT_DOMAIN = 'docker.io';
export const LEGACY_DEFAULT_DOMAIN = 'index.docker.io';
export const DEFAULT_TAG = 'latest';
const OFFICIAL_REPO_PREFIX = 'library/';
const NAME_TOTAL_LENGTH_MAX = 255;

const alnum = '[a-z0-9]+';
const separator = '(?:[._]|__|[-]+)';
const pathComponent = `${alnum}(?:${separator}${alnum})*`;
const domainComponent = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const domainName = `${domainComponent}(?:\\.${domainComponent})*`;
const ipv6 = '\\[(?:[a-fA-F0-9:]+)\\]';
const host = `(?:${domainName}|${ipv6})`;
const domainRe = new RegExp(`^${host}(?::[0-9]+)?$`);
const pathRe = new RegExp(`^${pathComponent}(?:/${pathComponent})*$`);
const tagRe = /^[\w][\w.-]{0,127}$/;
const digestRe = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;
const anchoredIdRe = /^[a-f0-9]{64}$/;

export interface ImageReference {
  /** Registry domain as written after normalisation, e.g. `docker.io`, `127.0.0.1:5000`. */
  readonly domain: string;
  /** Repository path inside the registry, e.g. `library/busybox`. */
  readonly path: string;
  readonly tag?: string;
  readonly digest?: string;
}

/** Validates a digest string (`sha256:<64 hex>` or `sha512:<128 hex>`). */
export function validateDigest(d: string): string {
  if (!digestRe.test(d)) throw invalidArgument(`invalid digest ${shown(d)}`);
  const [alg, hex] = d.split(':') as [string, string];
  const want = alg === 'sha256' ? 64 : alg === 'sha512' ? 128 : 0;
  if (want === 0) throw invalidArgument(`unsupported digest algorithm ${shown(alg)} in ${shown(d)}`);
  if (hex.length !== want || !/^[a-f0-9]+$/.test(hex)) {
    throw invalidArgument(`invalid ${alg} digest ${shown(d)}: want ${want} lowercase hex characters`);
  }
  return d;
}

/** Splits the domain off a name the way Docker does: the first component is a domain
 *  only if it contains `.` or `:`, is `localhost`, or has upper-case letters. */
function splitDomain(name: string): { domain: string; path: string } {
  const i = name.indexOf('/');
  let domain: string;
  let path: string;
  if (i === -1) {
    domain = DEFAULT_DOMAIN;
    path = name;
  } else {
    const first = name.slice(0, i);
    if (!first.includes('.') && !first.includes(':') && first !== 'localhost' && first.toLowerCase() === first) {
      domain = DEFAULT_DOMAIN;
      path = name;
    } else {
      domain = first;
      path = name.slice(i + 1);
    }
  }
  if (domain === LEGACY_DEFAULT_DOMAIN) domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && !path.includes('/')) path = OFFICIAL_REPO_PREFIX + path;
  return { domain, path };
}

/**
 * Parses and normalises a reference as `docker pull` and the CRI do: a missing domain
 * becomes docker.io, official images get `library/`, and a reference with neither tag
 * nor digest gets `:latest`. A reference with both keeps both (the digest wins when
 * pulling). Throws invalidArgument with the reason.
 */
export function parseReference(input: string): ImageReference {
  const ref = parseNormalizedNamed(input);
  if (ref.tag === undefined && ref.digest === undefined) return { ...ref, tag: DEFAULT_TAG };
  return ref;
}

/** Like parseReference but without adding the default tag. */
export function parseNormalizedNamed(input: string): ImageReference {
  if (typeof input !== 'string' || input === '') throw invalidArgument('image reference is empty');
  if (input !== input.trim()) throw invalidArgument(`invalid reference ${shown(input)}: surrounding whitespace`);
  if (anchoredIdRe.test(input)) {
    throw invalidArgument(`invalid reference ${shown(input)}: cannot specify 64-byte hexadecimal strings as a repository name`);
  }
  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!digestRe.test(digest)) throw invalidArgument(`invalid reference ${shown(input)}: invalid digest ${shown(digest)}`);
    validateDigest(digest);
  }
  let tag: string | undefined;
  // A tag is after the last ':' that follows the last '/', so `host:5000/repo` has none.
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!tagRe.test(tag)) throw invalidArgument(`invalid reference ${shown(input)}: invalid tag ${shown(tag)}`);
  }
  if (rest === '') throw invalidArgument(`invalid reference ${shown(input)}: empty repository name`);
  const { domain, path } = splitDomain(rest);
  if (!domainRe.test(domain)) throw invalidArgument(`invalid reference ${shown(input)}: invalid registry domain ${shown(domain)}`);
  if (path.toLowerCase() !== path) {
    throw invalidArgument(`invalid reference ${shown(input)}: repository name must be lowercase`);
  }
  if (!pathRe.test(path)) throw invalidArgument(`invalid reference ${shown(input)}: invalid repository path ${shown(path)}`);
  if (domain.length + 1 + path.length > NAME_TOTAL_LENGTH_MAX) {
    throw invalidArgument(`invalid reference ${shown(input)}: repository name longer than ${NAME_TOTAL_LENGTH_MAX} characters`);
  }
  return { domain, path, ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}) };
}

/** `docker.io/library/busybox` */
export function repositoryName(ref: ImageReference): string {
  return `${ref.domain}/${ref.path}`;
}

/** The canonical string: `domain/path[:tag][@digest]`. */
export function formatReference(ref: ImageReference): string {
  let s = repositoryName(ref);
  if (ref.tag !== undefined) s += `:${ref.tag}`;
  if (ref.digest !== undefined) s += `@${ref.digest}`;
  return s;
}

/** `docker.io/library/busybox:latest` — the tag form, only when the reference has a tag. */
export function tagReference(ref: ImageReference): string | undefined {
  return ref.tag === undefined ? undefined : `${repositoryName(ref)}:${ref.tag}`;
}

/** `docker.io/library/busybox@sha256:…` for a given manifest digest. */
export function digestReference(ref: ImageReference, digest: string): string {
  return `${repositoryName(ref)}@${digest}`;
}

/** Docker Hub's API lives on registry-1.docker.io; every other domain is its own host. */
export function registryHost(domain: string): string {
  return domain === DEFAULT_DOMAIN ? 'registry-1.docker.io' : domain;
}

