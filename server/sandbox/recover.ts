// After a berthd restart: sandboxes come back from the store exactly as recorded. A pod
// recorded READY whose pinned namespaces or init are gone (the node rebooted, someone
// unmounted them) is marked NOTREADY so kubelet recreates it; nothing is torn down here.
import { mountPoints } from '../mounts.js';
import { isInitAlive } from './pod-init.js';
import type { SandboxDeps } from './deps.js';

export async function recoverSandboxes(deps: SandboxDeps): Promise<void> {
  const mounted = new Set(await mountPoints());
  for (const rec of deps.store.list()) {
    if (rec.state !== 'SANDBOX_READY') continue;
    const ns = rec.runtime.namespaces;
    const lost = (['net', 'ipc', 'uts'] as const).filter((k) => ns[k] && !mounted.has(ns[k]!));
    const initLost = rec.runtime.init ? !(await isInitAlive(rec.runtime.init)) : false;
    if (lost.length || initLost) {
      deps.log.warn('pod sandbox lost its namespaces while berthd was down; marking it NOTREADY', {
        sandbox_id: rec.id,
        lost: [...lost, ...(initLost ? ['pid (init exited)'] : [])],
      });
      deps.store.setState(rec, 'SANDBOX_NOTREADY');
    }
  }
}
