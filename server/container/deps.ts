// What the container RPCs share: configuration, the container store and locks, the pod
// sandboxes they live in (and through them the cgroup manager), images (layer leases), the
// event bus, and facts about the host read once.
import type { AppArmorProfiles } from './apparmor.js';
import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
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
import type { MetricsView } from '../../metrics/view.js';

export interface HostFacts {
  minOomScoreAdj: number;
  capabilities: string[];
  kernel?: readonly [number, number];
}

/** Reads the host facts; berthd does it once at start-up and hands them to the container RPCs. */
export async function readHostFacts(): Promise<HostFacts> {
  const [status, minOom] = await Promise.all([readFile('/proc/self/status', 'utf8'), readMinOomScoreAdj()]);
  const kernel = parseKernelRelease(release());
  return {
    minOomScoreAdj: minOom,
    capabilities: effectiveCapabilitiesFromStatus(status),
    ...(kernel ? { kernel } : {}),
  };
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
  /** Loads and checks AppArmor profiles for CreateContainer (server/container/apparmor.ts). */
  apparmor: AppArmorProfiles;
  /** Read once at start-up (readHostFacts). */
  host: HostFacts;
  /** The metrics samples the stats RPCs read (set by berthd once the sampler runs). */
  metrics?: MetricsView;
}

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
