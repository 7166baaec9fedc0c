// What the container RPCs share: configuration, the container store and locks, the pod
// sandboxes they live in, images (layer leases), the event bus, and facts about the host
// read once.
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { release } from 'node:os';
import type { BerthConfig } from '../config.js';
import type { Logger } from '../logger.js';
import type { KeyedMutex } from '../keyed-mutex.js';
import type { EventBus } from '../events.js';
import type { SandboxDeps } from '../sandbox/deps.js';
import type { ImageManager } from '../image/index.js';
import type { ContainerStore } from './store.js';
import type { ContainerPaths } from './types.js';
import type { RuntimeClient } from '../runtime/client.js';
import type { ShimPool } from '../runtime/shim-pool.js';
import { conmonFiles } from '../runtime/files.js';
import { readMinOomScoreAdj, parseKernelRelease } from '../oci/host.js';
import { effectiveCapabilitiesFromStatus } from '../oci/capabilities.js';
import { hostCgroupRoots } from '../sandbox/pod-cgroup.js';
import { parseMountInfo } from '../../hostutil/mountinfo.js';
import type { MetricsView } from '../../metrics/view.js';

export interface HostFacts {
  minOomScoreAdj: number;
  capabilities: string[];
  cgroupVersion: 1 | 2;
  kernel?: readonly [number, number];
  /** Every cgroup hierarchy mount point (v1 controllers, named ones such as systemd, cgroup2). */
  cgroupMounts: string[];
}

let facts: HostFacts | undefined;
export function hostFacts(): HostFacts {
  if (!facts) {
    const mountinfo = readFileSync('/proc/self/mountinfo', 'utf8');
    const kernel = parseKernelRelease(release());
    facts = {
      minOomScoreAdj: readMinOomScoreAdj(),
      capabilities: effectiveCapabilitiesFromStatus(readFileSync('/proc/self/status', 'utf8')),
      cgroupVersion: hostCgroupRoots().version,
      ...(kernel ? { kernel } : {}),
      cgroupMounts: [...new Set(parseMountInfo(mountinfo).filter((m) => m.fsType === 'cgroup' || m.fsType === 'cgroup2').map((m) => m.mountPoint))],
    };
  }
  return facts;
}

export interface ContainerDeps {
  config: BerthConfig;
  log: Logger;
  store: ContainerStore;
  locks: KeyedMutex;
  sandboxes: SandboxDeps;
  images: ImageManager;
  events: EventBus;
  /** The one client of the OCI runtime and conmon. */
  runtime: RuntimeClient;
  /** berth-shims that run creates. */
  shims: ShimPool;
  /** The metrics samples the stats RPCs read (set by berthd once the sampler runs). */
  metrics?: MetricsView;
}

/** Cgroup parent for pods without one: berth's own, removed again when empty. */
export const BERTH_CGROUP_PARENT = '/berth';

export function containerPaths(config: BerthConfig, id: string): ContainerPaths {
  const dir = join(config.root, 'containers', id);
  const bundle = join(config.state, 'containers', id);
  const socketDir = join(config.state, 'sock');
  return {
    dir,
    rootfs: join(dir, 'rootfs'),
    upper: join(dir, 'upper'),
    work: join(dir, 'work'),
    bundle,
    exitFile: conmonFiles(bundle, exitDir(config), socketDir, id).exitFile,
    socketDir,
  };
}

export const exitDir = (config: BerthConfig) => join(config.state, 'exits');
