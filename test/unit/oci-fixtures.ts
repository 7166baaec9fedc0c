// Builders for the generated CRI `__Output` shapes (every field present, as grpc-js with
// defaults produces them), so each test states only what it is about.
import type { ContainerConfig__Output } from '../../wire/cri/generated/runtime/v1/ContainerConfig.js';
import type { LinuxContainerResources__Output } from '../../wire/cri/generated/runtime/v1/LinuxContainerResources.js';
import type { LinuxContainerSecurityContext__Output } from '../../wire/cri/generated/runtime/v1/LinuxContainerSecurityContext.js';
import type { Mount__Output } from '../../wire/cri/generated/runtime/v1/Mount.js';
import type { NamespaceOption__Output } from '../../wire/cri/generated/runtime/v1/NamespaceOption.js';
import type { PodSandboxConfig__Output } from '../../wire/cri/generated/runtime/v1/PodSandboxConfig.js';
import type { ContainerSpecInput, SpecHostOptions } from '../../server/oci/spec.js';
import type { OciImageConfig } from '../../server/oci/types.js';

export function namespaceOptions(o: Partial<NamespaceOption__Output> = {}): NamespaceOption__Output {
  return { network: 'POD', pid: 'CONTAINER', ipc: 'POD', target_id: '', userns_options: null, ...o };
}

export function securityContext(o: Partial<LinuxContainerSecurityContext__Output> = {}): LinuxContainerSecurityContext__Output {
  return {
    capabilities: null,
    privileged: false,
    namespace_options: namespaceOptions(),
    selinux_options: null,
    run_as_user: null,
    run_as_username: '',
    readonly_rootfs: false,
    supplemental_groups: [],
    apparmor_profile: '',
    seccomp_profile_path: '',
    no_new_privs: false,
    run_as_group: null,
    masked_paths: [],
    readonly_paths: [],
    seccomp: null,
    apparmor: null,
    supplemental_groups_policy: 'Merge',
    ...o,
  };
}

export function resources(o: Partial<LinuxContainerResources__Output> = {}): LinuxContainerResources__Output {
  return {
    cpu_period: '0',
    cpu_quota: '0',
    cpu_shares: '0',
    memory_limit_in_bytes: '0',
    oom_score_adj: '0',
    cpuset_cpus: '',
    cpuset_mems: '',
    hugepage_limits: [],
    unified: {},
    memory_swap_limit_in_bytes: '0',
    ...o,
  };
}

export function mount(o: Partial<Mount__Output> & { container_path: string; host_path: string }): Mount__Output {
  return {
    readonly: false,
    selinux_relabel: false,
    propagation: 'PROPAGATION_PRIVATE',
    uidMappings: [],
    gidMappings: [],
    recursive_read_only: false,
    image: null,
    image_sub_path: '',
    mount_options: [],
    ...o,
  };
}

export function containerConfig(o: Partial<ContainerConfig__Output> = {}): ContainerConfig__Output {
  return {
    metadata: { name: 'app', attempt: 0 },
    image: { image: 'busybox', annotations: {}, user_specified_image: '', runtime_handler: '', image_ref: '' },
    command: [],
    args: [],
    working_dir: '',
    envs: [],
    mounts: [],
    devices: [],
    labels: {},
    annotations: {},
    log_path: 'app/0.log',
    stdin: false,
    stdin_once: false,
    tty: false,
    linux: { resources: resources(), security_context: securityContext() },
    windows: null,
    CDI_devices: [],
    stop_signal: 'SIGNAL_RUNTIME_DEFAULT',
    ...o,
  };
}

export function sandboxConfig(o: Partial<PodSandboxConfig__Output> = {}): PodSandboxConfig__Output {
  return {
    metadata: { name: 'web-0', uid: 'uid-123', namespace: 'default', attempt: 0 },
    hostname: 'web-0',
    log_directory: '/var/log/pods/default_web-0_uid-123',
    dns_config: null,
    port_mappings: [],
    labels: {},
    annotations: {},
    linux: {
      cgroup_parent: '/kubepods/besteffort/poduid-123',
      security_context: {
        namespace_options: namespaceOptions(),
        selinux_options: null,
        run_as_user: null,
        readonly_rootfs: false,
        supplemental_groups: [],
        privileged: false,
        seccomp_profile_path: '',
        run_as_group: null,
        seccomp: null,
        apparmor: null,
        supplemental_groups_policy: 'Merge',
      },
      sysctls: {},
      overhead: null,
      resources: null,
    },
    windows: null,
    ...o,
  };
}

export const PASSWD = [
  'root:x:0:0:root:/root:/bin/sh',
  'daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin',
  'www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin',
  'alice:x:1002:1002:Alice:/home/alice:/bin/sh',
  'bob:x:1003:1004::/home/bob:/bin/sh',
  '',
].join('\n');

export const GROUP = [
  'root:x:0:',
  'daemon:x:1:',
  'wheel:x:10:root,alice',
  'www-data:x:33:',
  'alice:x:1002:alice',
  'bobs:x:1004:',
  'audio:x:29:alice,bob',
  'video:x:44:bob',
  '',
].join('\n');

export function hostOptions(o: Partial<SpecHostOptions> = {}): SpecHostOptions {
  return {
    rootfsPath: '/var/lib/berth/containers/c1/rootfs',
    cgroupsPath: '/kubepods/besteffort/poduid-123/c1',
    cgroupVersion: 1,
    namespaces: { network: '/run/berth/ns/s1/net', ipc: '/run/berth/ns/s1/ipc', uts: '/run/berth/ns/s1/uts' },
    podFiles: {
      hostsPath: '/var/lib/berth/sandboxes/s1/hosts',
      resolvConfPath: '/var/lib/berth/sandboxes/s1/resolv.conf',
      hostnamePath: '/var/lib/berth/sandboxes/s1/hostname',
      shmPath: '/run/berth/sandboxes/s1/shm',
    },
    passwd: PASSWD,
    group: GROUP,
    minOomScoreAdj: -1000,
    arch: 'x64',
    ...o,
  };
}

export function specInput(o: {
  config?: ContainerConfig__Output;
  sandboxConfig?: PodSandboxConfig__Output;
  image?: OciImageConfig;
  host?: Partial<SpecHostOptions>;
} = {}): ContainerSpecInput {
  return {
    containerId: 'c1',
    sandboxId: 's1',
    imageName: 'docker.io/library/busybox:1.36',
    config: o.config ?? containerConfig(),
    sandboxConfig: o.sandboxConfig ?? sandboxConfig(),
    image: o.image ?? { Cmd: ['sh'], Env: ['PATH=/usr/local/bin:/usr/bin:/bin'] },
    host: hostOptions(o.host),
  };
}
