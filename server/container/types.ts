// What berth records about a container: the request as given, what berth built for it
// (paths, cgroup, runtime handler) and its lifecycle, so that every RPC and a berthd
// restart work from the record alone.
import type { ContainerConfig__Output } from '../../wire/cri/generated/runtime/v1/ContainerConfig.js';
import type { OciUser } from '../oci/types.js';
import type { LinuxContainerResources__Output } from '../../wire/cri/generated/runtime/v1/LinuxContainerResources.js';

export type ContainerState = 'CONTAINER_CREATED' | 'CONTAINER_RUNNING' | 'CONTAINER_EXITED' | 'CONTAINER_UNKNOWN';

export interface ContainerPaths {
  /** <root>/containers/<id>: upper, work, rootfs (the overlay mount point). */
  dir: string;
  rootfs: string;
  upper: string;
  work: string;
  /** <state>/containers/<id>: OCI bundle and conmon's files (pidfile, conmon.pid, ctl, oom, exit). */
  bundle: string;
  /** <state>/exits/<id>: conmon's exit file. */
  exitFile: string;
  /** <state>/sock: conmon's socket dir (it links <id> to the bundle there). */
  socketDir: string;
}

export interface ContainerRecord {
  id: string;
  sandboxId: string;
  name: string;
  attempt: number;
  state: ContainerState;
  /** True until CreateContainer finished: hidden from lists, cleaned up by recovery. */
  creating: boolean;
  /** Nanoseconds since the epoch, decimal ('0' = not yet). */
  createdAt: string;
  startedAt: string;
  finishedAt: string;
  exitCode: number;
  reason: string;
  message: string;
  handler: string;
  runtimePath: string;
  runtimeRoot: string;
  image: { /** as requested */ ref: string; id: string; imageRef: string };
  config: ContainerConfig__Output;
  /** Absolute path of the CRI log ('' when the pod has no log directory). */
  logPath: string;
  /** Where conmon writes the log (logPath, or a file in the bundle when there is none). */
  monitorLogPath: string;
  paths: ContainerPaths;
  cgroupsPath: string;
  /** Cgroup directories (absolute) that did not exist before this container: removed when empty. */
  cgroupCreated: string[];
  pid: number;
  conmonPid: number;
  /** Current resources (as created, then as updated). */
  resources: LinuxContainerResources__Output | null;
  stopSignal: string;
  /** The process user as resolved into the OCI spec. */
  user?: OciUser;
}
