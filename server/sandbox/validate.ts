// Pure validation of a PodSandboxConfig: everything RunPodSandbox refuses is refused
// here, before any state is touched, with INVALID_ARGUMENT and a message saying why.
import { isIP } from 'node:net';
import { normalize } from 'node:path';
import { cgroupfsPodParent } from '../cgroups/paths.js';
import { invalidArgument } from '../errors.js';
import { shown } from '../validate/text.js';
import { checkAbsolutePath, checkDnsLabel, checkDnsSubdomain, checkFileNamePart } from '../validate/fields.js';
import { LIMITS } from '../validate/limits.js';
import type { PodSandboxConfig__Output } from '../../wire/cri/generated/runtime/v1/PodSandboxConfig.js';
import type { NamespaceMode } from './types.js';

export interface SandboxPlan {
  name: string;
  namespace: string;
  uid: string;
  attempt: number;
  hostname: string;
  /** Normalised absolute path, or '' when the pod has no log directory. */
  logDirectory: string;
  handler: string;
  networkMode: NamespaceMode;
  ipcMode: NamespaceMode;
  pidMode: NamespaceMode;
  sysctls: Sysctl[];
  /** The driver's form of cgroup_parent (cgroupfs path or slice name), or '' for none. */
  cgroupParent: string;
}

export interface Sysctl {
  name: string;
  /** Path below /proc/sys. */
  path: string;
  value: string;
  /** Namespace the sysctl belongs to. */
  ns: 'net' | 'ipc';
}

export interface ValidationContext {
  handlers: readonly string[];
  defaultHandler: string;
  podLogRoots: readonly string[];
  /** The cgroup driver's reading of cgroup_parent (cgroupfs: a normalised path; systemd: a slice name). */
  cgroupParent?: (parent: string) => string;
}

const HOSTNAME = /^(?=.{1,64}$)[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/;

export function validateSandboxConfig(config: PodSandboxConfig__Output | null, handlerName: string, ctx: ValidationContext): SandboxPlan {
  if (!config) throw invalidArgument('config is required');
  const md = config.metadata;
  if (!md) throw invalidArgument('config.metadata is required');
  // The field classes of the edge (server/validate): one rule for names wherever checked.
  // They also keep CNI_ARGS (K8S_POD_NAME=…;…), file names and logs free of separators.
  checkDnsSubdomain(md.name, 'config.metadata.name', LIMITS.podName);
  checkDnsLabel(md.namespace, 'config.metadata.namespace', LIMITS.namespace);
  checkFileNamePart(md.uid, 'config.metadata.uid', LIMITS.uid);
  const hostname = config.hostname;
  if (hostname && !HOSTNAME.test(hostname)) throw invalidArgument(`config.hostname ${shown(hostname)} is not a valid hostname`);

  const handler = handlerName || ctx.defaultHandler;
  if (!ctx.handlers.includes(handler)) {
    throw invalidArgument(`runtime handler ${shown(handler)} is not configured (configured: ${ctx.handlers.join(', ')})`);
  }

  const logDirectory = config.log_directory ? validateLogDirectory(config.log_directory, ctx.podLogRoots) : '';

  const linux = config.linux;
  const nsOpts = linux?.security_context?.namespace_options ?? null;
  const networkMode = (nsOpts?.network ?? 'POD') as NamespaceMode;
  const ipcMode = (nsOpts?.ipc ?? 'POD') as NamespaceMode;
  const pidMode = (nsOpts?.pid ?? 'CONTAINER') as NamespaceMode;
  if (networkMode !== 'POD' && networkMode !== 'NODE') throw invalidArgument(`network namespace mode ${networkMode} is not valid for a pod (POD or NODE)`);
  if (ipcMode !== 'POD' && ipcMode !== 'NODE') throw invalidArgument(`IPC namespace mode ${ipcMode} is not valid for a pod (POD or NODE)`);
  if (pidMode !== 'POD' && pidMode !== 'NODE' && pidMode !== 'CONTAINER') throw invalidArgument(`PID namespace mode ${pidMode} is not valid for a pod (POD, CONTAINER or NODE)`);
  if (nsOpts?.userns_options && nsOpts.userns_options.mode === 'POD') {
    throw invalidArgument('user namespaces (userns mode POD) are not supported by berth');
  }

  const sysctls = validateSysctls(linux?.sysctls ?? {}, networkMode, ipcMode);
  for (const [i, pm] of (config.port_mappings ?? []).entries()) validatePortMapping(pm, i, networkMode);
  validateDns(config.dns_config);
  const cgroupParent = linux?.cgroup_parent ? (ctx.cgroupParent ?? normalizeCgroupParent)(linux.cgroup_parent) : '';

  return {
    name: md.name,
    namespace: md.namespace,
    uid: md.uid,
    attempt: md.attempt,
    hostname,
    logDirectory,
    handler,
    networkMode,
    ipcMode,
    pidMode,
    sysctls,
    cgroupParent,
  };
}

/** A log directory must be absolute, have no `..` component and lie inside one of the roots. */
export function validateLogDirectory(dir: string, roots: readonly string[]): string {
  checkAbsolutePath(dir, 'config.log_directory');
  const norm = normalize(dir).replace(/(.)\/+$/, '$1');
  const inside = roots.some((r) => norm === r || norm.startsWith(r.endsWith('/') ? r : `${r}/`));
  if (!inside || roots.includes(norm)) {
    throw invalidArgument(`config.log_directory ${shown(dir)} is not inside a configured pod log root (${roots.join(', ')})`);
  }
  return norm;
}

const IPC_SYSCTLS = /^(kernel\.(shm|msg)[a-z_]+|kernel\.sem|fs\.mqueue\.[a-z_]+)$/;

/** Namespaced sysctls only: net.* (pod network); kernel.shm…, kernel.msg…, kernel.sem and fs.mqueue.… (pod IPC). */
export function validateSysctls(sysctls: Record<string, string>, networkMode: NamespaceMode, ipcMode: NamespaceMode): Sysctl[] {
  const out: Sysctl[] = [];
  for (const [rawName, value] of Object.entries(sysctls).sort(([a], [b]) => a.localeCompare(b))) {
    // Kubernetes accepts both net.ipv4.ip_forward and net/ipv4/ip_forward; with slashes,
    // dots stay part of a component (an interface name such as eth0.100).
    const parts = rawName.includes('/') ? rawName.split('/') : rawName.split('.');
    if (parts.some((p) => !/^[a-zA-Z0-9_-][a-zA-Z0-9_.-]*$/.test(p) || p === '.' || p === '..')) {
      throw invalidArgument(`sysctl ${shown(rawName)} is not a valid sysctl name`);
    }
    const name = parts.join('.');
    const path = parts.join('/');
    if (/[\n\0]/.test(value) || value.length > 4096) throw invalidArgument(`sysctl ${shown(rawName)} has an invalid value`);
    let ns: 'net' | 'ipc';
    if (parts[0] === 'net') {
      if (networkMode === 'NODE') throw invalidArgument(`sysctl ${shown(rawName)} is not allowed for a pod in the host network namespace`);
      ns = 'net';
    } else if (IPC_SYSCTLS.test(name)) {
      if (ipcMode === 'NODE') throw invalidArgument(`sysctl ${shown(rawName)} is not allowed for a pod in the host IPC namespace`);
      ns = 'ipc';
    } else {
      throw invalidArgument(`sysctl ${shown(rawName)} is not a namespaced sysctl a pod may set`);
    }
    out.push({ name, path, value, ns });
  }
  return out;
}

function validatePortMapping(pm: { protocol: string; container_port: number; host_port: number; host_ip: string }, i: number, mode: NamespaceMode): void {
  if (mode === 'NODE') return; // host-network pods use the host's ports directly; mappings are informational
  if (!['TCP', 'UDP', 'SCTP'].includes(pm.protocol)) throw invalidArgument(`port_mappings[${i}].protocol ${pm.protocol} is not valid`);
  if (!(pm.container_port >= 1 && pm.container_port <= 65535)) throw invalidArgument(`port_mappings[${i}].container_port ${pm.container_port} is out of range`);
  if (!(pm.host_port >= 0 && pm.host_port <= 65535)) throw invalidArgument(`port_mappings[${i}].host_port ${pm.host_port} is out of range`);
  if (pm.host_ip && !isIP(pm.host_ip)) throw invalidArgument(`port_mappings[${i}].host_ip ${shown(pm.host_ip)} is not an IP address`);
}

function validateDns(dns: { servers: string[]; searches: string[]; options: string[] } | null): void {
  if (!dns) return;
  for (const s of dns.servers) if (!isIP(s)) throw invalidArgument(`dns_config server ${shown(s)} is not an IP address`);
  for (const s of [...dns.searches, ...dns.options]) {
    if (!s || /[\s\0]/.test(s)) throw invalidArgument(`dns_config entry ${shown(s)} must be a single non-empty word`);
  }
}

/** The pod cgroup path for the cgroupfs driver (the systemd driver passes its own through the context). */
export const normalizeCgroupParent = cgroupfsPodParent;
