// Which seccomp profile a container gets (RuntimeDefault, Unconfined, Localhost) and the
// RuntimeDefault profile assembled for an architecture and a capability set.
import { invalidArgument } from '../errors.js';
import { checkCleanAbsolutePath } from '../validate/fields.js';
import { shown } from '../validate/text.js';
import {
  ALWAYS_ALLOWED,
  ARCHITECTURES,
  BY_ARCH,
  BY_CAPABILITY,
  BY_MIN_KERNEL,
  CONDITIONAL_RULES,
  DEFAULT_ACTION,
  DEFAULT_ERRNO_RET,
  withoutSysAdminRules,
  type SeccompRuleData,
} from './seccomp-default.js';
import type { OciSeccomp, OciSyscall } from './types.js';

export type SeccompChoice =
  | { kind: 'unconfined' }
  | { kind: 'runtime-default' }
  /** A profile file on the host, in OCI LinuxSeccomp JSON; the caller reads it. */
  | { kind: 'localhost'; path: string };

/** The CRI fields that choose the profile. */
export interface CriSeccompFields {
  seccomp: { profile_type: string; localhost_ref: string } | null;
  /** Deprecated string form: "runtime/default", "docker/default", "unconfined", "localhost/<path>". */
  seccomp_profile_path: string;
  privileged: boolean;
}

const LOCALHOST_PREFIX = 'localhost/';

function localhost(ref: string): SeccompChoice {
  const path = ref.startsWith(LOCALHOST_PREFIX) ? ref.slice(LOCALHOST_PREFIX.length) : ref;
  if (path === '') throw invalidArgument('seccomp profile type Localhost needs a localhost_ref');
  // One rule with the edge (server/validate): absolute and clean.
  checkCleanAbsolutePath(path, 'seccomp localhost profile');
  return { kind: 'localhost', path };
}

/**
 * containerd's rules: privileged containers run unconfined; the structured `seccomp` field
 * wins over the deprecated path; nothing at all means unconfined (kubelet asks for
 * RuntimeDefault explicitly when it wants it).
 */
export function seccompChoice(sc: CriSeccompFields | null): SeccompChoice {
  if (!sc || sc.privileged) return { kind: 'unconfined' };
  if (sc.seccomp) {
    const { profile_type: type, localhost_ref: ref } = sc.seccomp;
    if (type !== 'Localhost' && ref !== '') {
      throw invalidArgument('seccomp localhost_ref must only be set when the profile type is Localhost');
    }
    switch (type) {
      case 'RuntimeDefault':
        return { kind: 'runtime-default' };
      case 'Unconfined':
        return { kind: 'unconfined' };
      case 'Localhost':
        return localhost(ref);
      default:
        throw invalidArgument(`unknown seccomp profile type ${shown(String(type))}`);
    }
  }
  const p = sc.seccomp_profile_path;
  if (p === '' || p === 'unconfined') return { kind: 'unconfined' };
  if (p === 'runtime/default' || p === 'docker/default') return { kind: 'runtime-default' };
  if (p.startsWith(LOCALHOST_PREFIX)) return localhost(p);
  throw invalidArgument(`unsupported seccomp profile ${shown(p)}`);
}

export interface DefaultProfileOptions {
  /** Node's `process.arch` of the host; decides architectures and arch-only syscalls. */
  arch?: string;
  /** Host kernel [major, minor]; some syscalls are allowed only from a version on. Unknown = new enough. */
  kernel?: readonly [number, number];
}

function toSyscall(rule: SeccompRuleData): OciSyscall {
  const out: OciSyscall = { names: [...rule.names], action: rule.action ?? 'SCMP_ACT_ALLOW' };
  if (rule.errnoRet !== undefined) out.errnoRet = rule.errnoRet;
  if (rule.args) out.args = rule.args.map((a) => ({ ...a }));
  return out;
}

const kernelAtLeast = (have: readonly [number, number], want: readonly [number, number]) =>
  have[0] > want[0] || (have[0] === want[0] && have[1] >= want[1]);

/**
 * The RuntimeDefault profile: deny with EPERM by default, allow the common set, and allow
 * more with the capabilities the process holds (so adding CAP_SYS_ADMIN also opens mount(2),
 * as in Docker). Must be computed from the final bounding set.
 */
export function defaultSeccompProfile(boundingCaps: readonly string[], opts: DefaultProfileOptions = {}): OciSeccomp {
  const arch = opts.arch ?? process.arch;
  const rules: SeccompRuleData[] = [{ names: ALWAYS_ALLOWED }, ...CONDITIONAL_RULES];
  for (const { kernel, names } of BY_MIN_KERNEL) {
    if (!opts.kernel || kernelAtLeast(opts.kernel, kernel)) rules.push({ names });
  }
  const archNames = BY_ARCH[arch];
  if (archNames) rules.push({ names: archNames });
  for (const cap of boundingCaps) {
    const names = BY_CAPABILITY[cap];
    if (names) rules.push({ names });
  }
  if (!boundingCaps.includes('CAP_SYS_ADMIN')) rules.push(...withoutSysAdminRules(arch));
  return {
    defaultAction: DEFAULT_ACTION,
    defaultErrnoRet: DEFAULT_ERRNO_RET,
    architectures: [...(ARCHITECTURES[arch] ?? [])],
    syscalls: rules.map(toSyscall),
  };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * A Localhost profile file's text (OCI LinuxSeccomp JSON; Docker's singular `name` is taken
 * too) as the spec's seccomp section. Malformed files are the pod author's error.
 */
export function parseSeccompProfile(text: string, path: string): OciSeccomp {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw invalidArgument(`seccomp profile ${path} is not valid JSON`, err);
  }
  if (!isRecord(raw) || typeof raw['defaultAction'] !== 'string') {
    throw invalidArgument(`seccomp profile ${path} has no defaultAction`);
  }
  const out: OciSeccomp = { defaultAction: raw['defaultAction'] as OciSeccomp['defaultAction'] };
  if (typeof raw['defaultErrnoRet'] === 'number') out.defaultErrnoRet = raw['defaultErrnoRet'];
  if (Array.isArray(raw['architectures'])) out.architectures = raw['architectures'].map(String);
  if (Array.isArray(raw['flags'])) out.flags = raw['flags'].map(String);
  if (typeof raw['listenerPath'] === 'string') out.listenerPath = raw['listenerPath'];
  const syscalls = raw['syscalls'];
  if (syscalls !== undefined && syscalls !== null) {
    if (!Array.isArray(syscalls)) throw invalidArgument(`seccomp profile ${path}: syscalls is not a list`);
    out.syscalls = syscalls.map((s, i): OciSyscall => {
      if (!isRecord(s) || typeof s['action'] !== 'string') {
        throw invalidArgument(`seccomp profile ${path}: syscall rule ${i} has no action`);
      }
      const names = Array.isArray(s['names']) ? s['names'].map(String) : typeof s['name'] === 'string' ? [s['name']] : [];
      if (names.length === 0) throw invalidArgument(`seccomp profile ${path}: syscall rule ${i} names no syscall`);
      const rule: OciSyscall = { names, action: s['action'] as OciSyscall['action'] };
      if (typeof s['errnoRet'] === 'number') rule.errnoRet = s['errnoRet'];
      if (Array.isArray(s['args'])) rule.args = s['args'] as OciSyscall['args'];
      return rule;
    });
  }
  return out;
}
