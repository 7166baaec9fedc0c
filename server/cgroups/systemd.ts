// The systemd driver (CRI-O's systemd.go): systemd owns the cgroup tree, so berth never
// makes a directory in it. cgroup_parent is a slice, as kubelet sends it with this driver;
// kubelet makes pod slices itself, so berth starts one only when it is missing (crictl,
// tests) and stops only what it started. Containers become scopes "berth-<id>.scope" made by
// the OCI runtime's systemd support (cgroupsPath "slice:berth:<id>", runtime flag
// --systemd-cgroup through conmon's -s); conmon is moved into "berth-conmon-<id>.scope" so
// that a restart of berthd's unit does not take it along.
import { readdir, readFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { invalidArgument } from '../errors.js';
import { KeyedMutex } from '../keyed-mutex.js';
import type { CreatedCgroups } from './cgroupfs.js';
import type { CgroupLayout } from './detect.js';
import type { CgroupDriver, ContainerCgroup, PodCgroup } from './driver.js';
import { parseProcCgroup } from './proc.js';
import { expandSlice, systemdCgroup, systemdPodParent, unitName } from './paths.js';
import type { SystemdClient } from './systemd-client.js';

/** Where containers of pods without a cgroup_parent go (CRI-O's default for this driver). */
export const SYSTEMD_DEFAULT_SLICE = 'system.slice';
/** The prefix of container scopes: berth-<id>.scope. */
export const SCOPE_PREFIX = 'berth';
export const MONITOR_PREFIX = 'berth-conmon';

/** "a-b-c.slice" → ["a.slice", "a-b.slice", "a-b-c.slice"] (the slice and its implicit parents, top first). */
export function sliceAncestry(slice: string): string[] {
  const name = slice.slice(0, -'.slice'.length);
  const parts = name.split('-');
  return parts.map((_, i) => `${parts.slice(0, i + 1).join('-')}.slice`);
}

/** "system.slice:berth:<id>" → the scope's path below the hierarchy root. */
export function systemdPathOf(cgroupsPath: string): string {
  const m = /^([^:/]*):([^:/]+):([^:/]+)$/.exec(cgroupsPath);
  if (!m || m[2] === undefined || m[3] === undefined) throw invalidArgument(`cgroupsPath ${JSON.stringify(cgroupsPath)} is not in slice:prefix:name form`);
  const slice = m[1] || SYSTEMD_DEFAULT_SLICE;
  const unit = m[3].endsWith('.slice') ? m[3] : `${m[2]}-${m[3]}.scope`;
  return posix.join(expandSlice(slice), unit);
}

/** Where systemd keeps a process: the unified line on v2 and hybrid hosts, name=systemd on v1 ones. */
async function systemdCgroupOf(pid: number, layout: CgroupLayout, procRoot = '/proc'): Promise<string | undefined> {
  let text: string;
  try {
    text = await readFile(`${procRoot}/${pid}/cgroup`, 'utf8');
  } catch {
    return undefined;
  }
  const entries = parseProcCgroup(text);
  const named = entries.find((e) => e.controllers.includes('name=systemd'));
  if (layout.mode !== 'v2' && named) return named.path;
  return entries.find((e) => e.id === 0)?.path;
}

export interface SystemdDriverOptions {
  layout: CgroupLayout;
  client: SystemdClient;
  /** Parent slices berth started and pods share (kubepods.slice …), kept in the store. */
  shared: CreatedCgroups;
  /** How long placeMonitor waits for systemd to move conmon (the StartTransientUnit job runs after the call returns). */
  placeTimeoutMs?: number;
  procRoot?: string;
}

export function systemdDriver(opts: SystemdDriverOptions): CgroupDriver {
  const { layout, client, shared } = opts;
  // The hierarchy systemd keeps its tree in: the unified one, or name=systemd on v1/hybrid hosts.
  const tree = layout.mode === 'v2' ? layout.unified : (layout.systemdHierarchy ?? layout.unified);
  // Pods that share a parent slice start and stop it one at a time.
  const sliceLocks = new KeyedMutex();

  /** A slice's cgroup has child cgroups (other pods, scopes) or processes. */
  async function inUse(slice: string): Promise<boolean> {
    if (tree === undefined) return true;
    try {
      const entries = await readdir(join(tree, expandSlice(slice)), { withFileTypes: true });
      if (entries.some((e) => e.isDirectory())) return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw e;
    }
    return false;
  }

  return {
    name: 'systemd',
    runtimeSystemd: true,
    parsePodParent: systemdPodParent,

    async createPod(parent, onPlanned) {
      const slice = systemdPodParent(parent);
      const chain = sliceAncestry(slice);
      return sliceLocks.run(chain[0]!, async () => {
        const pc: PodCgroup = { path: expandSlice(slice), created: [], slice };
        if (await client.isActive(slice)) return pc; // kubelet's (or the operator's)
        // Parents that are not running yet start with the pod's slice and are shared afterwards.
        for (const ancestor of chain.slice(0, -1)) {
          if (ancestor !== '-.slice' && !(await client.isActive(ancestor))) shared.add(ancestor);
        }
        onPlanned?.({ ...pc, sliceStarted: true });
        await client.startSlice(slice);
        pc.sliceStarted = true;
        return pc;
      });
    },

    async removePod(pc) {
      if (!pc.slice) return;
      const slice = pc.slice;
      const chain = sliceAncestry(slice);
      await sliceLocks.run(chain[0]!, async () => {
        if (pc.sliceStarted) await client.stop(slice);
        for (const ancestor of chain.slice(0, -1).reverse()) {
          if (!shared.has(ancestor)) break;
          if (await inUse(ancestor)) break;
          await client.stop(ancestor);
          shared.delete(ancestor);
        }
      });
    },

    async containerCgroup(pod, id): Promise<ContainerCgroup> {
      const slice = pod?.slice ?? SYSTEMD_DEFAULT_SLICE;
      unitName(SCOPE_PREFIX, id, '.scope');
      const c = systemdCgroup(slice, SCOPE_PREFIX, id);
      return { cgroupsPath: c.cgroupsPath, path: c.fsPath, created: [], parents: [] };
    },

    pathOf: systemdPathOf,

    async removeContainerParents() {
      // systemd removes a scope's cgroup when the scope stops (runtime delete stops it).
    },

    async scopeOomKilled(cgroupsPath) {
      const unit = systemdPathOf(cgroupsPath).split('/').pop()!;
      return (await client.property(unit, 'Result')) === 'oom-kill';
    },

    forgetCreated: (entry) => shared.delete(entry),

    async placeMonitor(pid, containerId, pod) {
      const scope = unitName(MONITOR_PREFIX, containerId, '.scope');
      const slice = pod?.slice ?? SYSTEMD_DEFAULT_SLICE;
      await client.startScope(scope, slice, [pid], `berth conmon for container ${containerId}`);
      // The job that moves the process runs after StartTransientUnit returns: wait for it, so
      // that a berthd restart right after CreateContainer cannot take conmon along.
      const want = `/${scope}`;
      const deadline = Date.now() + (opts.placeTimeoutMs ?? 5000);
      for (;;) {
        const where = await systemdCgroupOf(pid, layout, opts.procRoot);
        if (where === undefined || where.endsWith(want)) return;
        if (Date.now() > deadline) return;
        await new Promise((r) => setTimeout(r, 20));
      }
    },
  };
}
