// Reading the mount table and unmounting through util-linux: Node cannot call
// mount(2)/umount(2) itself. Shared by berthd (through server/mounts.ts, which speaks
// berth's error vocabulary), the conformance suite's containerd and the tests.
import { readFile } from 'node:fs/promises';
import { run } from './exec.js';
import { parseMountInfo } from './mountinfo.js';

/** Mount points listed in a mountinfo text, in order (a path mounted twice appears twice). */
function parseMountPoints(mountinfo: string): string[] {
  return parseMountInfo(mountinfo).map((m) => m.mountPoint);
}

export async function mountPoints(): Promise<string[]> {
  return parseMountPoints(await readFile('/proc/self/mountinfo', 'utf8'));
}

/** Unmounts every mount at or below `paths` (deepest first, stacked mounts included). */
export async function unmountAll(paths: readonly string[]): Promise<void> {
  if (paths.length === 0) return;
  for (let round = 0; round < 8; round++) {
    const mounted = await mountPoints();
    const targets = mounted
      .filter((m) => paths.some((p) => m === p || m.startsWith(p.endsWith('/') ? p : `${p}/`)))
      .sort((a, b) => b.length - a.length);
    if (targets.length === 0) return;
    const res = await run('umount', [...new Set(targets)], { allowFailure: true });
    if (res.code !== 0) {
      // Busy mounts: detach them so a stuck process cannot hold pod state forever.
      await run('umount', ['--lazy', ...new Set(targets)], { allowFailure: true });
    }
  }
  const left = (await mountPoints()).filter((m) => paths.some((p) => m === p || m.startsWith(`${p}/`)));
  if (left.length) throw new Error(`cannot unmount ${left.join(', ')}: still mounted after umount and umount --lazy`);
}
