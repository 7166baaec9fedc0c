// Linux capabilities: the known set (by bit number), containerd's default set for
// containers, and the CRI add/drop rules including "ALL".
import { failedPrecondition, invalidArgument } from '../errors.js';
import { shown } from '../validate/text.js';
import type { OciCapabilities } from './types.js';

/** Every capability the kernel defines, indexed by its bit number (linux/capability.h, up to 6.x). */
export const KNOWN_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_DAC_READ_SEARCH',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETPCAP',
  'CAP_LINUX_IMMUTABLE',
  'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST',
  'CAP_NET_ADMIN',
  'CAP_NET_RAW',
  'CAP_IPC_LOCK',
  'CAP_IPC_OWNER',
  'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO',
  'CAP_SYS_CHROOT',
  'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN',
  'CAP_SYS_BOOT',
  'CAP_SYS_NICE',
  'CAP_SYS_RESOURCE',
  'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG',
  'CAP_MKNOD',
  'CAP_LEASE',
  'CAP_AUDIT_WRITE',
  'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE',
  'CAP_MAC_ADMIN',
  'CAP_SYSLOG',
  'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND',
  'CAP_AUDIT_READ',
  'CAP_PERFMON',
  'CAP_BPF',
  'CAP_CHECKPOINT_RESTORE',
];

/** containerd's (and Docker's) default capability set for an unprivileged container. */
export const DEFAULT_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

/**
 * Capability names from a hex mask such as /proc/self/status's `CapEff:\t000001fffeffffff`.
 * Our test hosts lack CAP_SYS_RESOURCE (bit 24), and a runtime cannot grant what it does not
 * hold, so "all capabilities" means "all the runtime holds".
 */
export function capabilitiesFromMask(hex: string): string[] {
  const mask = BigInt(`0x${hex.trim() || '0'}`);
  return KNOWN_CAPABILITIES.filter((_, bit) => (mask >> BigInt(bit)) & 1n);
}

/** The CapEff line of a /proc/PID/status text, as capability names. */
export function effectiveCapabilitiesFromStatus(statusText: string): string[] {
  const m = /^CapEff:\s*([0-9a-fA-F]+)\s*$/m.exec(statusText);
  if (!m || m[1] === undefined) throw failedPrecondition('no CapEff line in process status');
  return capabilitiesFromMask(m[1]);
}

/** CRI names come without the CAP_ prefix ("NET_ADMIN"); accept either form and any case. */
export function normalizeCapability(name: string): string {
  const upper = name.trim().toUpperCase();
  const full = upper.startsWith('CAP_') ? upper : `CAP_${upper}`;
  if (!KNOWN_CAPABILITIES.includes(full)) throw invalidArgument(`unknown capability ${shown(name)}`);
  return full;
}

export interface CapabilityRequest {
  add_capabilities: readonly string[];
  drop_capabilities: readonly string[];
  add_ambient_capabilities?: readonly string[];
}

const isAll = (c: string) => c.trim().toUpperCase() === 'ALL';

/**
 * The capability sets of the process: containerd's defaults, then "ALL" in add (every
 * capability the host grants) or in drop (none), then the individual adds, then the
 * individual drops — so `add: [ALL], drop: [CHOWN]` is everything but CHOWN and
 * `drop: [ALL], add: [NET_BIND_SERVICE]` is only that one. Ambient capabilities stay empty
 * (containerd's behaviour; Kubernetes leaves non-root + caps undefined).
 *
 * @param hostCapabilities what the runtime itself holds; adding anything else fails in
 *   runc with an opaque error, so it is refused here with a clear one.
 */
export function containerCapabilities(req: CapabilityRequest | null, hostCapabilities: readonly string[] = KNOWN_CAPABILITIES): string[] {
  let caps: string[] = [...DEFAULT_CAPABILITIES];
  if (req) {
    if (req.add_capabilities.some(isAll)) caps = [...hostCapabilities];
    if (req.drop_capabilities.some(isAll)) caps = [];
    for (const raw of req.add_capabilities) {
      if (isAll(raw)) continue;
      const c = normalizeCapability(raw);
      if (!hostCapabilities.includes(c)) {
        throw failedPrecondition(`capability ${c} was requested but the runtime does not hold it on this host`);
      }
      if (!caps.includes(c)) caps.push(c);
    }
    for (const raw of req.drop_capabilities) {
      if (isAll(raw)) continue;
      const c = normalizeCapability(raw);
      caps = caps.filter((x) => x !== c);
    }
    if ((req.add_ambient_capabilities ?? []).length > 0) {
      // Ambient capabilities (KEP-2763) are not part of our CRI level yet.
      throw invalidArgument('add_ambient_capabilities is not supported');
    }
  }
  // The default set is not all the host may hold either (a host without CAP_MKNOD, say).
  return caps.filter((c) => hostCapabilities.includes(c));
}

/** The same list in the three sets runc applies (bounding, effective, permitted). */
export function ociCapabilities(caps: readonly string[]): OciCapabilities {
  return { bounding: [...caps], effective: [...caps], permitted: [...caps] };
}
