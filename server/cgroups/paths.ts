// Where a cgroup lives. Kubelet's cgroup_parent comes in the form of its cgroup driver:
// "/kubepods/besteffort/pod<uid>" (cgroupfs) or "kubepods-besteffort-pod<uid>.slice"
// (systemd). berth's cgroupfs driver accepts both, expanding slice names the way systemd
// lays them out on disk (runc's ExpandSlice).
import { posix } from 'node:path';
import { invalidArgument } from '../errors.js';

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
  if (parent.split('/').includes('..')) throw invalidArgument(`cgroup parent ${JSON.stringify(parent)} contains ".."`);
  const p = posix.normalize(`/${parent}`);
  return p.length > 1 && p.endsWith('/') ? p.slice(0, -1) : p;
}

/** The container's cgroup (cgroupfs driver): "<parent>/<id>". */
export function containerCgroupPath(parent: string, id: string): string {
  if (id === '' || id.includes('/') || id === '.' || id === '..') throw invalidArgument(`invalid cgroup name ${JSON.stringify(id)}`);
  return posix.join(cgroupfsParent(parent), id);
}

/**
 * For the systemd driver (later step): the "slice:prefix:name" form runc takes as
 * cgroupsPath, and the directory systemd will create for it.
 */
export function systemdCgroup(parentSlice: string, prefix: string, id: string): { cgroupsPath: string; fsPath: string } {
  const slice = parentSlice === '' ? 'system.slice' : parentSlice;
  return {
    cgroupsPath: `${slice}:${prefix}:${id}`,
    fsPath: posix.join(expandSlice(slice), `${prefix}-${id}.scope`),
  };
}
