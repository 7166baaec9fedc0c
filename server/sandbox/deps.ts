// What the pod sandbox RPCs share: configuration, the store, per-sandbox locks,
// events, network settings and the containers hook.
import { join } from 'node:path';
import type { BerthConfig } from '../config.js';
import type { Logger } from '../logger.js';
import type { KeyedMutex } from '../keyed-mutex.js';
import type { EventBus } from '../events.js';
import type { PodSandboxStore } from './store.js';
import type { Cgroups } from '../cgroups/manager.js';
import type { NetworkConfigLookup } from '../network/conflist.js';
import type { ContainerStatus } from '../../wire/cri/generated/runtime/v1/ContainerStatus.js';

/** How sandboxes reach the containers that live in them (the containers module plugs in here). */
export interface PodContainers {
  /** Stops every running container of the pod (StopPodSandbox). */
  stopAll(sandboxId: string, log: Logger): Promise<void>;
  /** Removes every container of the pod (RemovePodSandbox). */
  removeAll(sandboxId: string, log: Logger): Promise<void>;
  statuses(sandboxId: string): ContainerStatus[];
}

export const noContainers: PodContainers = {
  stopAll: async () => undefined,
  removeAll: async () => undefined,
  statuses: () => [],
};

export interface NetworkSettings {
  /** The node's pod CIDR from UpdateRuntimeConfig, '' when kubelet gave none. */
  podCidr(): string;
  lookup(): Promise<NetworkConfigLookup>;
}

export interface SandboxDeps {
  config: BerthConfig;
  store: PodSandboxStore;
  locks: KeyedMutex;
  events: EventBus;
  network: NetworkSettings;
  /** The one cgroup manager (driver × hierarchy, detected once at start). */
  cgroups: Cgroups;
  containers: PodContainers;
  log: Logger;
}

export function sandboxPaths(config: BerthConfig, id: string) {
  return {
    filesDir: join(config.root, 'sandboxes', id),
    nsDir: join(config.state, 'ns', id),
    shmDir: join(config.state, 'sandboxes', id),
    shmPath: join(config.state, 'sandboxes', id, 'shm'),
  };
}
