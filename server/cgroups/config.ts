// Which cgroup driver berthd uses: configured as "auto" (the default), "cgroupfs" or
// "systemd", resolved once at start against the detected host (pure).
import { failedPrecondition } from '../errors.js';
import type { CgroupHost } from './detect.js';

export type CgroupDriverName = 'cgroupfs' | 'systemd';
export type CgroupDriverSetting = CgroupDriverName | 'auto';

/**
 * auto: systemd where systemd is PID 1 and owns a hierarchy berth can place scopes in (the
 * unified hierarchy, or a hybrid host's name=systemd one beside cgroup2), cgroupfs elsewhere
 * (plain v1, containers without systemd, our hybrid test hosts whose PID 1 is not systemd).
 * An explicit "systemd" on a host without systemd fails berthd's start, naming why.
 */
export function resolveCgroupDriver(setting: CgroupDriverSetting, host: CgroupHost): CgroupDriverName {
  const systemdUsable =
    host.systemd && (host.layout.mode === 'v2' || (host.layout.mode === 'hybrid' && host.layout.systemdHierarchy !== undefined));
  if (setting === 'cgroupfs') return 'cgroupfs';
  if (setting === 'systemd') {
    if (!host.systemd) throw failedPrecondition('config: cgroup_driver "systemd" needs systemd as PID 1 (/run/systemd/system is missing); use "cgroupfs" or "auto"');
    if (host.layout.mode === 'v1' && host.layout.systemdHierarchy === undefined) {
      throw failedPrecondition('config: cgroup_driver "systemd" needs the name=systemd hierarchy or cgroup v2, and this host mounts neither');
    }
    return 'systemd';
  }
  return systemdUsable ? 'systemd' : 'cgroupfs';
}
