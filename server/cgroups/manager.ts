// THE cgroup manager of berthd: one object, created once in daemon.ts from the host
// detected at start, handed to everything that touches a cgroup. It pairs a driver (who owns
// the tree: cgroupfs.ts or systemd.ts) with the host's hierarchy (v1/hybrid or v2:
// hierarchy.ts over v1/ and v2/), converts CRI resources in one place (convert.ts) and reads
// stats in one place (stats.ts). Nothing else in berthd builds a cgroup path.
import { posix } from 'node:path';
import { failedPrecondition, invalidArgument } from '../errors.js';
import type { CgroupManager, CgroupResources, CgroupSnapshot, CgroupStats, SnapshotParts } from './common.js';
import { resolveCgroupDriver, type CgroupDriverName, type CgroupDriverSetting } from './config.js';
import { cgroupfsDriver, CreatedCgroups, type SettingsLike } from './cgroupfs.js';
import { fromCriResources, toOciResources, type CriResources } from './convert.js';
import type { CgroupHost, CgroupLayout } from './detect.js';
import type { CgroupDriver, ContainerCgroup, PodCgroup } from './driver.js';
import { createCgroupManager } from './hierarchy.js';
import { CgroupReadCache } from './read-cache.js';
import { readProcessCgroup } from './proc.js';
import { systemdDriver } from './systemd.js';
import { systemdClient, type CommandRunner } from './systemd-client.js';
import type { OciLinuxResources } from '../oci/types.js';
import type { Pressure, PsiResource } from './v2/psi.js';

/** A container as the manager needs to see it. */
export interface ContainerCgroupRef {
  /** The OCI cgroupsPath it was created with. */
  cgroupsPath: string;
  /** Its init process (0 = not known / not running). */
  pid: number;
}

export interface Cgroups {
  readonly host: CgroupHost;
  readonly layout: CgroupLayout;
  readonly version: 1 | 2;
  readonly driver: CgroupDriverName;
  /** A pod's cgroup_parent in the driver's form (INVALID_ARGUMENT naming the fix otherwise). */
  parsePodParent(parent: string): string;
  createPod(parent: string, onPlanned?: (planned: PodCgroup) => void): Promise<PodCgroup>;
  removePod(pc: PodCgroup): Promise<void>;
  /** The cgroupsPath of a new container and what berth must clean up after it. */
  containerCgroup(pod: PodCgroup | undefined, id: string): Promise<ContainerCgroup>;
  removeContainerParents(created: readonly string[]): Promise<void>;
  /**
   * The container's own cgroup, where the runtime left it: `runtime delete` removes it, but a
   * create killed after the runtime made it and before it recorded its state (runc SIGKILLed
   * mid-create) leaves it with no state to delete. cgroupfs only: under systemd the runtime's
   * transient scope is collected by systemd once empty. Missing is done; processes still in
   * it are FAILED_PRECONDITION.
   */
  removeContainerCgroup(c: Pick<ContainerCgroupRef, 'cgroupsPath'>): Promise<void>;
  /** Drops a shared cgroup level (cgroupfs) or slice (systemd) from the store's list of what berth made. */
  forgetCreated(entry: string): void;
  /** conmon flag: the OCI runtime drives cgroups through systemd. */
  readonly runtimeSystemd: boolean;
  placeMonitor(pid: number, containerId: string, pod: PodCgroup | undefined): Promise<void>;
  /**
   * Where the container's process actually is, from /proc/<pid>/cgroup (crun: one level below
   * its scope); the cgroup the runtime was asked for when the process is gone.
   */
  containerPath(c: ContainerCgroupRef): Promise<string>;
  /**
   * The cgroup manager's opinion on whether a container that just exited was OOM-killed, for
   * when conmon's marker is missing: conmon's v2 watch races systemd's removal of the scope
   * (containers/conmon#426, cri-o/cri-o#7035; fixed after the 2.1.6 Debian ships). In order:
   * the container cgroup's own OOM-kill count while it is still there (hierarchical: it covers
   * crun's `container` child); a rise of its parent's (the pod cgroup or slice) count since
   * the last container of that parent exited or was created; systemd's Result of the scope.
   * Call it for every exit: each call moves the parent's mark, so one OOM kill is told once.
   */
  oomKilled(c: Pick<ContainerCgroupRef, 'cgroupsPath'>): Promise<boolean>;
  /** Parent cgroups whose OOM-kill count is remembered (for the soak's leak check). */
  oomMarkCount?(): number;
  /** Entries of the cgroup read cache (read-cache.ts; for the soak's leak check). */
  readCacheSize?(): number;
  /** One cgroup on the host's hierarchy (a path below the root). */
  open(path: string): CgroupManager;
  /** Stats of a cgroup; undefined when it does not exist (any more). */
  stats(path: string): Promise<CgroupStats | undefined>;
  pressure(path: string, resource: PsiResource): Promise<Pressure | undefined>;
  /**
   * One read of a cgroup's usage, limits and pressure (the metrics sampler, and through it
   * the stats RPCs): undefined when it does not exist; other errors are thrown.
   */
  snapshot(path: string, parts?: SnapshotParts): CgroupSnapshot | undefined;
  /**
   * Live update: `runtimeUpdate` (runc/crun update, which also keeps a systemd scope's
   * properties in step) applies what the runtime knows; what it does not (hugepage limits)
   * is written to the container's actual cgroup.
   */
  updateContainer(c: ContainerCgroupRef, res: CriResources, runtimeUpdate: (r: Omit<OciLinuxResources, 'devices'>) => Promise<void>): Promise<void>;
  /** For Status (verbose) and logs. */
  describe(): Record<string, unknown>;
}

export interface CgroupsOptions {
  setting: CgroupDriverSetting;
  /** The settings table: shared parents berth created (cgroupfs dirs, systemd slices). */
  settings: SettingsLike;
  /** Runs systemctl/busctl (systemd driver); injected by tests. */
  runner?: CommandRunner;
  procRoot?: string;
}

export function createCgroups(host: CgroupHost, opts: CgroupsOptions): Cgroups {
  const layout = host.layout;
  const driverName = resolveCgroupDriver(opts.setting, host);
  const driver: CgroupDriver =
    driverName === 'systemd'
      ? systemdDriver({ layout, client: systemdClient(opts.runner), shared: new CreatedCgroups(opts.settings, 'pod_slices'), ...(opts.procRoot ? { procRoot: opts.procRoot } : {}) })
      : cgroupfsDriver(layout, new CreatedCgroups(opts.settings));
  const version = layout.mode === 'v2' ? 2 : 1;
  // One read cache for the host's hierarchy: every cgroup opened here shares it.
  const readCache = new CgroupReadCache();
  const open = (path: string) => createCgroupManager(layout, path, { readCache });
  /** Parent cgroup → its OOM-kill count when last looked at (container create or exit). */
  const oomMarks = new Map<string, bigint>();

  async function stats(path: string): Promise<CgroupStats | undefined> {
    try {
      return await open(path).stats();
    } catch {
      return undefined; // gone (container exited and removed) or not created
    }
  }

  async function containerPath(c: ContainerCgroupRef): Promise<string> {
    const actual = c.pid > 0 ? await readProcessCgroup(c.pid, layout, opts.procRoot) : undefined;
    return actual ?? driver.pathOf(c.cgroupsPath);
  }

  /** CRI → neutral for a live update, refusing what this host cannot apply. */
  function convert(res: CriResources): CgroupResources {
    const r = fromCriResources(res);
    if (version === 1 && r.unified && Object.keys(r.unified).length > 0) {
      throw invalidArgument(`the unified cgroup map (${Object.keys(r.unified).join(', ')}) needs cgroup v2; this host uses cgroup v1`);
    }
    return r;
  }

  return {
    host,
    layout,
    version,
    driver: driverName,
    runtimeSystemd: driver.runtimeSystemd,
    parsePodParent: (p) => driver.parsePodParent(p),
    createPod: (p, onPlanned) => driver.createPod(p, onPlanned),
    async removePod(pc) {
      await driver.removePod(pc);
      oomMarks.delete(pc.path);
    },
    async containerCgroup(pod, id) {
      const placement = await driver.containerCgroup(pod, id);
      const parent = posix.dirname(placement.path);
      if (!oomMarks.has(parent)) oomMarks.set(parent, (await stats(parent))?.memory?.oomKills ?? 0n);
      return placement;
    },
    removeContainerParents: (created) => driver.removeContainerParents(created),
    async removeContainerCgroup(c) {
      if (driverName === 'systemd' || !c.cgroupsPath) return;
      await open(driver.pathOf(c.cgroupsPath)).destroy();
    },
    forgetCreated: (entry) => driver.forgetCreated(entry),
    placeMonitor: (pid, id, pod) => driver.placeMonitor(pid, id, pod),

    containerPath,
    oomMarkCount: () => oomMarks.size,
    readCacheSize: () => readCache.size(),

    async oomKilled(c) {
      const path = driver.pathOf(c.cgroupsPath);
      const parent = posix.dirname(path);
      const own = await stats(path);
      const parentKills = (await stats(parent))?.memory?.oomKills;
      const mark = oomMarks.get(parent);
      if (parentKills !== undefined) oomMarks.set(parent, parentKills);
      if (own?.memory?.oomKills !== undefined) return own.memory.oomKills > 0n;
      if (parentKills !== undefined && mark !== undefined && parentKills > mark) return true;
      return driver.scopeOomKilled(c.cgroupsPath).catch(() => false);
    },

    open,
    stats,
    snapshot: (path, parts) => open(path).snapshot(parts),
    pressure: async (path, resource) => {
      try {
        return await open(path).pressure(resource);
      } catch {
        return undefined;
      }
    },

    async updateContainer(c, res, runtimeUpdate) {
      const r = convert(res);
      const { devices: _devices, hugepageLimits, ...viaRuntime } = toOciResources(r, []);
      await runtimeUpdate(viaRuntime);
      if (hugepageLimits && hugepageLimits.length > 0) {
        if (c.pid <= 0) throw failedPrecondition('the container has no process whose cgroup could take hugepage limits');
        await open(await containerPath(c)).apply({ hugepageLimits: r.hugepageLimits ?? [] });
      }
    },

    describe() {
      return { driver: driverName, systemd: host.systemd, ...layout };
    },
  };
}
