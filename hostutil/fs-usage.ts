// Bytes and inodes used under a directory, for ImageFsInfo's container filesystem.
// A walk is not free, and kubelet asks every few seconds: results are cached briefly.
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';

export interface DirUsage {
  bytes: bigint;
  inodes: bigint;
}

export async function dirUsage(dir: string): Promise<DirUsage> {
  let bytes = 0n;
  let inodes = 0n;
  const seen = new Set<string>();
  const walk = async (p: string): Promise<void> => {
    let st;
    try {
      st = await lstat(p, { bigint: true });
    } catch {
      return; // removed while we walked
    }
    const key = `${st.dev}:${st.ino}`;
    if (seen.has(key)) return; // hard links count once
    seen.add(key);
    bytes += st.blocks * 512n;
    inodes += 1n;
    if (st.isDirectory()) {
      let names: string[] = [];
      try {
        names = await readdir(p);
      } catch {
        return;
      }
      for (const n of names) await walk(join(p, n));
    }
  };
  await walk(dir);
  return { bytes, inodes };
}

export function cachedDirUsage(dir: string, ttlMs = 10_000): () => Promise<DirUsage> {
  let at = 0;
  let last: Promise<DirUsage> | undefined;
  return () => {
    const now = Date.now();
    if (!last || now - at > ttlMs) {
      at = now;
      last = dirUsage(dir);
    }
    return last;
  };
}
