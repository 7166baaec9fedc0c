// Device nodes and devices-cgroup rules: CRI devices for ordinary containers, every host
// device for privileged ones. The conversion is pure; `readHostDevices` is the small reader
// that stats /dev for it (asynchronously: CreateContainer runs it before the pure part).
import { lstat, readdir, stat } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { failedPrecondition, invalidArgument } from '../errors.js';
import { shown } from '../validate/text.js';
import type { OciDevice, OciDeviceCgroup } from './types.js';

/** A device node on the host, as stat(2) sees it. */
export interface HostDevice {
  path: string;
  type: 'c' | 'b';
  major: number;
  minor: number;
  fileMode: number;
  uid: number;
  gid: number;
}

export interface CriDevice {
  container_path: string;
  host_path: string;
  permissions: string;
}

/** Looks up a host path: one device, or every device under a directory. Throws when missing. */
export type DeviceLookup = (hostPath: string) => HostDevice[];

export interface DevicePlan {
  devices: OciDevice[];
  rules: OciDeviceCgroup[];
}

function checkPermissions(p: string, hostPath: string): string {
  const perms = p === '' ? 'rwm' : p;
  if (!/^[rwm]{1,3}$/.test(perms) || new Set(perms).size !== perms.length) {
    throw invalidArgument(`device ${hostPath}: invalid permissions ${shown(p)} (a combination of r, w and m)`);
  }
  return perms;
}

function toOciDevice(d: HostDevice, containerPath: string): OciDevice {
  return { path: containerPath, type: d.type, major: d.major, minor: d.minor, fileMode: d.fileMode, uid: d.uid, gid: d.gid };
}

/**
 * Ordinary containers: deny every device, then allow each requested one with its
 * permissions (runc adds the standard /dev/null, /dev/zero, … nodes and rules itself).
 * Privileged containers: every host device, all allowed.
 */
export function containerDevices(
  criDevices: readonly CriDevice[],
  privileged: boolean,
  opts: { lookup?: DeviceLookup; hostDevices?: readonly HostDevice[] } = {},
): DevicePlan {
  const devices: OciDevice[] = [];
  const seen = new Set<string>();
  const add = (d: OciDevice) => {
    if (seen.has(d.path)) return;
    seen.add(d.path);
    devices.push(d);
  };
  let rules: OciDeviceCgroup[];
  if (privileged) {
    for (const d of opts.hostDevices ?? []) add(toOciDevice(d, d.path));
    rules = [{ allow: true, access: 'rwm' }];
  } else {
    rules = [{ allow: false, access: 'rwm' }];
  }
  for (const cd of criDevices) {
    if (cd.host_path === '') throw invalidArgument('device with an empty host_path');
    const containerBase = cd.container_path === '' ? cd.host_path : cd.container_path;
    if (!containerBase.startsWith('/')) throw invalidArgument(`device container_path ${shown(cd.container_path)} is not absolute`);
    const access = checkPermissions(cd.permissions, cd.host_path);
    if (!opts.lookup) throw failedPrecondition(`device ${cd.host_path} requested but no device lookup is available`);
    const found = opts.lookup(cd.host_path);
    if (found.length === 0) throw invalidArgument(`device ${cd.host_path} has no device nodes`);
    for (const d of found) {
      // A directory maps its nodes below the container path, keeping their relative names.
      const rel = d.path === cd.host_path ? '' : posix.relative(cd.host_path, d.path);
      add(toOciDevice(d, rel === '' ? containerBase : posix.join(containerBase, rel)));
      if (!privileged) rules.push({ allow: true, type: d.type, major: d.major, minor: d.minor, access });
    }
  }
  return { devices, rules };
}

// glibc's gnu_dev_major/gnu_dev_minor on the 64-bit dev_t.
function devMajor(dev: bigint): number {
  return Number(((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn));
}
function devMinor(dev: bigint): number {
  return Number((dev & 0xffn) | ((dev >> 12n) & ~0xffn));
}

const S_IFMT = 0o170000n;
const S_IFCHR = 0o020000n;
const S_IFBLK = 0o060000n;

/**
 * The device node at `path`, or undefined when it is not a character or block device.
 * `follow` resolves a symlink to the node it names (/dev/disk/by-id/… style paths).
 */
export async function readHostDevice(path: string, follow = false): Promise<HostDevice | undefined> {
  const st = follow ? await stat(path, { bigint: true }) : await lstat(path, { bigint: true });
  const fmt = st.mode & S_IFMT;
  if (fmt !== S_IFCHR && fmt !== S_IFBLK) return undefined;
  return {
    path,
    type: fmt === S_IFCHR ? 'c' : 'b',
    major: devMajor(st.rdev),
    minor: devMinor(st.rdev),
    fileMode: Number(st.mode & 0o7777n),
    uid: Number(st.uid),
    gid: Number(st.gid),
  };
}

// Not devices of the host: per-mount-namespace or per-container pseudo directories.
const SKIP_DIRS = new Set(['pts', 'shm', 'fd', 'mqueue', '.lxc', '.lxd-mounts', '.udev']);

/**
 * Every device node at or under `path` (symlinks to devices followed at the top level only, as
 * containerd does). A missing path is the caller's error and says so.
 */
export async function readHostDevices(path: string): Promise<HostDevice[]> {
  let st;
  try {
    st = await stat(path);
  } catch (err) {
    throw invalidArgument(`device ${path} does not exist on the host`, err);
  }
  if (!st.isDirectory()) {
    const d = await readHostDevice(path, true);
    if (!d) throw invalidArgument(`${path} is not a device node`);
    return [d];
  }
  // Entries are read side by side and kept in directory order.
  const found = await Promise.all(
    (await readdir(path, { withFileTypes: true })).map(async (entry): Promise<HostDevice[]> => {
      const full = join(path, entry.name);
      if (entry.name === 'console' || (entry.isDirectory() && SKIP_DIRS.has(entry.name))) return [];
      try {
        if (entry.isDirectory()) return await readHostDevices(full);
        const d = await readHostDevice(full);
        return d ? [d] : [];
      } catch {
        return []; // a node or directory that vanished while we walked /dev is not ours to report
      }
    }),
  );
  return found.flat();
}
