// Small readers that gather, from the host and the image rootfs, the facts buildContainerSpec
// takes as arguments. Each does one read; the interpretation is a pure function beside it.
import { lstatSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';
import { posix } from 'node:path';
import { invalidArgument } from '../errors.js';
import { mountOf, parseMountInfo, propagationOf, type Propagation } from '../../hostutil/mountinfo.js';
import { effectiveCapabilitiesFromStatus } from './capabilities.js';

/**
 * The lowest oom_score_adj we may give a child. Without CAP_SYS_RESOURCE the kernel refuses
 * anything below our own value (runc then dies with "can't get final child's PID from pipe").
 */
export function minOomScoreAdj(capabilities: readonly string[], ownOomScoreAdj: number): number {
  return capabilities.includes('CAP_SYS_RESOURCE') ? -1000 : ownOomScoreAdj;
}

/** minOomScoreAdj for this process, read from /proc/self. */
export function readMinOomScoreAdj(procSelf = '/proc/self'): number {
  const caps = effectiveCapabilitiesFromStatus(readFileSync(`${procSelf}/status`, 'utf8'));
  const own = Number(readFileSync(`${procSelf}/oom_score_adj`, 'utf8').trim());
  return minOomScoreAdj(caps, Number.isInteger(own) ? own : 0);
}

/** "6.1.0-13-amd64" → [6, 1]. */
export function parseKernelRelease(release: string): [number, number] | undefined {
  const m = /^(\d+)\.(\d+)/.exec(release);
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

/** A host path for a bind mount: symlinks resolved; a missing path is the request's error. */
export function realHostPath(path: string): string {
  try {
    return realpathSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw invalidArgument(`host path ${path} does not exist`, err);
    throw err;
  }
}

/** A propagation lookup over a mountinfo snapshot (for MountInputs.hostPropagation). */
export function propagationLookup(mountinfoText: string): (hostPath: string) => Propagation {
  const mounts = parseMountInfo(mountinfoText);
  return (hostPath) => {
    const m = mountOf(mounts, hostPath);
    return m ? propagationOf(m) : 'private';
  };
}

/**
 * `path` resolved inside `root` as if root were "/": symlinks (absolute or relative) never
 * leave it. An image's /etc/passwd may be a symlink, and it must not lead us to the host's.
 */
export function resolveInRoot(root: string, path: string): string {
  let pending = posix.normalize(`/${path}`).split('/').filter((p) => p !== '');
  const done: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift() as string;
    if (part === '..') {
      done.pop();
      continue;
    }
    if (part === '.') continue;
    const full = posix.join(root, ...done, part);
    let isLink = false;
    try {
      isLink = lstatSync(full).isSymbolicLink();
    } catch {
      // A missing component ends the walk; the caller's read reports it.
    }
    if (!isLink) {
      done.push(part);
      continue;
    }
    if (++links > 40) throw invalidArgument(`too many symbolic links resolving ${path} in the image`);
    const target = readlinkSync(full);
    const targetParts = target.split('/').filter((p) => p !== '');
    if (target.startsWith('/')) done.length = 0;
    pending = [...targetParts, ...pending];
  }
  return posix.join(root, ...done);
}

/** A file of the image rootfs, or null when it does not exist. */
export function readImageFile(rootfs: string, path: string): string | null {
  try {
    return readFileSync(resolveInRoot(rootfs, path), 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw err;
  }
}

/** The image's /etc/passwd and /etc/group, for SpecHostOptions.passwd/group. */
export function readImageUserFiles(rootfs: string): { passwd: string | null; group: string | null } {
  return { passwd: readImageFile(rootfs, '/etc/passwd'), group: readImageFile(rootfs, '/etc/group') };
}
