// The runtime client berthd makes once (daemon.ts) from its configuration and hands to the
// container code: the OCI runtime of a handler or of a recorded container (oci-runtime.ts)
// and the conmon binary the shim runs (conmon.ts).
import type { BerthConfig } from '../config.js';
import { runtimeHandle } from './handlers.js';
import { OciRuntime } from './oci-runtime.js';
import { CONMON } from './conmon.js';

/** What a container record says about its runtime (the binary and root it was created with). */
export interface RecordedRuntime {
  handler: string;
  runtimePath: string;
  runtimeRoot: string;
}

export class RuntimeClient {
  readonly conmon: string;

  constructor(
    private readonly config: Pick<BerthConfig, 'runtimes' | 'state'>,
    opts: { conmon?: string } = {},
  ) {
    this.conmon = opts.conmon ?? CONMON;
  }

  /** The runtime of a configured handler (FAILED_PRECONDITION when it is not configured). */
  handler(name: string): OciRuntime {
    return new OciRuntime(runtimeHandle(this.config, name));
  }

  /** The runtime a container was created with: its record's binary and root, whatever the configuration says now. */
  forContainer(rec: RecordedRuntime): OciRuntime {
    return new OciRuntime({ name: rec.handler, path: rec.runtimePath, root: rec.runtimeRoot });
  }
}
