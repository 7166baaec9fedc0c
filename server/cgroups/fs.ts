// Control-file IO shared by the v1 and v2 managers. Writes never create files: on cgroupfs
// a missing control file means a missing controller, and that must surface, not turn into a
// stray regular file (which is also what keeps the temp-dir tests honest).
import { constants } from 'node:fs';
import { mkdir, open, readdir, readFile, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { failedPrecondition, internal, invalidArgument } from '../errors.js';
import type { CgroupWrite } from './common.js';

const errno = (err: unknown): string | undefined => (err as NodeJS.ErrnoException | undefined)?.code;

export async function writeControl(dir: string, file: string, value: string): Promise<void> {
  const path = join(dir, file);
  let fh;
  try {
    fh = await open(path, constants.O_WRONLY | constants.O_TRUNC);
  } catch (err) {
    if (errno(err) === 'ENOENT') throw failedPrecondition(`cgroup file ${path} does not exist (controller not enabled for this cgroup?)`, err);
    throw internal(`cannot open cgroup file ${path}: ${(err as Error).message}`, err);
  }
  try {
    await fh.write(value);
  } catch (err) {
    const code = errno(err);
    const msg = `cannot write ${JSON.stringify(value)} to ${path}: ${(err as Error).message}`;
    // The kernel answers EINVAL/ERANGE for values it will not take: the request's fault;
    // EBUSY for a limit below what the cgroup uses now: the container's state refuses it.
    if (code === 'EINVAL' || code === 'ERANGE') throw invalidArgument(msg, err);
    if (code === 'EBUSY') throw failedPrecondition(`${msg} (below what the cgroup uses now)`, err);
    throw internal(msg, err);
  } finally {
    await fh.close();
  }
}

/** A control file's text, or undefined when it does not exist. */
export async function readControl(dir: string, file: string): Promise<string | undefined> {
  try {
    return await readFile(join(dir, file), 'utf8');
  } catch (err) {
    if (errno(err) === 'ENOENT') return undefined;
    throw err;
  }
}

export async function listControls(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if (errno(err) === 'ENOENT') return [];
    throw err;
  }
}

export async function makeCgroupDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
}

/**
 * rmdir, as cgroupfs wants (rm -r would try to unlink control files). EBUSY right after
 * the last process exited is common, so retry briefly, as runc does. Missing = done.
 */
export async function removeCgroupDir(dir: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await rmdir(dir);
      return;
    } catch (err) {
      const code = errno(err);
      if (code === 'ENOENT') return;
      if (code === 'EBUSY' && attempt < 5) {
        await new Promise((r) => setTimeout(r, 10 * 2 ** attempt));
        continue;
      }
      if (code === 'EBUSY') throw failedPrecondition(`cgroup ${dir} still has processes`, err);
      throw internal(`cannot remove cgroup ${dir}: ${(err as Error).message}`, err);
    }
  }
}

/**
 * Carry out writes in order. A write marked retryAfterRest that the kernel refuses with
 * EINVAL is tried once more after all the others.
 */
export async function applyWrites<C extends string>(writes: readonly CgroupWrite<C>[], dirOf: (w: CgroupWrite<C>) => string, fileOf = (w: CgroupWrite<C>) => w.file): Promise<void> {
  const deferred: CgroupWrite<C>[] = [];
  for (const w of writes) {
    try {
      await writeControl(dirOf(w), fileOf(w), w.value);
    } catch (err) {
      if (w.retryAfterRest && (err as { cause?: unknown }).cause && errno((err as { cause?: unknown }).cause) === 'EINVAL') {
        deferred.push(w);
        continue;
      }
      throw err;
    }
  }
  for (const w of deferred) await writeControl(dirOf(w), fileOf(w), w.value);
}

/** PIDs listed in a cgroup.procs text. */
export function parseProcs(text: string | undefined): number[] {
  if (text === undefined) return [];
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => /^\d+$/.test(l))
    .map(Number);
}
