// Host paths seen from the installer: a path of the host resolved under the host root
// the way the host itself would resolve it, so a symlink on the host (/usr/local →
// /opt/local, /etc/cni → /srv/cni) is followed inside the host root, never out of it.
import { lstatSync, readlinkSync } from 'node:fs';
import { join, posix } from 'node:path';

/** The file the host calls `p`, as this process reaches it under `root`. The last component is not followed. */
export function inRoot(root: string, p: string): string {
  if (!posix.isAbsolute(p)) throw new Error(`${p}: a host path must be absolute`);
  if (root === '/') return posix.normalize(p);
  let parts = p.split('/').filter((x) => x && x !== '.');
  let cur = '';
  let hops = 0;
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    if (part === '..') {
      cur = cur.slice(0, Math.max(0, cur.lastIndexOf('/')));
      continue;
    }
    const next = `${cur}/${part}`;
    if (i === parts.length - 1) {
      cur = next;
      break;
    }
    let link: string | undefined;
    try {
      if (lstatSync(join(root, next)).isSymbolicLink()) link = readlinkSync(join(root, next));
    } catch {
      /* not there (yet): nothing to follow */
    }
    if (link === undefined) {
      cur = next;
      continue;
    }
    if (++hops > 40) throw new Error(`${p}: too many symbolic links under ${root}`);
    parts = [...(link.startsWith('/') ? '' : cur).split('/'), ...link.split('/'), ...parts.slice(i + 1)].filter((x) => x && x !== '.');
    cur = '';
    i = -1;
  }
  return join(root, cur || '/');
}
