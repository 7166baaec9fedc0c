// Bytes on disk below some directories (hard links counted once): the pull scenario
// checks that RemoveImage really freed the image, so no round pulls from a warm store.
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';

export async function diskBytes(dirs: readonly string[]): Promise<number> {
  const seen = new Set<string>();
  let total = 0;
  const walk = async (p: string): Promise<void> => {
    let st;
    try {
      st = await lstat(p);
    } catch {
      return;
    }
    const key = `${st.dev}:${st.ino}`;
    if (seen.has(key)) return;
    seen.add(key);
    if (st.isDirectory()) {
      let names: string[] = [];
      try {
        names = await readdir(p);
      } catch {
        return;
      }
      for (const n of names) await walk(join(p, n));
    } else if (st.isFile()) total += st.size;
  };
  for (const d of dirs) await walk(d);
  return total;
}
