// UpdateRuntimeConfig: the node's pod CIDR, kept in the settings store and handed to CNI
// plugins that declare the ipRanges capability.
import { isIP } from 'node:net';
import { invalidArgument } from '../errors.js';
import type { SettingsStore } from '../store/settings.js';
import type { Logger } from '../logger.js';
import type { UpdateRuntimeConfigRequest__Output } from '../../wire/cri/generated/runtime/v1/UpdateRuntimeConfigRequest.js';
import type { UpdateRuntimeConfigResponse } from '../../wire/cri/generated/runtime/v1/UpdateRuntimeConfigResponse.js';

/** The settings key that holds the pod CIDR (read by the sandbox's network settings). */
export const POD_CIDR_KEY = 'pod_cidr';

/** One CIDR or a comma-separated dual-stack pair, each "address/prefix". */
export function validatePodCidr(cidr: string): string[] {
  const parts = cidr.split(',').map((s) => s.trim());
  for (const p of parts) {
    const [addr, len, ...rest] = p.split('/');
    const fam = isIP(addr ?? '');
    const n = Number(len);
    if (!fam || rest.length || !/^\d+$/.test(len ?? '') || n > (fam === 4 ? 32 : 128)) throw invalidArgument(`pod_cidr "${p}" is not a CIDR`);
  }
  return parts;
}

export function updateRuntimeConfig(settings: SettingsStore, req: UpdateRuntimeConfigRequest__Output, log: Logger): UpdateRuntimeConfigResponse {
  const cidr = req.runtime_config?.network_config?.pod_cidr ?? '';
  if (!cidr) return {};
  validatePodCidr(cidr);
  if (settings.get(POD_CIDR_KEY) !== cidr) {
    settings.set(POD_CIDR_KEY, cidr);
    log.info('pod CIDR updated', { pod_cidr: cidr });
  }
  return {};
}
