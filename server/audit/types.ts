// The leak auditor's vocabulary (issue 13 item 7), shared by berthd (admin endpoint), the
// `berth leaks` command, the test suite's leftover check and the kill-point test: what a
// finding is, what the auditor needs to know about berth's records, and where it looks.
// The JSON form of a Finding is the stable `berth leaks -o json` schema (README).
import type { CgroupLayout } from '../cgroups/detect.js';
import type { CgroupDriverName } from '../cgroups/config.js';
import type { SandboxRuntime, SandboxState } from '../sandbox/types.js';
import type { ContainerPaths, ContainerState } from '../container/types.js';

/** What leaked. Order of repair: see REPAIR_PHASES in repair.ts. */
export type LeakKind =
  | 'conmon' // a conmon process of this berth instance for a container it has no record of
  | 'runtime-process' // a runc/crun process working on such a container
  | 'runtime-container' // runc/crun state (and the container's processes) of such a container
  | 'pod-init' // catatonit holding the PID namespace of an unknown pod
  | 'rootfs-mount' // a container's overlay rootfs still mounted
  | 'shm-mount' // a pod's /dev/shm tmpfs still mounted
  | 'netns-pin' // a pinned net/ipc/uts namespace (nsfs bind mount)
  | 'veth' // a host veth on berth's CNI bridge that belongs to no pod
  | 'ip-reservation' // a host-local IPAM reservation held for an unknown pod
  | 'cgroup' // a cgroup directory berth made (cgroupfs) for no known pod/container
  | 'systemd-unit' // a berth scope or slice (systemd driver) for no known pod/container
  | 'directory' // bundles, container/pod state directories, exit files, attach socket dirs
  | 'layer' // an unpacked layer no image or container uses, or one without a record
  | 'blob' // a content blob no image uses
  | 'lease' // a layer lease held by a container berth has no record of
  | 'record'; // a record whose host resources are gone (or whose create was interrupted)

export type RepairAction =
  | { action: 'kill'; pid: number; startTime: string }
  | { action: 'runtime-delete'; runtime: string; root: string; id: string }
  | { action: 'unmount'; path: string }
  | { action: 'link-delete'; name: string }
  | { action: 'ipam-release'; file: string; lock: string }
  | { action: 'rmdir-cgroup'; paths: string[]; /** A pod level: also dropped from the store's pod_cgroup_dirs. */ forget?: string }
  | { action: 'stop-unit'; unit: string }
  | { action: 'remove-path'; path: string }
  | { action: 'collect-image-garbage'; key: string; path: string }
  | { action: 'release-lease'; holder: string }
  | { action: 'delete-container-record'; id: string }
  | { action: 'mark-container-exited'; id: string }
  | { action: 'mark-sandbox-notready'; id: string }
  | { action: 'forget-created-cgroup'; setting: string; entry: string };

export interface Finding {
  kind: LeakKind;
  /** What it is: a pid, a mount point, a link name, an IP, a chain id, a record id. */
  id: string;
  /** The berth container or pod it was made for, when known (64 hex characters). */
  owner?: string;
  path?: string;
  pid?: number;
  /** Why this is a leak, in words. */
  why: string;
  /** What `--repair` does about it, in words. */
  fix: string;
  repair: RepairAction;
}

/** A pod berth has a record of, as the auditor needs it. */
export interface KnownSandbox {
  id: string;
  state: SandboxState;
  runtime: SandboxRuntime;
  /** Its config's cgroup_parent as a path below the hierarchy roots: in use even before the record names the cgroup (a create in progress). */
  cgroupParent?: string;
}

/** A container berth has a record of. */
export interface KnownContainer {
  id: string;
  sandboxId: string;
  state: ContainerState;
  /** Recorded, but CreateContainer has not finished. */
  creating: boolean;
  /** berthd is creating it right now (its lock is held): live, not interrupted. */
  inFlight: boolean;
  conmonPid: number;
  paths: ContainerPaths;
  cgroupsPath: string;
  handler: string;
  runtimePath: string;
  runtimeRoot: string;
}

export interface LayerRow {
  chainId: string;
}

/** berth's records: from the running berthd's stores, or read from meta.db with berthd down. */
export interface AuditRecords {
  sandboxes: KnownSandbox[];
  containers: KnownContainer[];
  /** cgroupfs: shared pod cgroup levels berth created (settings `pod_cgroup_dirs`). */
  podCgroupDirs: string[];
  /** systemd: parent slices berth started (settings `pod_slices`). */
  podSlices: string[];
  layers: LayerRow[];
  usedLayers: Set<string>;
  usedBlobs: Set<string>;
  leaseHolders: string[];
  /** Image content a running pull holds (berthd only): never reported. */
  pinned(key: string): boolean;
}

/** Where this berth instance keeps things; everything the auditor attributes to berth hangs off these. */
export interface AuditScope {
  root: string;
  state: string;
  runtimes: Array<{ name: string; path: string; root: string }>;
  cni: { confDir: string; binDirs: string[] };
  cgroups: { layout: CgroupLayout; driver: CgroupDriverName };
  /** Where the files under /proc are (tests of the pure parts give their own). */
  procRoot?: string;
}

export interface AuditReport {
  /** 'berthd': audited by the running berthd; 'read-only': read from the host and meta.db with berthd down. */
  mode: 'berthd' | 'read-only';
  findings: Finding[];
  /** Things the auditor could not look at (a tool missing, a directory unreadable): never silent. */
  warnings: string[];
}

export interface RepairOutcome {
  finding: Finding;
  ok: boolean;
  /** What happened: "done", "already gone", or the error. */
  result: string;
}

export interface RepairReport {
  /** 'berthd': repaired by the running berthd under its locks; 'direct': berthd down, repaired with berthd's socket held. */
  mode: 'berthd' | 'direct';
  before: Finding[];
  repairs: RepairOutcome[];
  /** The audit run again after the repairs. */
  after: Finding[];
  warnings: string[];
}
