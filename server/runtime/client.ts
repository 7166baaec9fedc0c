// The runtime client berthd makes once (daemon.ts) from its configuration and hands to the
// container code and the Status RPC: the OCI runtime of a handler or of a recorded
// container (oci-runtime.ts), whether a handler's binary can run containers on this host
// (probed once per binary), and the conmon binary the shim runs (conmon.ts).
import type { BerthConfig } from '../config.js';
import type { CgroupMode } from '../cgroups/detect.js';
import { run } from '../exec.js';
import { handlerCgroupProblem, needsVersionProbe, runtimeHandle } from './handlers.js';
import { OciRuntime } from './oci-runtime.js';
import { CONMON } from './conmon.js';

/** What a container record says about its runtime (the binary and root it was created with). */
export interface RecordedRuntime {
  handler: string;
  runtimePath: string;
  runtimeRoot: string;
}

export interface RuntimeClientOptions {
  /** The host's cgroup layout (some runtimes refuse some layouts). */
  cgroupMode: CgroupMode;
  /** conmon's path (default Debian's). */
  conmon?: string;
}

export class RuntimeClient {
  readonly conmon: string;
  private readonly cgroupMode: CgroupMode;
  private readonly problems = new Map<string, Promise<string>>();

  constructor(
    private readonly config: Pick<BerthConfig, 'runtimes' | 'state'>,
    opts: RuntimeClientOptions,
  ) {
    this.conmon = opts.conmon ?? CONMON;
    this.cgroupMode = opts.cgroupMode;
  }

  /** '' when a runtime binary can run containers on this host; the reason otherwise (probed once per binary). */
  problem(runtimePath: string): Promise<string> {
    let p = this.problems.get(runtimePath);
    if (!p) {
      p = (async () => {
        if (!needsVersionProbe(runtimePath, this.cgroupMode)) return '';
        const v = await run(runtimePath, ['--version'], { allowFailure: true, timeoutMs: 5000 }).catch(() => undefined);
        return handlerCgroupProblem(runtimePath, v?.stdout ?? '', this.cgroupMode);
      })();
      this.problems.set(runtimePath, p);
    }
    return p;
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
