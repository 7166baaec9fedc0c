// What the benchmark needs from a runtime under test: a CRI client on its own socket, the
// directory that holds (and marks) everything the instance owns, where pod logs and pod
// cgroups go, and a stop that leaves nothing behind.
import type { CriClient } from '../../conformance/client.js';

/** 'berth', 'containerd', or with --berth-handlers a berth variant 'berth+<handler>'. */
export type RuntimeName = string;

export interface BenchRuntime {
  name: RuntimeName;
  /**
   * runtime_handler of every pod (berth variants with --berth-handlers); their pods also carry
   * the label `berth-bench-variant=<name>`, so removing one variant's pods leaves the other's.
   */
  handler?: string;
  /** `unix:///…` */
  endpoint: string;
  client: CriClient;
  /**
   * Everything the instance owns lives below this directory. Its processes carry
   * `BERTH_TEST_RUN=<dir>` in their environment or name a path below it on their command
   * line; that is how the density and pull scenarios find them.
   */
  dir: string;
  /** The daemon's pid (berthd or containerd). */
  pid(): number;
  /** berthd's Prometheus endpoint (the scrape scenario). */
  metricsUrl?(): string | undefined;
  /** Pod log directories are created below this (berthd refuses others). */
  logRoot: string;
  /** Every pod's cgroup_parent is `<cgroupParent>/pod<uid>`; the bench creates and removes this directory. */
  cgroupParent: string;
  /** The CNI bridge and subnet this instance's pods use. */
  bridge: string;
  subnet: string;
  /** Where the runtime keeps image blobs and unpacked layers (to check RemoveImage freed them). */
  imageStoreDirs: string[];
  /** Stops the daemon and everything it started; removes mounts, bridge and directories. Idempotent. */
  stop(): Promise<void>;
}
