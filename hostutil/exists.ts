// Whether a path exists (anything stat can see: files, directories, sockets, device nodes),
// or is an executable file, without throwing. Shared by berthd's audits, its views and its
// host probes, and by berth doctor.
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';

export async function pathExists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

/** A regular file this process may execute. */
export async function isExecutable(p: string): Promise<boolean> {
  try {
    await access(p, constants.X_OK);
    return (await stat(p)).isFile();
  } catch {
    return false;
  }
}
