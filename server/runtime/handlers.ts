// Runtime handlers as containers use them: the binary and its state root, and whether the
// handler can run containers on this host. Debian's crun 1.8 refuses hosts with a hybrid
// cgroup layout ("cgroups in hybrid mode not supported"); such a handler is reported not
// ready (Status) and CreateContainer for it fails with FAILED_PRECONDITION naming why. The
// probe runs once per binary, in the runtime client (client.ts), against the host's cgroup
// layout detected once at start.
import { basename, join } from 'node:path';
import type { BerthConfig } from '../config.js';
import { failedPrecondition } from '../errors.js';
import { isExecutable } from '../../hostutil/exists.js';
import type { CgroupMode } from '../cgroups/detect.js';

export interface RuntimeHandle {
  name: string;
  path: string;
  /** The runtime's --root. */
  root: string;
}

export function runtimeHandle(config: Pick<BerthConfig, 'runtimes' | 'state'>, name: string): RuntimeHandle {
  const h = config.runtimes[name];
  if (!h) throw failedPrecondition(`runtime handler ${JSON.stringify(name)} is not configured`);
  return { name, path: h.path, root: h.root || join(config.state, name) };
}

/** Why a runtime binary cannot run containers under a cgroup layout, or '' (pure). */
export function handlerCgroupProblem(runtimePath: string, versionText: string, mode: CgroupMode): string {
  if (mode !== 'hybrid' || !basename(runtimePath).includes('crun')) return '';
  const version = /crun version (\S+)/.exec(versionText)?.[1] ?? 'unknown version';
  return `crun ${version}: cgroups in hybrid mode not supported (this host mounts cgroup v1 controllers and a cgroup2 hierarchy)`;
}

/** Whether a runtime binary's version must be read to judge it under a cgroup layout (pure). */
export function needsVersionProbe(runtimePath: string, mode: CgroupMode): boolean {
  return mode === 'hybrid' && basename(runtimePath).includes('crun');
}

/** default_runtime's value that lets berthd choose at start (the embedded default). */
export const AUTO_RUNTIME = 'auto';

/**
 * The handler for pods that name none (pure). `auto` picks crun where it runs containers
 * (cgroup v2: Debian's crun refuses hybrid hosts) and its binary is there, runc elsewhere:
 * measured in the systemd cgroup v2 guest, crun takes pod-to-running to 0.92× and ExecSync to
 * 0.61× of berth with runc, and passes the same conformance areas (README, "Testing in the
 * guest"). Anything else is taken as configured.
 */
export function resolveDefaultRuntime(
  config: Pick<BerthConfig, 'default_runtime' | 'runtimes'>,
  mode: CgroupMode,
  crunExecutable: boolean,
): { name: string; why: string } {
  if (config.default_runtime !== AUTO_RUNTIME) return { name: config.default_runtime, why: 'configured' };
  const crun = config.runtimes.crun;
  if (mode === 'v2' && crun && crunExecutable) return { name: 'crun', why: `auto: cgroup v2 and ${crun.path} is there` };
  const why = mode !== 'v2' ? `auto: cgroup ${mode}, where crun does not run containers` : crun ? `auto: ${crun.path} is missing` : 'auto: no crun handler configured';
  if (config.runtimes.runc) return { name: 'runc', why };
  const first = Object.keys(config.runtimes)[0];
  if (first === undefined) throw failedPrecondition('default_runtime "auto": no runtime handler is configured');
  return { name: first, why: `${why}; no runc handler either, so the first configured (${first})` };
}

/** resolveDefaultRuntime on this host: whether crun's binary is there is looked up here. */
export async function defaultRuntimeOnHost(config: Pick<BerthConfig, 'default_runtime' | 'runtimes'>, mode: CgroupMode): Promise<{ name: string; why: string }> {
  const crun = config.runtimes.crun;
  return resolveDefaultRuntime(config, mode, crun ? await isExecutable(crun.path) : false);
}
