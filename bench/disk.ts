// Bytes on disk below some directories (hard links counted once): the pull scenario
// checks that RemoveImage really freed the image, so no round pulls from a warm store.
import { dirUsage } from '../hostutil/fs-usage.js';

export async function diskBytes(dirs: readonly string[]): Promise<number> {
  let total = 0n;
  for (const d of dirs) total += (await dirUsage(d)).bytes;
  return Number(total);
}
