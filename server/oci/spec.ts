// CRI container config + sandbox config + image config + host facts → OCI runtime-spec
// config.json. One pure function: everything the host knows (namespace paths, the image's
// passwd/group, the seccomp file, capabilities the runtime holds) comes in as arguments, so
// it is unit-tested without root and the shim only writes the result.
//
// Behaviour follows containerd's CRI plugin (internal/cri/server/container_create_linux.go
// and internal/cri/opts), which is what kubelet and critest expect of a runtime.
import { failedPrecondition, invalidArgument, unimplemented } from '../errors.js';
import type { ContainerConfig__Output } from '../../wire/cri/generated/runtime/v1/ContainerConfig.js';
import type { PodSandboxConfig__Output } from '../../wire/cri/generated/runtime/v1/PodSandboxConfig.js';
import { fromCriResources, toOciResources } from '../cgroups/convert.js';
import type { Propagation } from '../../hostutil/mountinfo.js';
import { containerAnnotations } from './annotations.js';
import { containerCapabilities, KNOWN_CAPABILITIES, ociCapabilities } from './capabilities.js';
import { containerDevices, type DeviceLookup, type HostDevice } from './devices.js';
import { containerMounts, type PodFiles } from './mounts.js';
import { containerNamespaces, type NamespacePaths } from './namespaces.js';
import { processArgs, processCwd, processEnv } from './process.js';
import { defaultSeccompProfile, parseSeccompProfile, seccompChoice } from './seccomp.js';
import { OCI_RUNTIME_SPEC_VERSION, type OciImageConfig, type OciSeccomp, type OciSpec } from './types.js';
import { resolveUser } from './user.js';

/** Paths under /proc and /sys hidden from unprivileged containers (containerd's defaults). */
export const DEFAULT_MASKED_PATHS: readonly string[] = [
  '/proc/acpi',
  '/proc/asound',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/sys/firmware',
  '/sys/devices/virtual/powercap',
  '/proc/scsi',
];

/** Paths under /proc made read-only for unprivileged containers (containerd's defaults). */
export const DEFAULT_READONLY_PATHS: readonly string[] = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

/** What the host and the sandbox know; none of it comes from the CRI request. */
export interface SpecHostOptions {
  /** The container's rootfs (the overlay mount point). */
  rootfsPath: string;
  /** linux.cgroupsPath: the container's cgroup (cgroups/paths.ts containerCgroupPath). */
  cgroupsPath: string;
  cgroupVersion: 1 | 2;
  /** Pinned namespaces of the pod and PID namespaces to join. */
  namespaces: NamespacePaths;
  /** The pod's hosts, resolv.conf, hostname and shm on the host. */
  podFiles: PodFiles;
  /** The image's /etc/passwd and /etc/group text (null = the file does not exist). */
  passwd: string | null;
  group: string | null;
  /**
   * The lowest oom_score_adj this host lets us set (our own value when we lack
   * CAP_SYS_RESOURCE, containerd's restrict_oom_score_adj); -1000 when unrestricted.
   */
  minOomScoreAdj: number;
  /** Capabilities the runtime holds (capabilities.ts effectiveCapabilitiesFromStatus); default all. */
  hostCapabilities?: readonly string[];
  /** Every device of the host, for privileged containers (devices.ts readHostDevices('/dev')). */
  hostDevices?: readonly HostDevice[];
  /** Resolves CRI device host paths (devices.ts readHostDevices). */
  deviceLookup?: DeviceLookup;
  /** Text of the Localhost seccomp profile file named by seccompChoice(); required for Localhost. */
  localhostSeccompProfile?: string;
  /** The AppArmor profile to apply (loaded by the caller: server/container/apparmor.ts); none when undefined. */
  apparmorProfile?: string;
  /** The kernel supports seccomp (default true); without it only Unconfined is accepted. */
  seccompEnabled?: boolean;
  /** Node `process.arch` and kernel [major, minor] for the RuntimeDefault profile. */
  arch?: string;
  kernel?: readonly [number, number];
  /** pids limit from berth's config (CRI has none). */
  pidsLimit?: number;
  /** The host accounts swap; default true. */
  swapAccounting?: boolean;
  /** The OCI runtime supports "rro" mounts (runc ≥ 1.2). Default false (Debian's runc 1.1). */
  recursiveReadOnlyMounts?: boolean;
  hostPropagation?: (hostPath: string) => Propagation;
  resolveHostPath?: (hostPath: string) => string;
  /** The node's hostname, for HOSTNAME when the pod sets none. */
  nodeHostname?: string;
}

export interface ContainerSpecInput {
  containerId: string;
  sandboxId: string;
  /** The image reference the container was created from (io.kubernetes.cri.image-name). */
  imageName: string;
  config: ContainerConfig__Output;
  sandboxConfig: PodSandboxConfig__Output;
  image: OciImageConfig;
  host: SpecHostOptions;
}

/** containerd's restrict_oom_score_adj: never below what the host allows, never outside −1000..1000. */
export function clampOomScoreAdj(requested: number, hostMinimum: number): number {
  const inRange = Math.min(Math.max(requested, -1000), 1000);
  return Math.max(inRange, Math.min(Math.max(hostMinimum, -1000), 1000));
}

// Sysctls that are namespaced, by the namespace that makes them so (runc's validator).
const IPC_SYSCTLS = new Set(['kernel.msgmax', 'kernel.msgmnb', 'kernel.msgmni', 'kernel.sem', 'kernel.shmall', 'kernel.shmmax', 'kernel.shmmni', 'kernel.shm_rmid_forced']);

/** Kubernetes also spells sysctls with "/" ("net/ipv4/ip_forward"); dots and slashes swap roles then. */
export function normalizeSysctlName(name: string): string {
  if (!name.includes('/')) return name;
  return name.replace(/[./]/g, (c) => (c === '/' ? '.' : '/'));
}

function checkSysctls(sysctls: Readonly<Record<string, string>>, hostNetwork: boolean, hostIpc: boolean): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [raw, value] of Object.entries(sysctls)) {
    const name = normalizeSysctlName(raw);
    if (IPC_SYSCTLS.has(name) || name.startsWith('fs.mqueue.')) {
      if (hostIpc) throw invalidArgument(`sysctl ${name} needs a pod IPC namespace, but the pod uses the host's`);
    } else if (name.startsWith('net.')) {
      if (hostNetwork) throw invalidArgument(`sysctl ${name} needs a pod network namespace, but the pod uses the host's`);
    } else if (name === 'kernel.domainname') {
      if (hostNetwork) throw invalidArgument(`sysctl ${name} needs a pod UTS namespace, but the pod uses the host's`);
    } else {
      throw invalidArgument(`sysctl ${name} is not namespaced and cannot be set for a pod`);
    }
    out[name] = value;
  }
  return out;
}

/** The OCI spec for one container. Throws BerthErrors (mostly InvalidArgument) on bad requests. */
export function buildContainerSpec(input: ContainerSpecInput): OciSpec {
  const { config, sandboxConfig, image, host } = input;
  if (!config.metadata || config.metadata.name === '') throw invalidArgument('container config has no metadata name');
  // Better a clear refusal than a container silently missing the devices it asked for.
  if (config.CDI_devices.length > 0) throw unimplemented(`CDI devices are not supported (${config.CDI_devices.map((d) => d.name).join(', ')})`);
  const linux = config.linux;
  const sc = linux?.security_context ?? null;
  const podSc = sandboxConfig.linux?.security_context ?? null;
  const privileged = sc?.privileged ?? false;
  if (privileged && !(podSc?.privileged ?? false)) {
    throw invalidArgument('a privileged container needs a privileged sandbox');
  }
  const hostCaps = host.hostCapabilities ?? KNOWN_CAPABILITIES;

  const ns = containerNamespaces(sc?.namespace_options ?? null, podSc?.namespace_options ?? null, host.namespaces, host.cgroupVersion === 2 && !privileged);

  const caps = privileged ? [...hostCaps] : containerCapabilities(sc?.capabilities ?? null, hostCaps);

  const user = resolveUser({
    cri: {
      run_as_user: sc?.run_as_user ?? null,
      run_as_username: sc?.run_as_username ?? '',
      run_as_group: sc?.run_as_group ?? null,
      supplemental_groups: sc?.supplemental_groups ?? [],
      supplemental_groups_policy: sc?.supplemental_groups_policy ?? 'Merge',
    },
    imageUser: image.User ?? '',
    passwd: host.passwd,
    group: host.group,
  });

  const choice = seccompChoice(sc ? { seccomp: sc.seccomp, seccomp_profile_path: sc.seccomp_profile_path, privileged } : null);
  let seccomp: OciSeccomp | undefined;
  if (choice.kind !== 'unconfined' && host.seccompEnabled === false) {
    throw failedPrecondition('seccomp was requested but the host kernel does not support it');
  }
  if (choice.kind === 'runtime-default') {
    seccomp = defaultSeccompProfile(caps, { ...(host.arch ? { arch: host.arch } : {}), ...(host.kernel ? { kernel: host.kernel } : {}) });
  } else if (choice.kind === 'localhost') {
    if (host.localhostSeccompProfile === undefined) throw failedPrecondition(`seccomp profile ${choice.path} was not loaded`);
    seccomp = parseSeccompProfile(host.localhostSeccompProfile, choice.path);
  }

  const readonlyRootfs = sc?.readonly_rootfs ?? false;
  const mountPlan = containerMounts({
    criMounts: config.mounts,
    podFiles: host.podFiles,
    readonlyRootfs,
    privileged,
    hostIpc: ns.hostIpc,
    recursiveReadOnlySupported: host.recursiveReadOnlyMounts ?? false,
    ...(host.hostPropagation ? { hostPropagation: host.hostPropagation } : {}),
    ...(host.resolveHostPath ? { resolveHostPath: host.resolveHostPath } : {}),
  });

  const devicePlan = containerDevices(config.devices, privileged, {
    ...(host.deviceLookup ? { lookup: host.deviceLookup } : {}),
    ...(host.hostDevices ? { hostDevices: host.hostDevices } : {}),
  });

  const cgroupResources = fromCriResources(linux?.resources ?? null, {
    ...(host.pidsLimit !== undefined ? { pidsLimit: host.pidsLimit } : {}),
    swapAccounting: host.swapAccounting ?? true,
  });
  if (host.cgroupVersion === 1 && cgroupResources.unified) {
    throw invalidArgument(`the unified cgroup map (${Object.keys(cgroupResources.unified).join(', ')}) needs cgroup v2; this host uses cgroup v1`);
  }

  const podHostname = sandboxConfig.hostname;
  const spec: OciSpec = {
    ociVersion: OCI_RUNTIME_SPEC_VERSION,
    process: {
      terminal: config.tty,
      user: { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids },
      args: processArgs(config.command, config.args, image),
      env: processEnv(podHostname || host.nodeHostname || '', image.Env, config.envs),
      cwd: processCwd(config.working_dir, image),
      capabilities: ociCapabilities(caps),
      noNewPrivileges: sc?.no_new_privs ?? false,
    },
    root: { path: host.rootfsPath, readonly: readonlyRootfs },
    mounts: mountPlan.mounts,
    annotations: containerAnnotations({
      sandboxId: input.sandboxId,
      containerName: config.metadata.name,
      imageName: input.imageName,
      sandboxName: sandboxConfig.metadata?.name ?? '',
      sandboxNamespace: sandboxConfig.metadata?.namespace ?? '',
      sandboxUid: sandboxConfig.metadata?.uid ?? '',
      criAnnotations: config.annotations,
    }),
    linux: {
      namespaces: ns.namespaces,
      resources: toOciResources(cgroupResources, devicePlan.rules),
      cgroupsPath: host.cgroupsPath,
      devices: devicePlan.devices,
      // Privileged containers see /proc and /sys whole, as with containerd and Docker.
      maskedPaths: privileged ? [] : sc && sc.masked_paths.length > 0 ? [...sc.masked_paths] : [...DEFAULT_MASKED_PATHS],
      readonlyPaths: privileged ? [] : sc && sc.readonly_paths.length > 0 ? [...sc.readonly_paths] : [...DEFAULT_READONLY_PATHS],
    },
  };
  // runc refuses a hostname when it joins an existing UTS namespace; the pinned one already has it.
  if (ns.newUts && podHostname) spec.hostname = podHostname;
  if (linux?.resources) {
    const adj = linux.resources.oom_score_adj || '0';
    if (!/^-?\d+$/.test(adj)) throw invalidArgument(`oom_score_adj ${JSON.stringify(adj)} is not an integer`);
    spec.process.oomScoreAdj = clampOomScoreAdj(Number(adj), host.minOomScoreAdj);
  }
  if (mountPlan.rootfsPropagation) spec.linux.rootfsPropagation = mountPlan.rootfsPropagation;
  const sysctls = checkSysctls(sandboxConfig.linux?.sysctls ?? {}, ns.hostNetwork, ns.hostIpc);
  if (Object.keys(sysctls).length > 0) spec.linux.sysctl = sysctls;
  if (seccomp) spec.linux.seccomp = seccomp;
  if (host.apparmorProfile !== undefined) spec.process.apparmorProfile = host.apparmorProfile;
  return spec;
}
