// The ONE place where metrics/ touches the cgroup manager (server/cgroups): one snapshot per
// cgroup through the manager's reader (usage, limits, pressure and its processes), and where a
// container's process actually is. metrics/ parses no cgroup file of its own: every file has
// one reader and one parser, in server/cgroups (v1/, v2/, stats.ts), for the stats RPCs, the
// OOM check and the metrics alike.
import type { Cgroups, ContainerCgroupRef } from '../server/cgroups/manager.js';
import type { CgroupLimits, CgroupStats } from '../server/cgroups/common.js';
import type { Pressure, PsiResource } from '../server/cgroups/v2/psi.js';

export type { CgroupLimits, CgroupStats, Pressure };

export interface CgroupReading {
  stats: CgroupStats;
  limits: CgroupLimits;
  pressure?: Partial<Record<PsiResource, Pressure>>;
  /** Processes in the cgroup (cgroup.procs), for the process family. */
  pids: number[];
}

/** What the sampler needs of the cgroup manager. */
export interface CgroupSource {
  /**
   * Everything the metrics need from one cgroup; undefined when it does not exist (any more).
   * With `limits`, those are kept instead of read again (the sampler reads a target's limits
   * every few rounds: they change far less often than usage).
   */
  read(path: string, limits?: CgroupLimits): CgroupReading | undefined;
  /** The cgroup a container's process is in (crun under systemd: one level below its scope). */
  containerPath(ref: ContainerCgroupRef): Promise<string>;
}

export function cgroupSource(cgroups: Pick<Cgroups, 'snapshot' | 'containerPath'>, opts: { pressure: boolean }): CgroupSource {
  return {
    read(path, limits) {
      // With kept limits the stats' own two (memory, pids) come from them, not from their files.
      const s = cgroups.snapshot(path, { limits: limits === undefined, statLimits: limits === undefined, pressure: opts.pressure });
      if (!s) return undefined;
      if (limits) {
        if (s.stats.memory && limits.memoryLimit !== undefined) s.stats.memory.limit = limits.memoryLimit;
        if (s.stats.pids && limits.pidsLimit !== undefined) s.stats.pids.limit = limits.pidsLimit;
      }
      const r: CgroupReading = { stats: s.stats, limits: limits ?? s.limits ?? { hugepages: [] }, pids: s.procs };
      if (s.pressure) r.pressure = s.pressure;
      return r;
    },
    containerPath: (ref) => cgroups.containerPath(ref),
  };
}
