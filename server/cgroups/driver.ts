// The cgroup driver interface (CRI-O's cgmgr.CgroupManager): who owns the cgroup tree and
// how pods and containers are placed in it. cgroupfs (cgroupfs.ts): berth makes directories
// and runc/crun make the container's. systemd (systemd.ts): systemd owns the tree; pods are
// slices, containers scopes made by the OCI runtime's systemd support, conmon a scope of its own.
import type { CgroupDriverName } from './config.js';

/** A pod's cgroup as recorded with the sandbox (JSON in the store: keep fields optional and additive). */
export interface PodCgroup {
  /** Path below each hierarchy root, e.g. /kubepods/besteffort/pod123 or /kubepods.slice/…/kubepods-besteffort-pod123.slice. */
  path: string;
  /** cgroupfs: directories (relative paths, deepest last) berth created and so removes. */
  created: string[];
  /** systemd: the pod's slice, e.g. kubepods-besteffort-pod123.slice. */
  slice?: string;
  /** systemd: true when berth started the pod's slice (kubelet had not), so berth stops it. */
  sliceStarted?: boolean;
}

/** Where a new container goes. */
export interface ContainerCgroup {
  /** linux.cgroupsPath of the OCI spec: a path (cgroupfs) or "slice:prefix:name" (systemd). */
  cgroupsPath: string;
  /** The cgroup the runtime makes, relative to the hierarchy root (the process may sit below it: crun). */
  path: string;
  /** cgroupfs: absolute directories of the parent that did not exist yet (the runtime makes them; berth removes them when empty). */
  created: string[];
  /**
   * cgroupfs: every absolute directory of the parent, there or not. Containers under the same
   * parent share the ownership of those berth created, so the last of them removes them.
   */
  parents: string[];
}

export interface CgroupDriver {
  readonly name: CgroupDriverName;
  /** A pod's cgroup_parent as the driver takes it (INVALID_ARGUMENT otherwise). */
  parsePodParent(parent: string): string;
  /**
   * Creates the pod's cgroup. `onPlanned`, when given, is told what is about to be created
   * before anything is, so the caller can record it first: a crash in the middle then
   * leaves a record that names everything that may exist (removePod tolerates what does not).
   */
  createPod(parent: string, onPlanned?: (planned: PodCgroup) => void): Promise<PodCgroup>;
  /** Removes only what berth made; idempotent. */
  removePod(pc: PodCgroup): Promise<void>;
  /** The cgroup of a new container of the pod (no pod cgroup: berth's default parent). */
  containerCgroup(pod: PodCgroup | undefined, id: string): Promise<ContainerCgroup>;
  /** cgroupsPath (as recorded) → path below the hierarchy root. */
  pathOf(cgroupsPath: string): string;
  /** Removes a container's `created` directories when empty; the container's own cgroup is the runtime's. */
  removeContainerParents(created: readonly string[]): Promise<void>;
  /** The OCI runtime (through conmon) must drive cgroups through systemd. */
  readonly runtimeSystemd: boolean;
  /** systemd: whether the container's scope unit ended with Result=oom-kill (false when unknown or gone). */
  scopeOomKilled(cgroupsPath: string): Promise<boolean>;
  /** Drops a shared level/slice from the store's list of what berth made (the leak auditor removed it). */
  forgetCreated(entry: string): void;
  /** Moves conmon out of berthd's cgroup (systemd: a scope of its own, so it outlives berthd's unit). */
  placeMonitor(pid: number, containerId: string, pod: PodCgroup | undefined): Promise<void>;
}
