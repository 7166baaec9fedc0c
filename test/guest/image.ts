// The test guest's image: where it is cached, its key, and building it when it is missing.
// The key hashes every file of test/guest/image/ (package list, build and customize scripts,
// the unit that runs commands) and the host's nodejs version (repacked into the image), so
// the image is rebuilt exactly when one of them changes. build.sh holds the lock and does
// the temp-dir-then-rename; this module only decides the key and runs it.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The checkout the harness belongs to (dist/test/guest/ → ../../..). */
export const CHECKOUT = fileURLToPath(new URL('../../../', import.meta.url));
export const IMAGE_SRC = join(CHECKOUT, 'test/guest/image');
export const DEFAULT_CACHE = '/var/cache/berth-guest';
/** Bumped when the harness changes what it expects of an image in a way the files above do not show. */
const FORMAT = 'berth-guest-image/1';

export interface GuestImage {
  dir: string;
  key: string;
  kernel: string;
  initrd: string;
  rootfs: string;
  /** The image's `ready` file: key, kernel version, node version, build time. */
  info: Record<string, string>;
}

export function cacheRoot(): string {
  return process.env.BERTH_GUEST_CACHE || DEFAULT_CACHE;
}

function hostNodeVersion(): string {
  const r = spawnSync('dpkg-query', ['-W', '-f=${Version}', 'nodejs'], { encoding: 'utf8' });
  if (r.status !== 0 || r.stdout.trim() === '') {
    throw new Error(`guest image: the host has no nodejs package to repack (dpkg-query: ${r.stderr.trim() || r.error?.message || 'no output'})`);
  }
  return r.stdout.trim();
}

export function imageKey(): string {
  const h = createHash('sha256');
  h.update(`${FORMAT}\nnodejs ${hostNodeVersion()}\n`);
  for (const name of readdirSync(IMAGE_SRC).sort()) {
    h.update(`${name}\0`);
    h.update(readFileSync(join(IMAGE_SRC, name)));
    h.update('\0');
  }
  return h.digest('hex').slice(0, 16);
}

function parseReady(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

/** The cached image for the current key, or undefined when it is not built (or not complete). */
export function cachedImage(key = imageKey()): GuestImage | undefined {
  const dir = join(cacheRoot(), key);
  const ready = join(dir, 'ready');
  if (!existsSync(ready)) return undefined;
  const img: GuestImage = {
    dir,
    key,
    kernel: join(dir, 'vmlinuz'),
    initrd: join(dir, 'initrd.img'),
    rootfs: join(dir, 'rootfs.img'),
    info: parseReady(readFileSync(ready, 'utf8')),
  };
  for (const f of [img.kernel, img.initrd, img.rootfs]) if (!existsSync(f)) throw new Error(`guest image ${dir} is marked ready but lacks ${f}`);
  return img;
}

const MISSING_TOOLS_HINT = 'install them with scripts/install-deps.sh (qemu-system-x86, qemu-utils, mmdebstrap, dpkg-repack)';

export function checkHostTools(tools: string[]): void {
  const missing = tools.filter((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0);
  if (missing.length > 0) throw new Error(`guest: missing host tools ${missing.join(', ')}: ${MISSING_TOOLS_HINT}`);
}

/**
 * The image for the current key, built first when it is not cached (about 3 to 5 minutes;
 * progress on stderr). Interrupting the harness kills the build's whole process group; the
 * build's own trap removes its temp dir.
 */
export async function ensureImage(opts: { signal?: AbortSignal } = {}): Promise<GuestImage> {
  const key = imageKey();
  const have = cachedImage(key);
  if (have) return have;
  if (process.getuid?.() !== 0) throw new Error('guest image: building it needs root (mmdebstrap, chroot, mke2fs of a root filesystem)');
  checkHostTools(['mmdebstrap', 'dpkg-repack', 'mke2fs', 'flock']);
  const started = Date.now();
  process.stderr.write(`guest image: building ${join(cacheRoot(), key)}\n`);
  const child = spawn('bash', [join(IMAGE_SRC, 'build.sh'), cacheRoot(), key], { stdio: ['ignore', 'inherit', 'inherit'], detached: true });
  const killGroup = () => {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        /* already gone */
      }
    }
  };
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (c, sig) => resolve(sig ? 128 : c));
  });
  opts.signal?.addEventListener('abort', killGroup, { once: true });
  // The build is in its own process group (so all of mmdebstrap's children can be killed
  // at once), which a terminal's ^C does not reach: pass SIGINT/SIGTERM on, let build.sh's
  // trap remove its temp dir, then exit.
  const onSignal = (sig: NodeJS.Signals) => {
    killGroup();
    void exited.finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  };
  process.once('exit', killGroup);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const code = await exited;
    if (opts.signal?.aborted) throw new Error(`guest image: build stopped: ${String(opts.signal.reason)}`);
    if (code !== 0) throw new Error(`guest image: build.sh failed (exit ${code})`);
  } finally {
    opts.signal?.removeEventListener('abort', killGroup);
    process.removeListener('exit', killGroup);
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
  const img = cachedImage(key);
  if (!img) throw new Error(`guest image: build.sh succeeded but ${join(cacheRoot(), key)} is not ready`);
  process.stderr.write(`guest image: ready in ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
  return img;
}
