// Which AppArmor profile a container gets, and berth's RuntimeDefault profile as text.
// Pure: whether the host has AppArmor and which profiles are loaded is the caller's
// (server/container/apparmor.ts).
//
// The rules are containerd's, so a pod behaves alike on either runtime:
// - AppArmor disabled on the host: asking for any profile other than Unconfined is refused
//   (a pod that wants confinement must not silently run without it); asking for nothing or
//   for Unconfined runs unconfined.
// - AppArmor enabled: asking for nothing means RuntimeDefault (kubernetes#51746); privileged
//   containers get no profile for RuntimeDefault; Localhost names a profile that must already
//   be loaded on the node (berth never loads a Localhost profile itself).
import { failedPrecondition, invalidArgument } from '../errors.js';

/** The name berth's RuntimeDefault profile is loaded under. */
export const DEFAULT_APPARMOR_PROFILE = 'berth-default';

export type AppArmorChoice =
  | { kind: 'none' }
  | { kind: 'runtime-default' }
  | { kind: 'localhost'; name: string };

/** The CRI fields that choose the profile (LinuxContainerSecurityContext). */
export interface CriAppArmorFields {
  apparmor: { profile_type: string; localhost_ref: string } | null;
  /** Deprecated string form: "", "runtime/default", "unconfined", "localhost/<name>". */
  apparmor_profile: string;
  privileged: boolean;
}

const LOCALHOST_PREFIX = 'localhost/';
/** Linux caps a profile name written to /proc/self/attr/apparmor/exec far above this; names
 *  longer than this are not ones an operator loads. */
const MAX_PROFILE_NAME = 255;
/** What a loaded profile may be called and still be named safely in a spec and a message:
 *  AppArmor allows more in quoted names, but none of the profiles a node loads for
 *  containers needs whitespace, quotes or control characters. */
const PROFILE_NAME = /^[A-Za-z0-9_/][A-Za-z0-9_.:@+~/-]*$/;

function shortQuote(s: string): string {
  return JSON.stringify(s.length > 64 ? `${s.slice(0, 64)}…` : s);
}

/** Validates a Localhost profile name (the part after `localhost/`). */
export function apparmorProfileName(ref: string): string {
  const name = ref.startsWith(LOCALHOST_PREFIX) ? ref.slice(LOCALHOST_PREFIX.length) : ref;
  if (name === '') throw invalidArgument('apparmor profile type Localhost needs a localhost_ref naming a loaded profile');
  if (name.length > MAX_PROFILE_NAME || !PROFILE_NAME.test(name) || name.split('/').includes('..')) {
    throw invalidArgument(
      `apparmor profile name ${shortQuote(name)} is not valid: a loaded profile's name (letters, digits and _ . : @ + ~ / -, at most ${MAX_PROFILE_NAME} characters)`,
    );
  }
  return name;
}

type Requested = { type: 'RuntimeDefault' | 'Unconfined' } | { type: 'Localhost'; ref: string } | null;

function requested(f: CriAppArmorFields): Requested {
  if (f.apparmor) {
    const { profile_type: type, localhost_ref: ref } = f.apparmor;
    if (type !== 'Localhost' && ref !== '') throw invalidArgument('apparmor localhost_ref must only be set when the profile type is Localhost');
    switch (type) {
      case 'RuntimeDefault':
      case 'Unconfined':
        return { type };
      case 'Localhost':
        return { type, ref };
      default:
        throw invalidArgument(`unknown apparmor profile type ${shortQuote(String(type))}`);
    }
  }
  const p = f.apparmor_profile;
  if (p === '') return null;
  if (p === 'runtime/default') return { type: 'RuntimeDefault' };
  if (p === 'unconfined') return { type: 'Unconfined' };
  if (p.startsWith(LOCALHOST_PREFIX)) return { type: 'Localhost', ref: p };
  throw invalidArgument(`unsupported apparmor profile ${shortQuote(p)}: want runtime/default, unconfined or localhost/<name>`);
}

/** The profile for a container; `enabled` = the host has AppArmor on (hostAppArmor().enabled). */
export function apparmorChoice(f: CriAppArmorFields | null, enabled: boolean): AppArmorChoice {
  const req = f ? requested(f) : null;
  if (req?.type === 'Localhost') apparmorProfileName(req.ref);
  if (!enabled) {
    if (req && req.type !== 'Unconfined') {
      throw failedPrecondition(`apparmor profile ${req.type} was requested, but AppArmor is not enabled on this node (/sys/module/apparmor/parameters/enabled)`);
    }
    return { kind: 'none' };
  }
  const type = req?.type ?? 'RuntimeDefault';
  if (type === 'Unconfined') return { kind: 'none' };
  if (type === 'RuntimeDefault') return f?.privileged ? { kind: 'none' } : { kind: 'runtime-default' };
  return { kind: 'localhost', name: apparmorProfileName((req as { ref: string }).ref) };
}

/**
 * berth's RuntimeDefault profile (apparmor_parser syntax), in the spirit of the default
 * profiles of Docker and containerd: everything a container normally does is allowed
 * (files, network, capabilities its bounding set grants), while writes to the kernel's
 * knobs under /proc and /sys, mounting, and reading kernel memory or security state are
 * denied even to a root process that holds the capability.
 * `withBase`: include <abstractions/base> (when the node's apparmor package ships it).
 */
export function defaultApparmorProfile(withBase: boolean): string {
  const name = DEFAULT_APPARMOR_PROFILE;
  return `# berth's RuntimeDefault AppArmor profile, loaded by berthd with apparmor_parser -Kr.
# Written by berthd at the first container that needs it; edits are overwritten.
${withBase ? '#include <tunables/global>\n' : '@{PROC}=/proc/\n'}
profile ${name} flags=(attach_disconnected,mediate_deleted) {
${withBase ? '  #include <abstractions/base>\n' : ''}
  # What any container may do.
  network,
  capability,
  file,
  umount,
  # Signals: from unconfined host processes (berthd, conmon, kubelet), and among the
  # processes confined by this profile; ptrace only among them.
  signal (receive) peer=unconfined,
  signal (send,receive) peer=${name},
  ptrace (trace,read,tracedby,readby) peer=${name},

  # No mounts from inside (the bundle's mounts are made before the profile applies).
  deny mount,

  # /proc: no writes to files directly under it or under other processes' directories,
  # nothing of sysrq-trigger and kcore, and sysctls only under /proc/sys/kernel/shm*
  # (the namespaced IPC knobs).
  deny @{PROC}/* w,
  deny @{PROC}/{[^1-9],[^1-9][^0-9],[^1-9s][^0-9y][^0-9s],[^1-9][^0-9][^0-9][^0-9/]*}/** w,
  deny @{PROC}/sys/[^k]** w,
  deny @{PROC}/sys/kernel/{?,??,[^s][^h][^m]**} w,
  deny @{PROC}/sysrq-trigger rwklx,
  deny @{PROC}/kcore rwklx,

  # /sys: no writes outside /sys/fs/cgroup, nothing of firmware and security state.
  deny /sys/[^f]*/** wklx,
  deny /sys/f[^s]*/** wklx,
  deny /sys/fs/[^c]*/** wklx,
  deny /sys/fs/c[^g]*/** wklx,
  deny /sys/fs/cg[^r]*/** wklx,
  deny /sys/firmware/** rwklx,
  deny /sys/kernel/security/** rwklx,
}
`;
}
