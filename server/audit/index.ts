// The leak auditor's entry points for its other users: the test suite's leftover check
// (test/leftovers.ts), the kill-point test and anything else that has a berth instance's
// directories but not berthd's code wiring. `berth leaks` (cli/leaks.ts) and berthd
// (daemon.ts) use the same functions.
import { defaultConfig, mergeConfig, validateConfig, type BerthConfig } from '../config.js';

export { auditLeaks, sortFindings } from './leaks.js';
export { repairFindings, REPAIR_PHASES, type RecordRepairs, type RepairContext } from './repair.js';
export { auditOffline, repairOffline, auditScope, berthdRunning, takeBerthdLock, storeRecords } from './offline.js';
export type { AuditReport, AuditRecords, AuditScope, Finding, LeakKind, RepairAction, RepairOutcome, RepairReport } from './types.js';

export interface InstanceDirs {
  root: string;
  state: string;
  socket?: string;
  cniConfDir?: string;
  /** Runtime handlers as configured for that berthd (default: berth's runc and crun). */
  runtimes?: BerthConfig['runtimes'];
}

/** A berth instance's configuration from its directories (embedded defaults, no config file). */
export function instanceConfig(d: InstanceDirs): BerthConfig {
  return validateConfig(
    mergeConfig(defaultConfig(), {
      root: d.root,
      state: d.state,
      ...(d.socket ? { socket: d.socket } : {}),
      ...(d.cniConfDir ? { cni: { conf_dir: d.cniConfDir } } : {}),
      ...(d.runtimes ? { runtimes: d.runtimes } : {}),
    }),
  );
}
