// RuntimeConfig: which cgroup driver kubelet must match — the effective one (the configured
// driver, or what "auto" resolved to at start), so that kubelet can follow it.
import type { CgroupDriverName } from '../cgroups/config.js';
import type { RuntimeConfigResponse } from '../../wire/cri/generated/runtime/v1/RuntimeConfigResponse.js';

export function runtimeConfig(driver: CgroupDriverName): RuntimeConfigResponse {
  return { linux: { cgroup_driver: driver === 'systemd' ? 'SYSTEMD' : 'CGROUPFS' } };
}
