// Where a cgroup lives. Kubelet's cgroup_parent comes in the form of its cgroup driver:
// "/kubepods/besteffort/pod<uid>" (cgroupfs) or "kubepods-besteffort-pod<uid>.slice"
// (systemd). berth's cgroupfs driver accepts both, expanding slice names the way systemd
// lays them out on disk (runc's ExpandSlice).
import { posix } from 'node:path';
import { invalidArgument } from '../errors.js';
import { shown } from '../validate/text.js';

const SLICE = '.slice';

/**
 * "kubepods-besteffort-pod1.slice" →
 * "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice";
 * "-.slice" (the root slice) → "/".
 */
export function expandSlice(slice: string): string {
  if (!slice.endsWith(SLICE) || slice.length <= SLICE.length || slice.includes('/')) {
    throw invalidArgument(`invalid systemd slice name ${JSON.stringify(slice)}`);
  }
  const name = slice.slice(0, -SLICE.length);
  if (name === '-') return '/';
  let path = '';
  let prefix = '';
  for (const component of name.split('-')) {
    // "a--b.slice" and "-a.slice" name no slice.
    if (component === '') throw invalidArgument(`invalid systemd slice name ${JSON.stringify(slice)}`);
    path += `/${prefix}${component}${SLICE}`;
    prefix += `${component}-`;
  }
  return path;
}

export function isSliceName(s: string): boolean {
  return s.endsWith(SLICE) && !s.includes('/');
}

/** A cgroup parent as an absolute cgroupfs path; ".." is refused so nothing escapes the hierarchy. */
export function cgroupfsParent(parent: string): string {
  if (parent === '') return '/';
  if (isSliceName(parent)) return expandSlice(parent);
  if (parent.split('/').includes('..')) throw invalidArgument(`cgroup parent ${shown(parent)} contains ".."`);
  const p = posix.normalize(`/${parent}`);
  return p.length > 1 && p.endsWith('/') ? p.slice(0, -1) : p;
}

/** The container's cgroup (cgroupfs driver): "<parent>/<id>". */
export function containerCgroupPath(parent: string, id: string): string {
  if (id === '' || id.includes('/') || id === '.' || id === '..') throw invalidArgument(`invalid cgroup name ${JSON.stringify(id)}`);
  return posix.join(cgroupfsParent(parent), id);
}

const PARENT_CHARS = /^[a-zA-Z0-9_.:@\/-]+$/;

/**
 * A pod's cgroup_parent under the cgroupfs driver: an absolute cgroupfs path, or a systemd
 * slice name (kubepods-besteffort-pod1.slice) expanded to its nested path as runc does.
 */
export function cgroupfsPodParent(parent: string): string {
  if (!PARENT_CHARS.test(parent)) throw invalidArgument(`cgroup_parent ${shown(parent)} contains characters that are not allowed`);
  if (!isSliceName(parent) && !parent.startsWith('/')) throw invalidArgument(`cgroup_parent ${shown(parent)} must be an absolute cgroup path or a systemd slice name`);
  const norm = cgroupfsParent(parent);
  if (norm === '/') throw invalidArgument('cgroup_parent must not be the root cgroup');
  return norm;
}

/**
 * A pod's cgroup_parent under the systemd driver: a slice name, as kubelet sends it with
 * that driver. A path names no unit systemd could manage, so it is refused, saying how to fix it.
 */
export function systemdPodParent(parent: string): string {
  if (!PARENT_CHARS.test(parent)) throw invalidArgument(`cgroup_parent ${shown(parent)} contains characters that are not allowed`);
  if (!isSliceName(parent)) {
    throw invalidArgument(
      `cgroup_parent ${shown(parent)} is a cgroupfs path, but berthd uses the systemd cgroup driver: send a slice name such as "kubepods-besteffort-pod<uid>.slice" (kubelet's cgroupDriver: systemd), or run berthd with cgroup_driver = "cgroupfs"`,
    );
  }
  if (parent === '-.slice') throw invalidArgument('cgroup_parent must not be the root slice');
  expandSlice(parent); // validates the name
  return parent;
}

/** A systemd unit name berth builds from its own ids: letters, digits, "-", "_", "." only. */
export function unitName(prefix: string, id: string, suffix: '.scope' | '.slice'): string {
  if (!/^[a-zA-Z0-9_.-]+$/.test(id) || !/^[a-zA-Z0-9_-]+$/.test(prefix)) throw invalidArgument(`invalid unit name part ${JSON.stringify(prefix)}/${JSON.stringify(id)}`);
  return `${prefix}-${id}${suffix}`;
}

/**
 * For the systemd driver: the "slice:prefix:name" form runc and crun take as cgroupsPath,
 * and the directory systemd will create for it (crun then puts the process one level down).
 */
export function systemdCgroup(parentSlice: string, prefix: string, id: string): { cgroupsPath: string; fsPath: string } {
  const slice = parentSlice === '' ? 'system.slice' : parentSlice;
  return {
    cgroupsPath: `${slice}:${prefix}:${id}`,
    fsPath: posix.join(expandSlice(slice), `${prefix}-${id}.scope`),
  };
}
