// What berth records about a pod sandbox: the request as given and what berth built
// for it, so that stop and remove work exactly (also after a berthd restart).
import type { PodSandboxConfig__Output } from '../../wire/cri/generated/runtime/v1/PodSandboxConfig.js';
import type { PodCgroup } from '../cgroups/driver.js';

export type SandboxState = 'SANDBOX_READY' | 'SANDBOX_NOTREADY';
export type NamespaceMode = 'POD' | 'CONTAINER' | 'NODE' | 'TARGET';

/** Pinned namespace files (bind mounts of nsfs) under <state>/ns/<id>/. */
export interface PinnedNamespaces {
  dir: string;
  net?: string;
  ipc?: string;
  uts?: string;
}

export interface CniAttachment {
  /** The network config list as used for ADD: DEL must use the same, even if the file changed. */
  conflist: Record<string, unknown>;
  ifname: string;
  netns: string;
  /** CNI_ARGS given to ADD (K8S_POD_* …). */
  args: string;
  /** runtimeConfig entries handed to plugins that declared the capability. */
  runtimeConfig: Record<string, unknown>;
  /** Final result of ADD (needed as prevResult for DEL). */
  result?: Record<string, unknown>;
  /** True once DEL succeeded: nothing left to tear down. */
  deleted: boolean;
}

/** The pod's init process, only for pods that share one PID namespace (PID mode POD). */
export interface PodInit {
  pid: number;
  /** Start time (clock ticks since boot, /proc/PID/stat field 22): guards against PID reuse. */
  startTime: string;
  /** /proc/<pid>/ns/pid, the namespace the pod's containers join. */
  pidns: string;
}

/** The pod's cgroup (or slice) as the cgroup manager made or found it. */
export type { PodCgroup } from '../cgroups/driver.js';

export interface SandboxRuntime {
  /** Per-pod files for containers: hostname, hosts, resolv.conf. */
  filesDir: string;
  hostnamePath: string;
  hostsPath: string;
  resolvConfPath: string;
  /** tmpfs for the pod's /dev/shm (absent with IPC mode NODE). */
  shmPath?: string;
  namespaces: PinnedNamespaces;
  networkMode: NamespaceMode;
  ipcMode: NamespaceMode;
  pidMode: NamespaceMode;
  cni?: CniAttachment;
  /** Pod IPs, primary first. */
  ips: string[];
  cgroup?: PodCgroup;
  init?: PodInit;
  /** Nanoseconds; set once the pod is stopped. */
  stoppedAt?: string;
}

export interface SandboxRecord {
  id: string;
  name: string;
  namespace: string;
  uid: string;
  attempt: number;
  state: SandboxState;
  /** Nanoseconds since the epoch, decimal. */
  createdAt: string;
  handler: string;
  config: PodSandboxConfig__Output;
  runtime: SandboxRuntime;
}
