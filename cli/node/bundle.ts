// The release bundle `berth node install` installs: by default the one this CLI runs
// from (<bundle>/lib/cli/node/bundle.js), or --bundle DIR. Its berth-release.json lists
// every file with its checksum; a bundle that does not match is refused.
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ReleaseInfo } from '../../release/bundle.js';

export const RELEASE_FILE = 'berth-release.json';

export interface Bundle {
  dir: string;
  info: ReleaseInfo;
}

/** The bundle this CLI is part of, if it runs from one. */
export function ownBundle(): string | undefined {
  const dir = fileURLToPath(new URL('../../../', import.meta.url));
  return existsSync(join(dir, RELEASE_FILE)) ? resolve(dir) : undefined;
}

export function readBundle(dir: string | undefined): Bundle {
  const d = dir ?? ownBundle();
  if (!d) throw new Error('this berth does not run from a release bundle: give one with --bundle DIR (an extracted berth-<version>-linux-<arch>.tar.gz)');
  const file = join(d, RELEASE_FILE);
  if (!existsSync(file)) throw new Error(`${d} is not a berth release bundle (no ${RELEASE_FILE})`);
  const info = JSON.parse(readFileSync(file, 'utf8')) as ReleaseInfo;
  if (info.name !== 'berth' || !info.version || !Array.isArray(info.files)) throw new Error(`${file}: not a berth release description`);
  return { dir: resolve(d), info };
}

export function sha256(file: string): Promise<string> {
  return new Promise((res, rej) => {
    const h = createHash('sha256');
    createReadStream(file, { highWaterMark: 1 << 20 })
      .on('data', (c) => h.update(c))
      .on('end', () => res(h.digest('hex')))
      .on('error', rej);
  });
}

/** Trees this process checked in full and found right, with the time their release file had then. */
const verified = new Map<string, number>();

/** Every listed file is there with its size and checksum (the bundle or a copy of it; `sizesOnly` for a copy just made from a verified bundle); returns the first difference. */
export async function verifyTree(dir: string, info: ReleaseInfo, sizesOnly = false): Promise<string | undefined> {
  const key = `${dir}\0${info.version}`;
  const stamp = (() => {
    try {
      return statSync(join(dir, RELEASE_FILE)).mtimeMs;
    } catch {
      return -1;
    }
  })();
  // Sizes are always checked; checksums once per tree and process (tests install one bundle many times).
  const again = verified.get(key) === stamp;
  for (const f of info.files) {
    const p = join(dir, f.path);
    let size: number;
    try {
      size = statSync(p).size;
    } catch {
      return `${f.path} is missing`;
    }
    if (size !== f.size) return `${f.path} has ${size} bytes, the release lists ${f.size}`;
    if (!sizesOnly && !again && (await sha256(p)) !== f.sha256) return `${f.path} does not match its checksum`;
  }
  if (!sizesOnly && stamp >= 0) verified.set(key, stamp);
  return undefined;
}
