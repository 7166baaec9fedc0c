// Whether a path exists (anything stat can see: files, directories, sockets, device nodes),
// without throwing. Shared by berthd's audits, its views and its host probes.
import { stat } from 'node:fs/promises';

export async function pathExists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}
