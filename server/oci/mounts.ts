// The container's mount table: the runtime's own filesystems (proc, dev, sysfs, cgroup …),
// the pod's files (/etc/hosts, /etc/resolv.conf, /etc/hostname, /dev/shm) and the CRI
// mounts, with their propagation mapped to OCI options and rootfsPropagation.
import { posix } from 'node:path';
import { failedPrecondition, invalidArgument, unimplemented } from '../errors.js';
import { shown } from '../validate/text.js';
import type { Propagation } from '../../hostutil/mountinfo.js';
import type { OciLinux, OciMount } from './types.js';

/** The fields of a CRI Mount that we read (generated `Mount__Output`). */
export interface CriMount {
  container_path: string;
  host_path: string;
  readonly: boolean;
  selinux_relabel: boolean;
  propagation: string;
  recursive_read_only?: boolean;
  uidMappings?: readonly unknown[];
  gidMappings?: readonly unknown[];
  image?: { image: string } | null;
  image_sub_path?: string;
  mount_options?: readonly string[];
}

/** Files the pod sandbox prepared on the host; each is bind-mounted when given. */
export interface PodFiles {
  hostsPath?: string;
  resolvConfPath?: string;
  hostnamePath?: string;
  /** The pod's /dev/shm (a tmpfs shared by its containers). */
  shmPath?: string;
}

export interface MountInputs {
  criMounts: readonly CriMount[];
  podFiles: PodFiles;
  readonlyRootfs: boolean;
  privileged: boolean;
  /** The container shares the host's IPC namespace: it then sees the host's /dev/shm. */
  hostIpc: boolean;
  /** The runtime supports recursive read-only bind mounts ("rro"; runc ≥ 1.2, kernel ≥ 5.12). */
  recursiveReadOnlySupported?: boolean;
  /**
   * Propagation of the mount a host path lives on (from mountinfo). When given, rshared and
   * rslave requests are checked against it as containerd does; a private source would make
   * them silently useless.
   */
  hostPropagation?: (hostPath: string) => Propagation;
  /** Resolve symlinks and check existence of a host path (throws when missing). Default: as given. */
  resolveHostPath?: (hostPath: string) => string;
}

export interface MountPlan {
  mounts: OciMount[];
  rootfsPropagation?: OciLinux['rootfsPropagation'];
}

/** The filesystems every container gets (containerd's defaults without /run). */
export function defaultMounts(privileged: boolean): OciMount[] {
  return [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
    },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    // Privileged containers get writable sysfs and cgroupfs, as with containerd.
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', privileged ? 'rw' : 'ro'] },
    {
      destination: '/sys/fs/cgroup',
      type: 'cgroup',
      source: 'cgroup',
      options: ['nosuid', 'noexec', 'nodev', 'relatime', privileged ? 'rw' : 'ro'],
    },
  ];
}

function cleanContainerPath(p: string): string {
  if (!p.startsWith('/')) throw invalidArgument(`mount container_path ${shown(p)} is not an absolute path`);
  const clean = posix.normalize(p);
  return clean.length > 1 && clean.endsWith('/') ? clean.slice(0, -1) : clean;
}

const depth = (p: string) => (p === '/' ? 0 : p.split('/').length - 1);

/** The pod's files as mounts, unless the CRI config mounts something at the same place. */
function podFileMounts(inputs: MountInputs, taken: ReadonlySet<string>): CriMount[] {
  const out: CriMount[] = [];
  const add = (containerPath: string, hostPath: string | undefined, readonly: boolean) => {
    if (!hostPath || taken.has(containerPath)) return;
    out.push({ container_path: containerPath, host_path: hostPath, readonly, selinux_relabel: false, propagation: 'PROPAGATION_PRIVATE' });
  };
  // These files follow readonly_rootfs: a read-only container should not rewrite its resolv.conf.
  add('/etc/hostname', inputs.podFiles.hostnamePath, inputs.readonlyRootfs);
  add('/etc/hosts', inputs.podFiles.hostsPath, inputs.readonlyRootfs);
  add('/etc/resolv.conf', inputs.podFiles.resolvConfPath, inputs.readonlyRootfs);
  add('/dev/shm', inputs.hostIpc ? '/dev/shm' : inputs.podFiles.shmPath, false);
  return out;
}

function bindOptions(m: CriMount, inputs: MountInputs, hostPath: string, plan: MountPlan): string[] {
  const options = ['rbind'];
  switch (m.propagation) {
    case 'PROPAGATION_PRIVATE':
      // runc's default root propagation is already rprivate.
      options.push('rprivate');
      break;
    case 'PROPAGATION_HOST_TO_CONTAINER': {
      const p = inputs.hostPropagation?.(hostPath);
      if (p === 'private') {
        throw failedPrecondition(`host path ${hostPath} is on a private mount; HostToContainer propagation needs a shared or slave mount`);
      }
      options.push('rslave');
      if (plan.rootfsPropagation !== 'rshared') plan.rootfsPropagation = 'rslave';
      break;
    }
    case 'PROPAGATION_BIDIRECTIONAL': {
      const p = inputs.hostPropagation?.(hostPath);
      if (p !== undefined && p !== 'shared') {
        throw failedPrecondition(`host path ${hostPath} is not on a shared mount; Bidirectional propagation needs one`);
      }
      options.push('rshared');
      plan.rootfsPropagation = 'rshared';
      break;
    }
    default:
      throw invalidArgument(`unknown mount propagation ${shown(m.propagation)} for ${m.container_path}`);
  }
  if (m.readonly) {
    if (m.recursive_read_only) {
      if (!inputs.recursiveReadOnlySupported) {
        throw invalidArgument(`recursive read-only mounts are not supported by this runtime handler (host path ${m.host_path})`);
      }
      if (m.propagation !== 'PROPAGATION_PRIVATE') {
        throw invalidArgument(`recursive read-only mount of ${m.host_path} needs private propagation`);
      }
      options.push('rro');
    } else {
      options.push('ro');
    }
  } else {
    if (m.recursive_read_only) throw invalidArgument(`recursive read-only conflicts with a read-write mount of ${m.host_path}`);
    options.push('rw');
  }
  return options;
}

/**
 * The mount table, ordered for runc: defaults first (minus those a supplied mount replaces,
 * and minus everything under /dev when /dev itself is supplied), then the supplied mounts
 * sorted by depth so that a parent never hides a child mounted before it.
 * SELinux relabelling is not supported on our hosts and is ignored.
 */
export function containerMounts(inputs: MountInputs): MountPlan {
  const plan: MountPlan = { mounts: [] };
  const cri = inputs.criMounts.map((m) => {
    if (m.host_path === '') {
      if (m.image) throw unimplemented(`image volume mounts are not supported (${m.container_path})`);
      throw invalidArgument(`mount at ${shown(m.container_path)} has no host_path`);
    }
    if ((m.uidMappings?.length ?? 0) > 0 || (m.gidMappings?.length ?? 0) > 0) {
      throw unimplemented(`id-mapped mounts are not supported (${m.container_path})`);
    }
    return { ...m, container_path: cleanContainerPath(m.container_path) };
  });
  const criPaths = new Set(cri.map((m) => m.container_path));
  if (criPaths.size !== cri.length) {
    const seen = new Set<string>();
    for (const m of cri) {
      if (seen.has(m.container_path)) throw invalidArgument(`duplicate mount destination ${m.container_path}`);
      seen.add(m.container_path);
    }
  }
  const supplied = [...cri, ...podFileMounts(inputs, criPaths)];
  const suppliedPaths = new Set(supplied.map((m) => m.container_path));

  for (const d of defaultMounts(inputs.privileged)) {
    if (suppliedPaths.has(d.destination)) continue;
    if (suppliedPaths.has('/dev') && d.destination.startsWith('/dev/')) continue;
    plan.mounts.push(d);
  }

  // Array.prototype.sort is stable, so equal depths keep the caller's order.
  const sorted = [...supplied].sort((a, b) => depth(a.container_path) - depth(b.container_path));
  const resolve = inputs.resolveHostPath ?? ((p: string) => p);
  for (const m of sorted) {
    const source = resolve(m.host_path);
    plan.mounts.push({ destination: m.container_path, type: 'bind', source, options: bindOptions(m, inputs, source, plan) });
  }
  return plan;
}
