// cgroup v1 `memory` controller: limit and memory+swap limit.
import type { CgroupResources, CgroupWrite } from '../common.js';

export const MEMORY_LIMIT = 'memory.limit_in_bytes';
/** memory + swap; present only when the kernel does swap accounting. */
export const MEMORY_MEMSW_LIMIT = 'memory.memsw.limit_in_bytes';
export const MEMORY_USAGE = 'memory.usage_in_bytes';
/** The reservation (kubelet's memory request on v1 is not written here; operators may). */
export const MEMORY_SOFT_LIMIT = 'memory.soft_limit_in_bytes';
export const MEMORY_MAX_USAGE = 'memory.max_usage_in_bytes';
export const MEMORY_MEMSW_USAGE = 'memory.memsw.usage_in_bytes';
export const MEMORY_FAILCNT = 'memory.failcnt';
export const MEMORY_STAT = 'memory.stat';
/** oom_kill_disable, under_oom and (kernels ≥ 4.13) oom_kill. */
export const MEMORY_OOM_CONTROL = 'memory.oom_control';

export interface MemoryWriteContext {
  /** Current memory.limit_in_bytes of the cgroup, when known (an update); decides write order. */
  currentLimit?: number;
  /** The kernel does swap accounting (memory.memsw.* exist). */
  swapAccounting?: boolean;
}

/**
 * The kernel insists on limit ≤ memsw at every moment, so the order of the two writes
 * depends on where we come from (runc's setMemoryAndSwap): raising memsw above the current
 * limit goes first; otherwise the limit goes first. A limit of -1 with no swap value lifts
 * both, or the old memsw would keep capping the cgroup.
 */
export function memoryWrites(r: CgroupResources, ctx: MemoryWriteContext = {}): CgroupWrite<'memory'>[] {
  const swapAccounting = ctx.swapAccounting ?? true;
  const limit = r.memoryLimit;
  let swap = r.memorySwap;
  if (limit === -1 && swap === undefined && swapAccounting) swap = -1;
  if (!swapAccounting) swap = undefined;

  const mem = limit === undefined ? [] : [{ controller: 'memory' as const, file: MEMORY_LIMIT, value: String(limit) }];
  const sw = swap === undefined ? [] : [{ controller: 'memory' as const, file: MEMORY_MEMSW_LIMIT, value: String(swap) }];
  if (limit !== undefined && swap !== undefined) {
    const current = ctx.currentLimit;
    if (swap === -1 || (current !== undefined && current !== -1 && current < swap)) return [...sw, ...mem];
  }
  return [...mem, ...sw];
}
