// The request table: for every CRI RPC, what its request must satisfy before berthd does
// anything with it. The gRPC edge (cri/rpc.ts) runs `validateRequest` first for every call;
// the domain modules then only meet requests that passed. Each row names the field
// classes (fields.ts) its fields belong to; every string and list is also bounded
// (LIMITS.string, LIMITS.entries) wherever it is, by `checkBounds`.
import { invalidArgument } from '../errors.js';
import { LIMITS } from './limits.js';
import type { HostOffer } from './host.js';
import { shown } from './text.js';
import {
  checkAbsolutePath,
  checkAnnotations,
  checkAppArmor,
  checkCommand,
  checkDnsLabel,
  checkDnsSubdomain,
  checkEnum,
  checkFileNamePart,
  checkId,
  checkInteger,
  checkLabels,
  checkRelativePath,
  checkSeccomp,
  checkString,
  checkText,
  seccompProfileFile,
  type SecurityProfile,
} from './fields.js';
import { checkResources, type CriResourcesWithOom } from './resources.js';

/** What validation needs from berth's configuration and the host. */
export interface ValidationEnv {
  /** config.seccomp_profile_roots: Localhost seccomp profiles must lie below one (none = anywhere). */
  seccompProfileRoots: readonly string[];
  host: HostOffer;
}

type Req = Record<string, unknown>;
type Rule = (req: Req, env: ValidationEnv) => void | Promise<void>;

const NAMESPACE_MODES = ['POD', 'CONTAINER', 'NODE', 'TARGET'] as const;
const PROPAGATIONS = ['PROPAGATION_PRIVATE', 'PROPAGATION_HOST_TO_CONTAINER', 'PROPAGATION_BIDIRECTIONAL'] as const;
const PROTOCOLS = ['TCP', 'UDP', 'SCTP'] as const;
const SUPPLEMENTAL_GROUPS_POLICIES = ['Merge', 'Strict'] as const;
const SANDBOX_STATES = ['SANDBOX_READY', 'SANDBOX_NOTREADY'] as const;
const CONTAINER_STATES = ['CONTAINER_CREATED', 'CONTAINER_RUNNING', 'CONTAINER_EXITED', 'CONTAINER_UNKNOWN'] as const;
/** uid/gid values: 0 .. 2^32-2 (2^32-1 is the kernel's "no id"). */
const MAX_UNIX_ID = 4294967294;

/** Every string, bytes value, list and map anywhere in a request within the general bounds. */
export function checkBounds(value: unknown, field: string): void {
  if (typeof value === 'string') {
    if (value.length > LIMITS.string) checkString(value, field);
    return;
  }
  if (value === null || typeof value !== 'object') return;
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) {
    if (value.length > LIMITS.string) throw invalidArgument(`${field} is ${value.length} bytes; at most ${LIMITS.string} are allowed`);
    return;
  }
  if (Array.isArray(value)) {
    if (value.length > LIMITS.entries) throw invalidArgument(`${field} has ${value.length} entries; at most ${LIMITS.entries} are allowed`);
    value.forEach((v, i) => checkBounds(v, `${field}[${i}]`));
    return;
  }
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length > LIMITS.entries) throw invalidArgument(`${field} has ${entries.length} entries; at most ${LIMITS.entries} are allowed`);
  for (const [k, v] of entries) {
    if (k.length > LIMITS.string) checkString(k, `${field} key`);
    checkBounds(v, field ? `${field}.${k.length > 64 ? '<key>' : k}` : k);
  }
}

// Narrow accessors over the decoded request (the proto loader fills defaults: strings '',
// lists [], maps {}, missing messages null).
const obj = (v: unknown): Req | null => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Req) : null);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const strs = (v: unknown): string[] => (Array.isArray(v) ? v.map(str) : []);
const map = (v: unknown): Record<string, string> => (obj(v) ?? {}) as Record<string, string>;

function checkIdField(req: Req, key: string, required = true): void {
  checkId(str(req[key]), key, { required });
}

function checkNamespaceOptions(o: Req | null, field: string): void {
  if (!o) return;
  for (const k of ['network', 'pid', 'ipc'] as const) checkEnum(o[k], NAMESPACE_MODES, `${field}.${k}`);
  checkId(str(o['target_id']), `${field}.target_id`, { required: false });
  const userns = obj(o['userns_options']);
  if (userns) checkEnum(userns['mode'], NAMESPACE_MODES, `${field}.userns_options.mode`);
}

function checkIds(sc: Req, field: string): void {
  for (const k of ['run_as_user', 'run_as_group'] as const) {
    const v = obj(sc[k]);
    if (v) checkInteger(str(v['value']) || '0', `${field}.${k}`, 0, MAX_UNIX_ID);
  }
  strs(sc['supplemental_groups']).forEach((g, i) => checkInteger(g || '0', `${field}.supplemental_groups[${i}]`, 0, MAX_UNIX_ID));
  checkEnum(sc['supplemental_groups_policy'], SUPPLEMENTAL_GROUPS_POLICIES, `${field}.supplemental_groups_policy`);
}

/** Seccomp and AppArmor of one security context, pod or container; the profile files are looked at. */
async function checkProfiles(sc: Req, field: string, env: ValidationEnv, hasApparmorString: boolean): Promise<void> {
  const files = checkSeccomp(obj(sc['seccomp']) as SecurityProfile | null, str(sc['seccomp_profile_path']), field);
  checkAppArmor(obj(sc['apparmor']) as SecurityProfile | null, hasApparmorString ? str(sc['apparmor_profile']) : '', field);
  for (const f of files) await seccompProfileFile(f, `${field} seccomp profile`, env.seccompProfileRoots);
}

function checkMetadataCommon(md: Req | null, field: string): Req {
  if (!md) throw invalidArgument(`${field} is required`);
  return md;
}

async function checkPodConfig(config: Req | null, field: string, env: ValidationEnv): Promise<void> {
  if (!config) throw invalidArgument(`${field} is required`);
  const md = checkMetadataCommon(obj(config['metadata']), `${field}.metadata`);
  checkDnsSubdomain(str(md['name']), `${field}.metadata.name`, LIMITS.podName);
  checkDnsLabel(str(md['namespace']), `${field}.metadata.namespace`, LIMITS.namespace);
  checkFileNamePart(str(md['uid']), `${field}.metadata.uid`, LIMITS.uid);
  checkAbsolutePath(str(config['log_directory']), `${field}.log_directory`, { allowEmpty: true });
  checkLabels(map(config['labels']), `${field}.labels`);
  checkAnnotations(map(config['annotations']), `${field}.annotations`);
  const pms = Array.isArray(config['port_mappings']) ? (config['port_mappings'] as Req[]) : [];
  pms.forEach((pm, i) => checkEnum(pm['protocol'], PROTOCOLS, `${field}.port_mappings[${i}].protocol`));
  checkText(str(config['hostname']), `${field}.hostname`, 253);
  const linux = obj(config['linux']);
  if (!linux) return;
  checkText(str(linux['cgroup_parent']), `${field}.linux.cgroup_parent`, LIMITS.path);
  for (const [k, v] of Object.entries(map(linux['sysctls']))) {
    checkText(k, `${field}.linux.sysctls key`, 256);
    checkString(v, `${field}.linux.sysctls[${shown(k)}]`, 4096);
  }
  const sc = obj(linux['security_context']);
  if (sc) {
    checkNamespaceOptions(obj(sc['namespace_options']), `${field}.linux.security_context.namespace_options`);
    checkIds(sc, `${field}.linux.security_context`);
    // A pod-level profile berth does not apply to the sandbox itself is still checked.
    await checkProfiles(sc, `${field}.linux.security_context`, env, false);
  }
  for (const k of ['overhead', 'resources'] as const) {
    const r = obj(linux[k]);
    if (r) checkResources(r as unknown as CriResourcesWithOom, `${field}.linux.${k}`, env.host, { memoryFloor: false });
  }
}

async function checkContainerConfig(config: Req | null, env: ValidationEnv): Promise<void> {
  const field = 'config';
  if (!config) throw invalidArgument('config is required');
  const md = checkMetadataCommon(obj(config['metadata']), 'config.metadata');
  checkDnsLabel(str(md['name']), 'config.metadata.name', LIMITS.containerName);
  const image = obj(config['image']);
  const ref = str(image?.['image']);
  if (!ref) throw invalidArgument('config.image.image must name an image');
  checkString(ref, 'config.image.image', LIMITS.imageRef);
  // An explicit command must name a program; an empty one defers to the image (checked at create).
  const command = strs(config['command']);
  checkCommand(command, 'config.command', { required: command.length > 0 });
  checkCommand(strs(config['args']), 'config.args', { required: false });
  checkAbsolutePath(str(config['working_dir']), 'config.working_dir', { allowEmpty: true });
  const envs = Array.isArray(config['envs']) ? (config['envs'] as Req[]) : [];
  envs.forEach((e, i) => {
    const key = str(e['key']);
    if (key === '' || key.includes('=') || key.includes('\0')) throw invalidArgument(`config.envs[${i}].key ${shown(key)} is not a variable name (non-empty, no '=' or NUL)`);
    const value = e['value'];
    const hasNul = typeof value === 'string' ? value.includes('\0') : value instanceof Uint8Array && value.includes(0);
    if (hasNul) throw invalidArgument(`config.envs[${i}] (${shown(key)}) has a NUL byte in its value`);
  });
  const mounts = Array.isArray(config['mounts']) ? (config['mounts'] as Req[]) : [];
  mounts.forEach((m, i) => {
    checkAbsolutePath(str(m['container_path']), `config.mounts[${i}].container_path`);
    // An image volume has no host path; berth refuses those later as unsupported.
    checkAbsolutePath(str(m['host_path']), `config.mounts[${i}].host_path`, { allowEmpty: obj(m['image']) !== null });
    checkEnum(m['propagation'], PROPAGATIONS, `config.mounts[${i}].propagation`);
  });
  const devices = Array.isArray(config['devices']) ? (config['devices'] as Req[]) : [];
  devices.forEach((d, i) => {
    checkAbsolutePath(str(d['container_path']), `config.devices[${i}].container_path`);
    checkAbsolutePath(str(d['host_path']), `config.devices[${i}].host_path`);
    const p = str(d['permissions']);
    if (p !== '' && !/^[rwm]{1,3}$/.test(p)) throw invalidArgument(`config.devices[${i}].permissions ${shown(p)} is not a combination of r, w and m`);
  });
  checkLabels(map(config['labels']), `${field}.labels`);
  checkAnnotations(map(config['annotations']), `${field}.annotations`);
  checkRelativePath(str(config['log_path']), 'config.log_path');
  if (config['stop_signal'] !== undefined) checkEnum(config['stop_signal'], SIGNALS, 'config.stop_signal');
  const linux = obj(config['linux']);
  if (!linux) return;
  const res = obj(linux['resources']);
  if (res) checkResources(res as unknown as CriResourcesWithOom, 'config.linux.resources', env.host, { memoryFloor: true });
  const sc = obj(linux['security_context']);
  if (!sc) return;
  const scField = 'config.linux.security_context';
  checkNamespaceOptions(obj(sc['namespace_options']), `${scField}.namespace_options`);
  checkIds(sc, scField);
  const caps = obj(sc['capabilities']);
  if (caps) {
    for (const k of ['add_capabilities', 'drop_capabilities', 'add_ambient_capabilities'] as const) {
      strs(caps[k]).forEach((c, i) => {
        if (!/^[A-Za-z_]{1,64}$/.test(c)) throw invalidArgument(`${scField}.capabilities.${k}[${i}] ${shown(c)} is not a capability name`);
      });
    }
  }
  strs(sc['masked_paths']).forEach((p, i) => checkAbsolutePath(p, `${scField}.masked_paths[${i}]`));
  strs(sc['readonly_paths']).forEach((p, i) => checkAbsolutePath(p, `${scField}.readonly_paths[${i}]`));
  const username = str(sc['run_as_username']);
  if (username !== '' && (username.length > 256 || /[\s:\0/]/.test(username))) throw invalidArgument(`${scField}.run_as_username ${shown(username)} is not a user name`);
  await checkProfiles(sc, scField, env, true);
}

/** The CRI Signal enum's names (SIGNAL_RUNTIME_DEFAULT … SIGNAL_SIGRTMAX). */
const SIGNALS = [
  'SIGNAL_RUNTIME_DEFAULT', 'SIGNAL_SIGABRT', 'SIGNAL_SIGALRM', 'SIGNAL_SIGBUS', 'SIGNAL_SIGCHLD', 'SIGNAL_SIGCLD', 'SIGNAL_SIGCONT',
  'SIGNAL_SIGFPE', 'SIGNAL_SIGHUP', 'SIGNAL_SIGILL', 'SIGNAL_SIGINT', 'SIGNAL_SIGIO', 'SIGNAL_SIGIOT', 'SIGNAL_SIGKILL', 'SIGNAL_SIGPIPE',
  'SIGNAL_SIGPOLL', 'SIGNAL_SIGPROF', 'SIGNAL_SIGPWR', 'SIGNAL_SIGQUIT', 'SIGNAL_SIGSEGV', 'SIGNAL_SIGSTKFLT', 'SIGNAL_SIGSTOP',
  'SIGNAL_SIGSYS', 'SIGNAL_SIGTERM', 'SIGNAL_SIGTRAP', 'SIGNAL_SIGTSTP', 'SIGNAL_SIGTTIN', 'SIGNAL_SIGTTOU', 'SIGNAL_SIGURG',
  'SIGNAL_SIGUSR1', 'SIGNAL_SIGUSR2', 'SIGNAL_SIGVTALRM', 'SIGNAL_SIGWINCH', 'SIGNAL_SIGXCPU', 'SIGNAL_SIGXFSZ', 'SIGNAL_SIGRTMIN',
  ...Array.from({ length: 15 }, (_, i) => `SIGNAL_SIGRTMINPLUS${i + 1}`),
  ...Array.from({ length: 14 }, (_, i) => `SIGNAL_SIGRTMAXMINUS${14 - i}`),
  'SIGNAL_SIGRTMAX',
];

function checkFilter(f: Req | null, field: string, states?: readonly string[]): void {
  if (!f) return;
  checkId(str(f['id']), `${field}.id`, { required: false });
  if ('pod_sandbox_id' in f) checkId(str(f['pod_sandbox_id']), `${field}.pod_sandbox_id`, { required: false });
  const st = obj(f['state']);
  if (st && states) checkEnum(st['state'], states, `${field}.state.state`);
}

function checkImageSpec(spec: Req | null, field: string, required: boolean): void {
  const ref = str(spec?.['image']);
  if (required && ref === '') throw invalidArgument(`${field}.image must not be empty`);
  checkString(ref, `${field}.image`, LIMITS.imageRef);
}

function checkTimeout(v: unknown, field: string): void {
  checkInteger(str(v) || '0', field, 0, Number.MAX_SAFE_INTEGER);
}

/** RPC name → the rule its request must satisfy. RPCs not listed need only the general bounds. */
export const REQUEST_RULES: Readonly<Record<string, Rule>> = {
  RunPodSandbox: async (req, env) => {
    checkText(str(req['runtime_handler']), 'runtime_handler', 253);
    await checkPodConfig(obj(req['config']), 'config', env);
  },
  StopPodSandbox: (req) => checkIdField(req, 'pod_sandbox_id'),
  RemovePodSandbox: (req) => checkIdField(req, 'pod_sandbox_id'),
  PodSandboxStatus: (req) => checkIdField(req, 'pod_sandbox_id'),
  PodSandboxStats: (req) => checkIdField(req, 'pod_sandbox_id'),
  ListPodSandbox: (req) => checkFilter(obj(req['filter']), 'filter', SANDBOX_STATES),
  StreamPodSandboxes: (req) => checkFilter(obj(req['filter']), 'filter', SANDBOX_STATES),
  ListPodSandboxStats: (req) => checkFilter(obj(req['filter']), 'filter'),
  StreamPodSandboxStats: (req) => checkFilter(obj(req['filter']), 'filter'),
  CreateContainer: async (req, env) => {
    checkIdField(req, 'pod_sandbox_id');
    await checkContainerConfig(obj(req['config']), env);
    // The pod's config rides along (kubelet sends the one it ran the pod with): same rules.
    if (obj(req['sandbox_config'])) await checkPodConfig(obj(req['sandbox_config']), 'sandbox_config', env);
  },
  StartContainer: (req) => checkIdField(req, 'container_id'),
  StopContainer: (req) => {
    checkIdField(req, 'container_id');
    checkTimeout(req['timeout'], 'timeout');
  },
  RemoveContainer: (req) => checkIdField(req, 'container_id'),
  ContainerStatus: (req) => checkIdField(req, 'container_id'),
  ContainerStats: (req) => checkIdField(req, 'container_id'),
  ReopenContainerLog: (req) => checkIdField(req, 'container_id'),
  ListContainers: (req) => checkFilter(obj(req['filter']), 'filter', CONTAINER_STATES),
  StreamContainers: (req) => checkFilter(obj(req['filter']), 'filter', CONTAINER_STATES),
  ListContainerStats: (req) => checkFilter(obj(req['filter']), 'filter'),
  StreamContainerStats: (req) => checkFilter(obj(req['filter']), 'filter'),
  UpdateContainerResources: (req, env) => {
    checkIdField(req, 'container_id');
    const linux = obj(req['linux']);
    if (linux) checkResources(linux as unknown as CriResourcesWithOom, 'linux', env.host, { memoryFloor: true });
    checkAnnotations(map(req['annotations']), 'annotations');
  },
  ExecSync: (req) => {
    checkIdField(req, 'container_id');
    checkCommand(strs(req['cmd']), 'cmd', { required: true });
    checkTimeout(req['timeout'], 'timeout');
  },
  Exec: (req) => {
    checkIdField(req, 'container_id');
    checkCommand(strs(req['cmd']), 'cmd', { required: true });
  },
  Attach: (req) => checkIdField(req, 'container_id'),
  PortForward: (req) => checkIdField(req, 'pod_sandbox_id'),
  UpdateRuntimeConfig: (req) => {
    const cidr = str(obj(obj(req['runtime_config'])?.['network_config'])?.['pod_cidr']);
    checkString(cidr, 'runtime_config.network_config.pod_cidr', 1024);
  },
  PullImage: async (req, env) => {
    checkImageSpec(obj(req['image']), 'image', true);
    if (obj(req['sandbox_config'])) await checkPodConfig(obj(req['sandbox_config']), 'sandbox_config', env);
  },
  ImageStatus: (req) => checkImageSpec(obj(req['image']), 'image', true),
  RemoveImage: (req) => checkImageSpec(obj(req['image']), 'image', true),
  ListImages: (req) => checkImageSpec(obj(obj(req['filter'])?.['image'] ?? null), 'filter.image', false),
  StreamImages: (req) => checkImageSpec(obj(obj(req['filter'])?.['image'] ?? null), 'filter.image', false),
};

/** Validates one request of `method`: the general bounds, then the RPC's own rule. */
export async function validateRequest(method: string, req: unknown, env: ValidationEnv): Promise<void> {
  checkBounds(req, '');
  const rule = REQUEST_RULES[method];
  if (rule) await rule((obj(req) ?? {}) as Req, env);
}
