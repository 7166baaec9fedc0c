// Small readers that gather, from the host, the facts buildContainerSpec takes as arguments.
// Each reads asynchronously (CreateContainer must not stall berthd's event loop); what they
// read is handed to the pure spec generation as data, or as lookups over data already read.
import { readFile, realpath } from 'node:fs/promises';
import { invalidArgument, internal } from '../errors.js';
import { mountOf, parseMountInfo, propagationOf, type Propagation } from '../../hostutil/mountinfo.js';
import { effectiveCapabilitiesFromStatus } from './capabilities.js';
import { readHostDevice, readHostDevices, type DeviceLookup, type HostDevice } from './devices.js';

/**
 * The lowest oom_score_adj we may give a child. Without CAP_SYS_RESOURCE the kernel refuses
 * anything below our own value (runc then dies with "can't get final child's PID from pipe").
 */
export function minOomScoreAdj(capabilities: readonly string[], ownOomScoreAdj: number): number {
  return capabilities.includes('CAP_SYS_RESOURCE') ? -1000 : ownOomScoreAdj;
}

/** minOomScoreAdj for this process, read from /proc/self. */
export async function readMinOomScoreAdj(procSelf = '/proc/self'): Promise<number> {
  const caps = effectiveCapabilitiesFromStatus(await readFile(`${procSelf}/status`, 'utf8'));
  const own = Number((await readFile(`${procSelf}/oom_score_adj`, 'utf8')).trim());
  return minOomScoreAdj(caps, Number.isInteger(own) ? own : 0);
}

/** "6.1.0-13-amd64" → [6, 1]. */
export function parseKernelRelease(release: string): [number, number] | undefined {
  const m = /^(\d+)\.(\d+)/.exec(release);
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

/** A host path for a bind mount: symlinks resolved; a missing path is the request's error. */
export async function realHostPath(path: string): Promise<string> {
  try {
    return await realpath(path);
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

/** What a lookup found, or the error it met: thrown when the spec asks, so errors keep their order. */
type Found<T> = { value: T } | { error: unknown };

async function settle<T>(p: Promise<T>): Promise<Found<T>> {
  try {
    return { value: await p };
  } catch (error) {
    return { error };
  }
}

/** A synchronous lookup over answers read beforehand; a question not asked then is a bug. */
function lookupOver<T>(what: string, answers: ReadonlyMap<string, Found<T>>): (key: string) => T {
  return (key) => {
    const a = answers.get(key);
    if (!a) throw internal(`${what} ${key} was not read before the spec was generated`);
    if ('error' in a) throw a.error;
    return a.value;
  };
}

/** The lookups SpecHostOptions takes (resolveHostPath, deviceLookup, hostPropagation, hostDevices). */
export interface HostLookups {
  resolveHostPath: (hostPath: string) => string;
  deviceLookup: DeviceLookup;
  hostPropagation?: (hostPath: string) => Propagation;
  hostDevices?: HostDevice[];
}

export interface HostLookupRequest {
  /** Host paths the spec will bind-mount (CRI mounts and the pod's files). */
  hostPaths: Iterable<string>;
  /** Host paths of CRI devices. */
  devicePaths: Iterable<string>;
  /** Read mountinfo for the propagation of mount sources. */
  propagation: boolean;
  /** Read every device of the host (privileged containers). */
  privileged: boolean;
  /** Defaults: /proc/self/mountinfo and /dev. */
  mountinfoFile?: string;
  devDir?: string;
}

/** A CRI device's host nodes: the node itself (symlinks followed) or every node under a directory. */
async function lookupDevice(hostPath: string): Promise<HostDevice[]> {
  const real = await realHostPath(hostPath);
  const d = await readHostDevice(real, true);
  return d ? [d] : readHostDevices(real);
}

/**
 * Reads, side by side, everything the spec will ask of the host for one container, and
 * returns it as synchronous lookups over what was read. Errors (a missing host path, a
 * device that is not one) are kept and thrown when the spec asks, where it asked before.
 */
export async function readHostLookups(req: HostLookupRequest): Promise<HostLookups> {
  const hostPaths = [...new Set(req.hostPaths)].filter((p) => p !== '');
  const devicePaths = [...new Set(req.devicePaths)].filter((p) => p !== '');
  const [paths, devices, mountinfo, hostDevices] = await Promise.all([
    Promise.all(hostPaths.map(async (p) => [p, await settle(realHostPath(p))] as const)),
    Promise.all(devicePaths.map(async (p) => [p, await settle(lookupDevice(p))] as const)),
    req.propagation ? readFile(req.mountinfoFile ?? '/proc/self/mountinfo', 'utf8') : undefined,
    req.privileged ? readHostDevices(req.devDir ?? '/dev') : undefined,
  ]);
  return {
    resolveHostPath: lookupOver('host path', new Map(paths)),
    deviceLookup: lookupOver('device', new Map(devices)),
    ...(mountinfo !== undefined ? { hostPropagation: propagationLookup(mountinfo) } : {}),
    ...(hostDevices ? { hostDevices } : {}),
  };
}
