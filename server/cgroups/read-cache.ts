// What the one cgroup reader (the managers' snapshot()) remembers between reads, so that a
// sampling round does not pay again for what the kernel already told it. Made once per
// Cgroups (manager.ts) and handed to every per-cgroup manager it opens; a manager opened
// without one (tests on temp directories) reads everything every time.
//  - v1 control files a hierarchy does not offer: the kernel gives every non-root cgroup of
//    a v1 hierarchy the same files, so one missing from a cgroup whose other files of that
//    controller read fine (blkio.weight without CFQ/BFQ weights, the CFQ-only
//    blkio.io_serviced_recursive) is missing from all of them. Each failed open costs a thrown
//    error; asking again would cost one per cgroup per round.
//  - the hugetlb.* files of a cgroup directory (one per page size and kind), listed once a
//    minute rather than with a readdir per read: they change only when the hugetlb controller
//    is enabled or disabled above the cgroup (cgroup2) or the kernel's page sizes change.
import { listControlsSync, readControlSync } from './fs.js';

export const HUGETLB_LIST_TTL_MS = 60_000;

export class CgroupReadCache {
  private readonly absent = new Set<string>();
  private readonly hugetlb = new Map<string, { at: number; names: string[] }>();
  private sweepAt = 64;

  /**
   * The files of `names` in `dir` (a v1 controller's directory under `mount`) into `files`,
   * skipping those the hierarchy is known not to offer.
   */
  readV1(mount: string, dir: string, names: readonly string[], files: Record<string, string>): void {
    let found = false;
    const missing: string[] = [];
    for (const name of names) {
      const key = `${mount}\0${name}`;
      if (this.absent.has(key)) continue;
      const text = readControlSync(dir, name);
      if (text === undefined) missing.push(key);
      else {
        files[name] = text;
        found = true;
      }
    }
    // Only when the directory is there (some file of it read): a missing cgroup is not a missing file.
    if (found) for (const k of missing) this.absent.add(k);
  }

  /** The hugetlb.* files of a cgroup directory (listed at most once a minute). */
  hugetlbNames(dir: string, now = Date.now()): string[] {
    const hit = this.hugetlb.get(dir);
    if (hit && now - hit.at < HUGETLB_LIST_TTL_MS) return hit.names;
    const names = listControlsSync(dir).filter((n) => n.startsWith('hugetlb.'));
    this.hugetlb.set(dir, { at: now, names });
    if (this.hugetlb.size >= this.sweepAt) {
      // Directories of removed cgroups age out: keep what was listed within the TTL.
      for (const [k, v] of this.hugetlb) if (now - v.at >= HUGETLB_LIST_TTL_MS) this.hugetlb.delete(k);
      this.sweepAt = Math.max(64, this.hugetlb.size * 2);
    }
    return names;
  }

  /** A cgroup that is gone: its listing goes now. */
  dropDir(dir: string): void {
    this.hugetlb.delete(dir);
  }

  /** Entries held (for the soak's size check). */
  size(): number {
    return this.absent.size + this.hugetlb.size;
  }
}
