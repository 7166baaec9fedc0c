// RuntimeConfig: which cgroup driver kubelet must match.
import type { BerthConfig } from '../config.js';
import type { RuntimeConfigResponse } from '../../wire/cri/generated/runtime/v1/RuntimeConfigResponse.js';

export function runtimeConfig(config: BerthConfig): RuntimeConfigResponse {
  return { linux: { cgroup_driver: config.cgroup_driver === 'systemd' ? 'SYSTEMD' : 'CGROUPFS' } };
}
