// After a berthd restart: containers come back from the store. One whose exit file
// appeared while berthd was down becomes EXITED with its code; running ones keep running;
// one whose monitor vanished without an exit file (node reboot) is EXITED with reason
// Error; a create that was interrupted is cleaned up (after the berth-shims the dead
// berthd left have finished their jobs, and after conmon's create is over). One recorded
// CREATED whose process the runtime already started (a crash between `runtime start` and
// the record) becomes RUNNING. Nothing running is killed.
import { markExited, recordUnknownExit } from './exits.js';
import { conmonAlive, readExitFile, settleOrphanedCreate } from '../runtime/conmon.js';
import { containerFiles } from '../runtime/files.js';
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
          // conmon may have been started (its pid is in its pid file, not in the record yet).
          rec.conmonPid = await settleOrphanedCreate(containerFiles(rec), id);
          await cleanupContainer(deps, rec);
          deps.store.delete(id);
        } catch (e) {
          deps.log.error('cleanup of an interrupted container failed', { container_id: id, error: (e as Error).message });
        }
        return;
      }
      if (rec.state === 'CONTAINER_EXITED') return;
      if (await markExited(deps, rec)) return;
      if (rec.state === 'CONTAINER_CREATED') {
        const st = await deps.runtime
          .forContainer(rec)
          .state(id)
          .catch(() => undefined);
        if (st?.status === 'running') {
          deps.log.warn('a container recorded CREATED was started before the crash; marking it RUNNING', { container_id: id });
          rec.state = 'CONTAINER_RUNNING';
          rec.startedAt = nowNs().toString();
          deps.store.update(rec);
          return;
        }
      }
      if (!(await conmonAlive(rec.conmonPid, id)) && !(await readExitFile(rec.paths.exitFile))) {
        recordUnknownExit(deps.store, rec, "the container's monitor is gone and left no exit code");
      }
    });
  }
}
