// One cgroup on the host's hierarchy: picks the v1 (and hybrid) or v2 implementation for the
// layout, so that the manager (manager.ts) and its callers never ask which is underneath.
import { failedPrecondition } from '../errors.js';
import type { CgroupManager } from './common.js';
import type { CgroupLayout } from './detect.js';
import { createV1Manager } from './v1/manager.js';
import { createV2Manager } from './v2/manager.js';
import type { CgroupReadCache } from './read-cache.js';

export function createCgroupManager(
  layout: CgroupLayout,
  path: string,
  opts: { makeDir?: (dir: string) => Promise<void>; removeDir?: (dir: string) => Promise<void>; readCache?: CgroupReadCache } = {},
): CgroupManager {
  if (layout.mode === 'v2') {
    if (layout.unified === undefined) throw failedPrecondition('cgroup v2 layout without a cgroup2 mount');
    return createV2Manager({ root: layout.unified, path, ...opts });
  }
  return createV1Manager({
    mounts: layout.v1,
    path,
    ...(layout.mode === 'hybrid' && layout.unified !== undefined
      ? { unified: { root: layout.unified, controllers: layout.unifiedControllers ?? [] } }
      : {}),
    ...opts,
  });
}
