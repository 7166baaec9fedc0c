// Container exits: conmon writes <state>/exits/<id> when the container's process ends.
// berthd watches that directory and marks the container EXITED with the exit code, the
// file's time as finished_at, and reason Completed / Error / OOMKilled (conmon's oom
// marker), then publishes CONTAINER_STOPPED_EVENT. The same path serves StopContainer
// and recovery after a restart, so marking is idempotent.
import { watch, mkdirSync, type FSWatcher } from 'node:fs';
import { conmonAlive, readExitFile, oomKilled } from '../runtime/conmon.js';
import { nowNs } from '../time.js';
import { containerFiles } from '../runtime/files.js';
import { containerEvent } from './status.js';
import { exitDir, type ContainerDeps } from './deps.js';
import type { ContainerRecord } from './types.js';
import { killPoint } from '../kill-points.js';

/** Exit code → CRI reason (pure). */
export function exitReason(code: number, oom: boolean): string {
  if (oom) return 'OOMKilled';
  return code === 0 ? 'Completed' : 'Error';
}

/**
 * Records `rec` as EXITED with an unknown exit code (255, reason Error, `message` saying why):
 * its monitor is gone and left no exit file. The callers publish events and log as they need.
 */
export function recordUnknownExit(store: ContainerDeps['store'], rec: ContainerRecord, message: string): void {
  rec.state = 'CONTAINER_EXITED';
  rec.exitCode = 255;
  rec.reason = 'Error';
  rec.message = message;
  rec.finishedAt = nowNs().toString();
  store.update(rec);
}

/**
 * The container's conmon is gone and left no exit file (it was killed): once the runtime
 * says the process is over too, `rec` is marked EXITED with an unknown code (255, reason
 * Error), as recovery does after a reboot. Returns true when it did.
 */
export async function markMonitorLost(deps: ContainerDeps, rec: ContainerRecord): Promise<boolean> {
  if (rec.state === 'CONTAINER_EXITED' || (await conmonAlive(rec.conmonPid, rec.id))) return false;
  const st = await deps.runtime
    .forContainer(rec)
    .state(rec.id)
    .catch(() => ({ status: 'unknown', pid: 0 }));
  if (st && st.status !== 'stopped') return false;
  if (await markExited(deps, rec)) return true; // the exit file came after all
  recordUnknownExit(deps.store, rec, "the container's monitor (conmon) was killed; the exit code is unknown");
  killPoint('container.exit.recorded');
  deps.log.warn('container exited without its monitor', { container_id: rec.id });
  deps.events.publish(containerEvent(deps, rec, 'CONTAINER_STOPPED_EVENT'));
  return true;
}

/** Waits up to `ms` for the container to end: its exit file, or its monitor and process both gone. True when it is EXITED. */
export async function waitExited(deps: ContainerDeps, rec: ContainerRecord, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await markExited(deps, rec)) return true;
    if (rec.state === 'CONTAINER_EXITED') return true;
    if (await markMonitorLost(deps, rec)) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, Math.min(25, Math.max(1, deadline - Date.now()))));
  }
}

/**
 * Marks `rec` (a copy the caller holds under the container lock) EXITED from its exit file.
 * Returns false when there is no exit file yet or the container had already exited.
 */
export async function markExited(deps: ContainerDeps, rec: ContainerRecord): Promise<boolean> {
  if (rec.state === 'CONTAINER_EXITED') return false;
  const exit = await readExitFile(rec.paths.exitFile);
  if (!exit) return false;
  // conmon's marker, or for a SIGKILLed container the cgroup manager's reading (conmon's can
  // race the cgroup's removal); asked on every exit, so that its marks stay current.
  const cgroupOom = await deps.sandboxes.cgroups.oomKilled(rec).catch(() => false);
  const oom = (await oomKilled(containerFiles(rec))) || (exit.code === 137 && cgroupOom);
  rec.state = 'CONTAINER_EXITED';
  rec.exitCode = exit.code;
  // The process may end before StartContainer recorded its start: keep the order sane.
  const started = BigInt(rec.startedAt || '0');
  rec.finishedAt = (exit.finishedAt > started ? exit.finishedAt : started).toString();
  rec.reason = exitReason(exit.code, oom);
  rec.message = oom ? 'the container was killed for exceeding its memory limit' : '';
  deps.store.update(rec);
  killPoint('container.exit.recorded');
  deps.log.info('container exited', { container_id: rec.id, exit_code: rec.exitCode, reason: rec.reason });
  deps.events.publish(containerEvent(deps, rec, 'CONTAINER_STOPPED_EVENT'));
  return true;
}

/** Handles a (possible) exit of container `id`: takes its lock, marks it exited. */
export async function handleExit(deps: ContainerDeps, id: string): Promise<void> {
  if (!deps.store.peek(id)) return;
  await deps.locks.run(id, async () => {
    const rec = deps.store.get(id);
    if (!rec || rec.creating) return;
    await markExited(deps, rec);
  });
}

/** Watches the exits directory for the life of berthd. */
export function watchExits(deps: ContainerDeps): FSWatcher {
  const dir = exitDir(deps.config);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const w = watch(dir, (_event, filename) => {
    if (!filename) return;
    const id = filename.toString();
    handleExit(deps, id).catch((e: unknown) => deps.log.warn('handling a container exit failed', { container_id: id, error: (e as Error).message }));
  });
  w.on('error', (e) => deps.log.error('the exits watcher failed', { error: e.message }));
  return w;
}
