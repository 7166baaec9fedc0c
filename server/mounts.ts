// berthd's mount table and unmounting: hostutil/mounts.ts, with a failure to unmount (or
// to start umount) as berth's Internal error kind, so it never escapes as UNKNOWN.
import { mountPoints as readMountPoints, unmountAll as unmountTree } from '../hostutil/mounts.js';
import { BerthError, internal } from './errors.js';

async function berthErrors<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof BerthError) throw e;
    throw internal((e as Error).message, e);
  }
}

export function mountPoints(): Promise<string[]> {
  return berthErrors(readMountPoints);
}

/** Unmounts every mount at or below `paths` (deepest first, stacked mounts included). */
export function unmountAll(paths: readonly string[]): Promise<void> {
  return berthErrors(() => unmountTree(paths));
}
