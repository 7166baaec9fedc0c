// cgroup v2 `pids` controller.
import type { CgroupResources, CgroupWrite } from '../common.js';

export const PIDS_MAX = 'pids.max';
export const PIDS_CURRENT = 'pids.current';

export function pidsWrites(r: CgroupResources): CgroupWrite<'pids'>[] {
  if (r.pidsLimit === undefined) return [];
  return [{ controller: 'pids', file: PIDS_MAX, value: r.pidsLimit > 0 ? String(r.pidsLimit) : 'max' }];
}
