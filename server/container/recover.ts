// After a berthd restart: containers come back from the store. One whose exit file
// appeared while berthd was down becomes EXITED with its code; running ones keep running;
// one whose monitor vanished without an exit file (node reboot) is EXITED with reason
// Error; a create that was interrupted is cleaned up. Nothing running is killed.
import { markExited } from './exits.js';
import { conmonAlive, readExitFile } from '../runtime/conmon.js';
import { cleanupContainer } from './remove.js';
import { nowNs } from '../time.js';
import type { ContainerDeps } from './deps.js';

export async function recoverContainers(deps: ContainerDeps): Promise<void> {
  for (const { id } of deps.store.all()) {
    await deps.locks.run(id, async () => {
      const rec = deps.store.get(id);
      if (!rec) return;
      if (rec.creating) {
        deps.log.warn('cleaning up a container whose creation was interrupted', { container_id: id });
        try {
          await cleanupContainer(deps, rec);
          deps.store.delete(id);
        } catch (e) {
          deps.log.error('cleanup of an interrupted container failed', { container_id: id, error: (e as Error).message });
        }
        return;
      }
      if (rec.state === 'CONTAINER_EXITED') return;
      if (await markExited(deps, rec)) return;
      if (!(await conmonAlive(rec.conmonPid, id)) && !(await readExitFile(rec.paths.exitFile))) {
        rec.state = 'CONTAINER_EXITED';
        rec.exitCode = 255;
        rec.reason = 'Error';
        rec.message = "the container's monitor is gone and left no exit code";
        rec.finishedAt = nowNs().toString();
        deps.store.update(rec);
      }
    });
  }
}
