// The image's /etc/passwd and /etc/group, read from its unpacked layers before the rootfs
// is mounted (the OCI spec, which needs them for run_as_username and image USER, is built
// in berthd; the shim mounts). Layers are searched top-down with overlay semantics:
// a whiteout (char device 0:0) hides the file, an opaque directory hides lower layers,
// and symbolic links are followed inside the image, never onto the host.
// Everything is asynchronous: CreateContainer calls in parallel must not stall berthd.
import type { Stats } from 'node:fs';
import { lstat, readFile, readlink } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { join, posix } from 'node:path';

async function lstatOrNull(p: string): Promise<Stats | null> {
  try {
    return await lstat(p);
  } catch {
    return null;
  }
}

const isWhiteout = (st: Stats) => st.isCharacterDevice() && st.rdev === 0;

// Node has no xattr API; getfattr (Debian's attr) reads the overlay's opaque marker.
function isOpaque(dir: string): Promise<boolean> {
  return new Promise((resolve) =>
    execFile('getfattr', ['--only-values', '--absolute-names', '-n', 'trusted.overlay.opaque', dir], { encoding: 'utf8' }, (err, stdout) =>
      resolve(!err && stdout.trim() === 'y'),
    ),
  );
}

/** The text of `path` in the merged view of `layers` (top layer first), or null when it does not exist. */
export async function readLayeredFile(layers: readonly string[], path: string, hops = 0): Promise<string | null> {
  if (hops > 40) return null;
  const parts = posix.normalize(`/${path}`).split('/').filter((p) => p !== '' && p !== '.');
  for (const layer of layers) {
    let parentsHere = true;
    for (let i = 0; i < parts.length - 1; i++) {
      const dir = join(layer, ...parts.slice(0, i + 1));
      const st = await lstatOrNull(dir);
      if (!st) {
        parentsHere = false;
        break;
      }
      if (isWhiteout(st)) return null;
      if (st.isSymbolicLink()) {
        const target = await readlink(dir);
        const base = posix.join('/', ...parts.slice(0, i));
        const resolved = target.startsWith('/') ? target : posix.join(base, target);
        return readLayeredFile(layers, posix.join(resolved, ...parts.slice(i + 1)), hops + 1);
      }
      if (!st.isDirectory()) return null;
    }
    if (!parentsHere) continue;
    const full = join(layer, ...parts);
    const st = await lstatOrNull(full);
    if (st) {
      if (isWhiteout(st)) return null;
      if (st.isSymbolicLink()) {
        const target = await readlink(full);
        const base = posix.join('/', ...parts.slice(0, -1));
        return readLayeredFile(layers, target.startsWith('/') ? target : posix.join(base, target), hops + 1);
      }
      return st.isFile() ? await readFile(full, 'utf8') : null;
    }
    // Absent here: an opaque parent directory hides every lower layer.
    for (let i = parts.length - 1; i >= 1; i--) {
      if (await isOpaque(join(layer, ...parts.slice(0, i)))) return null;
    }
  }
  return null;
}

export async function readLayeredUserFiles(layersTopFirst: readonly string[]): Promise<{ passwd: string | null; group: string | null }> {
  const [passwd, group] = await Promise.all([readLayeredFile(layersTopFirst, '/etc/passwd'), readLayeredFile(layersTopFirst, '/etc/group')]);
  return { passwd, group };
}
