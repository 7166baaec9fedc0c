// Validation by field class: each function checks one kind of value (a name, a path, a
// label map, a command …) wherever it occurs in a request, and throws INVALID_ARGUMENT
// with the field's place in the request, what is allowed, and at most a short escaped
// prefix of what was sent. Pure, except seccompProfileFile (it looks at the file).
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { posix } from 'node:path';
import { invalidArgument } from '../errors.js';
import { apparmorProfileName } from '../oci/apparmor.js';
import { LIMITS } from './limits.js';
import { shown } from './text.js';

// Control characters (C0, DEL, C1) and NUL: never part of a name, path or key berth accepts.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

function checkLength(value: string, field: string, max: number): void {
  if (value.length > max) throw invalidArgument(`${field} is ${value.length} characters long; at most ${max} are allowed (${shown(value)})`);
}

/** Any string: at most `max` characters (the general bound unless a class sets its own). */
export function checkString(value: string, field: string, max: number = LIMITS.string): void {
  checkLength(value, field, max);
}

/** Free text that ends up in a file, a command line or a log line: bounded, no control characters. */
export function checkText(value: string, field: string, max: number): void {
  checkLength(value, field, max);
  if (CONTROL.test(value)) throw invalidArgument(`${field} ${shown(value)} contains control characters`);
}

/** Ids and id prefixes that are looked up: bounded, printable, no '/'. Unknown ones are then NOT_FOUND. */
export function checkId(value: string, field: string, opts: { required: boolean }): void {
  if (value === '') {
    if (opts.required) throw invalidArgument(`${field} must not be empty`);
    return;
  }
  checkLength(value, field, LIMITS.id);
  if (CONTROL.test(value) || value.includes('/') || /\s/.test(value)) {
    throw invalidArgument(`${field} ${shown(value)} contains characters no id has (whitespace, control characters or '/')`);
  }
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/i;

/**
 * A DNS-1123 label (Kubernetes' rule for container names and namespaces), at most `max`
 * characters. Letters of either case: critest 1.26 and crictl users send capitals, and
 * case is harmless in the file names it becomes part of.
 */
export function checkDnsLabel(value: string, field: string, max = 63): void {
  if (value === '') throw invalidArgument(`${field} must not be empty`);
  checkLength(value, field, max);
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/i.test(value)) {
    throw invalidArgument(`${field} ${shown(value)} is not a DNS-1123 label (letters, digits and '-', starting and ending with a letter or digit)`);
  }
}

/** A DNS-1123 subdomain (Kubernetes' rule for pod names): dot-separated labels, at most 253 characters. */
export function checkDnsSubdomain(value: string, field: string, max = 253): void {
  if (value === '') throw invalidArgument(`${field} must not be empty`);
  checkLength(value, field, max);
  // As Kubernetes' IsDNS1123Subdomain: the whole at most 253, no bound per label.
  if (!value.split('.').every((l) => DNS_LABEL.test(l))) {
    throw invalidArgument(`${field} ${shown(value)} is not a DNS-1123 subdomain (dot-separated labels of letters, digits and '-')`);
  }
}

const FILE_NAME_PART = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/** A value that becomes (part of) a file name: letters, digits, '_', '.', '-'; no '/', no "..", no control characters. */
export function checkFileNamePart(value: string, field: string, max: number): void {
  if (value === '') throw invalidArgument(`${field} must not be empty`);
  checkLength(value, field, max);
  if (!FILE_NAME_PART.test(value) || value.includes('..')) {
    throw invalidArgument(`${field} ${shown(value)} may hold only letters, digits, '_', '.' and '-' (no '/', '..' or control characters), starting with a letter or digit`);
  }
}

const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** A label or annotation key: Kubernetes' qualified name ("[prefix/]name", name ≤ 63, prefix a DNS-1123 subdomain ≤ 253). */
export function checkQualifiedName(key: string, field: string): void {
  const slash = key.indexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  const what = `${field} key ${shown(key)}`;
  if (prefix !== undefined) {
    if (prefix.length > LIMITS.labelKeyPrefix) throw invalidArgument(`${what}: the prefix is ${prefix.length} characters; at most ${LIMITS.labelKeyPrefix}`);
    if (!prefix.split('.').every((l) => DNS_LABEL.test(l) && l === l.toLowerCase())) throw invalidArgument(`${what}: the prefix must be a lower-case DNS-1123 subdomain`);
  }
  if (name.length === 0 || name.length > LIMITS.labelKeyName) throw invalidArgument(`${what}: the name part must be 1 to ${LIMITS.labelKeyName} characters`);
  if (!QUALIFIED_NAME.test(name)) throw invalidArgument(`${what}: the name part may hold letters, digits, '-', '_' and '.', starting and ending with a letter or digit`);
}

/** The label kubelet fills with the pod's name (a DNS-1123 subdomain of up to 253 characters). */
const POD_NAME_LABEL = 'io.kubernetes.pod.name';

/** Labels: Kubernetes' key and value rules (values ≤ 63; kubelet's pod-name label ≤ 253). */
export function checkLabels(labels: Readonly<Record<string, string>>, field: string): void {
  for (const [k, v] of Object.entries(labels)) {
    checkQualifiedName(k, field);
    const max = k === POD_NAME_LABEL ? LIMITS.podName : LIMITS.labelValue;
    if (v.length > max) throw invalidArgument(`${field}[${shown(k)}] is ${v.length} characters; a label value has at most ${max}`);
    if (!LABEL_VALUE.test(v)) throw invalidArgument(`${field}[${shown(k)}] value ${shown(v)} may hold letters, digits, '-', '_' and '.', starting and ending with a letter or digit`);
  }
}

/** Annotations: qualified-name keys, values free text, all keys and values together at most 256 KiB. */
export function checkAnnotations(annotations: Readonly<Record<string, string>>, field: string): void {
  let total = 0;
  for (const [k, v] of Object.entries(annotations)) {
    checkQualifiedName(k, field);
    total += k.length + v.length;
  }
  if (total > LIMITS.annotationsTotal) throw invalidArgument(`${field} total ${total} characters; all annotations together may have at most ${LIMITS.annotationsTotal} (256 KiB)`);
}

function checkPathText(value: string, field: string): void {
  checkLength(value, field, LIMITS.path);
  if (value.includes('\0')) throw invalidArgument(`${field} ${shown(value)} contains a NUL byte`);
  if (CONTROL.test(value)) throw invalidArgument(`${field} ${shown(value)} contains control characters`);
  for (const part of value.split('/')) {
    if (part.length > LIMITS.pathComponent) throw invalidArgument(`${field} has a component of ${part.length} characters; at most ${LIMITS.pathComponent} (NAME_MAX)`);
  }
}

/** An absolute path without ".." components (masked/readonly paths, mount and device paths, working dir). */
export function checkAbsolutePath(value: string, field: string, opts: { allowEmpty?: boolean } = {}): void {
  if (value === '') {
    if (opts.allowEmpty) return;
    throw invalidArgument(`${field} must not be empty`);
  }
  checkPathText(value, field);
  if (!value.startsWith('/')) throw invalidArgument(`${field} ${shown(value)} must be an absolute path`);
  if (value.split('/').includes('..')) throw invalidArgument(`${field} ${shown(value)} must not contain ".."`);
}

/** An absolute path that is already clean: no ".", "..", "//" or trailing "/" (seccomp profile files). */
export function checkCleanAbsolutePath(value: string, field: string): void {
  checkAbsolutePath(value, field);
  if (posix.normalize(value) !== value || (value.length > 1 && value.endsWith('/'))) {
    throw invalidArgument(`${field} ${shown(value)} is not a clean path (no ".", "..", "//" or trailing "/")`);
  }
}

/** A relative path without ".." components (a container's log_path below the pod's log directory). */
export function checkRelativePath(value: string, field: string): void {
  if (value === '') return;
  checkPathText(value, field);
  if (value.startsWith('/')) throw invalidArgument(`${field} ${shown(value)} must be relative`);
  if (value.split('/').includes('..')) throw invalidArgument(`${field} ${shown(value)} escapes its directory: it must not contain ".."`);
}

/** argv: each string NUL-free (execve cannot pass one) and bounded; the first, if required, non-empty. */
export function checkCommand(argv: readonly string[], field: string, opts: { required: boolean }): void {
  if (opts.required && argv.length === 0) throw invalidArgument(`${field} must not be empty`);
  if (argv.length > 0 && argv[0] === '' && opts.required) throw invalidArgument(`${field}[0] (the program) must not be empty`);
  argv.forEach((a, i) => {
    checkLength(a, `${field}[${i}]`, LIMITS.string);
    if (a.includes('\0')) throw invalidArgument(`${field}[${i}] contains a NUL byte`);
  });
}

/** An enum field: one of its names (an unknown number from the wire stays a number and is refused). */
export function checkEnum(value: unknown, allowed: readonly string[], field: string): void {
  if (typeof value !== 'string' || !allowed.includes(value)) {
    const names = allowed.length <= 8 ? allowed.join(', ') : `the ${allowed.length} names of its enum (${allowed.slice(0, 3).join(', ')} …)`;
    throw invalidArgument(`${field} ${shown(String(value))} is not one of ${names}`);
  }
}

/** An integer in [min, max] (int64 fields arrive as decimal strings). */
export function checkInteger(value: string | number, field: string, min: number, max: number): number {
  const text = String(value);
  if (!/^-?\d+$/.test(text)) throw invalidArgument(`${field} ${shown(text)} is not an integer`);
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < min || n > max) throw invalidArgument(`${field} ${text.length > 24 ? shown(text) : text} is outside ${min}..${max}`);
  return n;
}

/** An AppArmor Localhost profile name: the rule of server/oci/apparmor.ts (one rule for the edge and the spec). */
export function checkAppArmorName(value: string, field: string): void {
  try {
    apparmorProfileName(value);
  } catch (e) {
    throw invalidArgument(`${field}: ${(e as Error).message}`);
  }
}

/** The structured SecurityProfile (seccomp or AppArmor) as decoded. */
export interface SecurityProfile {
  profile_type: unknown;
  localhost_ref: string;
}

const PROFILE_TYPES = ['RuntimeDefault', 'Unconfined', 'Localhost'] as const;

/** AppArmor at pod or container level: the structured field and the deprecated string form. */
export function checkAppArmor(profile: SecurityProfile | null, deprecated: string, field: string): void {
  if (profile) {
    checkEnum(profile.profile_type, PROFILE_TYPES, `${field}.apparmor.profile_type`);
    if (profile.profile_type === 'Localhost') checkAppArmorName(profile.localhost_ref, `${field}.apparmor.localhost_ref`);
    else if (profile.localhost_ref !== '') throw invalidArgument(`${field}.apparmor.localhost_ref is only for profile type Localhost`);
  }
  if (deprecated === '' || deprecated === 'runtime/default' || deprecated === 'unconfined') return;
  if (deprecated.startsWith('localhost/')) return checkAppArmorName(deprecated.slice('localhost/'.length), `${field}.apparmor_profile`);
  throw invalidArgument(`${field}.apparmor_profile ${shown(deprecated)} is not "runtime/default", "unconfined" or "localhost/<profile name>"`);
}

/**
 * Seccomp at pod or container level (pure part): the structured field wins, the deprecated
 * string is checked too. Returns the Localhost profile files named, for seccompProfileFile.
 */
export function checkSeccomp(profile: SecurityProfile | null, deprecated: string, field: string): string[] {
  const files: string[] = [];
  if (profile) {
    checkEnum(profile.profile_type, PROFILE_TYPES, `${field}.seccomp.profile_type`);
    if (profile.profile_type === 'Localhost') {
      // kubelet sends the absolute path; the legacy "localhost/<path>" spelling is taken too.
      const ref = profile.localhost_ref.startsWith('localhost/') ? profile.localhost_ref.slice('localhost/'.length) : profile.localhost_ref;
      if (ref === '') throw invalidArgument(`${field}.seccomp.localhost_ref must name a profile file for profile type Localhost`);
      checkCleanAbsolutePath(ref, `${field}.seccomp.localhost_ref`);
      files.push(ref);
    } else if (profile.localhost_ref !== '') {
      throw invalidArgument(`${field}.seccomp.localhost_ref is only for profile type Localhost`);
    }
  }
  const p = deprecated;
  if (p === '' || p === 'unconfined' || p === 'runtime/default' || p === 'docker/default') return files;
  if (p.startsWith('localhost/')) {
    const path = p.slice('localhost/'.length);
    checkCleanAbsolutePath(path, `${field}.seccomp_profile_path`);
    // The structured field wins: a deprecated path beside it is checked but not read.
    if (!profile) files.push(path);
    return files;
  }
  throw invalidArgument(`${field}.seccomp_profile_path ${shown(p)} is not "runtime/default", "docker/default", "unconfined" or "localhost/<absolute path>"`);
}

/**
 * A Localhost seccomp profile file: inside one of `roots` (when any are configured) and a
 * readable regular file. Missing, unreadable or not a file is the request's fault.
 */
export async function seccompProfileFile(path: string, field: string, roots: readonly string[]): Promise<void> {
  if (roots.length > 0 && !roots.some((r) => path.startsWith(r.endsWith('/') ? r : `${r}/`))) {
    throw invalidArgument(`${field} ${shown(path)} is not inside a configured seccomp profile root (${roots.join(', ')})`);
  }
  let st;
  try {
    st = await stat(path);
    await access(path, constants.R_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    throw invalidArgument(`${field} ${shown(path)} cannot be read (${code})`);
  }
  if (!st.isFile()) throw invalidArgument(`${field} ${shown(path)} is not a regular file`);
  if (st.size > LIMITS.seccompProfileBytes) throw invalidArgument(`${field} ${shown(path)} is ${st.size} bytes; a seccomp profile has at most ${LIMITS.seccompProfileBytes}`);
}
