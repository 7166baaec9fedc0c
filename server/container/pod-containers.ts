// The containers side of pod sandboxes (sandbox/deps.ts PodContainers): StopPodSandbox
// kills the pod's containers, RemovePodSandbox removes them, PodSandboxStatus lists them.
import type { PodContainers } from '../sandbox/deps.js';
import type { ContainerDeps } from './deps.js';
import { stopLocked } from './stop.js';
import { removeLocked } from './remove.js';
import { toContainerStatus } from './status.js';

export function podContainers(deps: () => ContainerDeps): PodContainers {
  return {
    async stopAll(sandboxId, log) {
      const d = deps();
      await Promise.all(
        d.store.ofSandbox(sandboxId).map((id) =>
          d.locks.run(id, async () => {
            const rec = d.store.get(id);
            if (rec) await stopLocked(d, rec, 0, log);
          }),
        ),
      );
    },
    async removeAll(sandboxId, log) {
      const d = deps();
      await Promise.all(
        d.store.ofSandbox(sandboxId).map((id) =>
          d.locks.run(id, async () => {
            const rec = d.store.get(id);
            if (rec) await removeLocked(d, rec, log);
          }),
        ),
      );
      // The pod is going: its own CPU sample goes now, not at kubelet's next stats list.
      d.metrics?.forget(`pod:${sandboxId}`);
    },
    statuses(sandboxId) {
      const d = deps();
      return d.store
        .ofSandbox(sandboxId)
        .map((id) => d.store.peek(id)!)
        .filter((r) => !r.creating)
        .map(toContainerStatus);
    },
  };
}
