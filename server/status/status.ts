// Status: RuntimeReady and NetworkReady conditions, the runtime handlers, and (verbose)
// the effective configuration and network state as JSON.
import { access, constants } from 'node:fs/promises';
import type { BerthConfig } from '../config.js';
import type { RuntimeClient } from '../runtime/client.js';
import type { NetworkSettings } from '../sandbox/deps.js';
import type { Cgroups } from '../cgroups/manager.js';
import type { StatusRequest__Output } from '../../wire/cri/generated/runtime/v1/StatusRequest.js';
import type { StatusResponse } from '../../wire/cri/generated/runtime/v1/StatusResponse.js';
import type { RuntimeCondition } from '../../wire/cri/generated/runtime/v1/RuntimeCondition.js';

export interface HandlerState {
  name: string;
  path: string;
  ready: boolean;
  reason: string;
}

export async function handlerStates(config: BerthConfig, runtime: RuntimeClient): Promise<HandlerState[]> {
  return Promise.all(
    Object.entries(config.runtimes).map(async ([name, h]) => {
      try {
        await access(h.path, constants.X_OK);
      } catch {
        return { name, path: h.path, ready: false, reason: `${h.path} is not an executable file` };
      }
      try {
        const problem = await runtime.problem(h.path);
        return { name, path: h.path, ready: problem === '', reason: problem };
      } catch (e) {
        return { name, path: h.path, ready: false, reason: `cannot probe ${h.path}: ${(e as Error).message}` };
      }
    }),
  );
}

export interface StatusDeps {
  config: BerthConfig;
  runtime: RuntimeClient;
  network: NetworkSettings;
  cgroups: Cgroups;
}

export async function status(deps: StatusDeps, req: StatusRequest__Output): Promise<StatusResponse> {
  const [handlers, net] = await Promise.all([handlerStates(deps.config, deps.runtime), deps.network.lookup()]);
  const def = handlers.find((h) => h.name === deps.config.default_runtime)!;
  const runtimeReady: RuntimeCondition = def.ready
    ? { type: 'RuntimeReady', status: true, reason: '', message: '' }
    : { type: 'RuntimeReady', status: false, reason: 'RuntimeHandlerMissing', message: `default runtime handler ${def.name}: ${def.reason}` };
  const networkReady: RuntimeCondition = net.ok
    ? { type: 'NetworkReady', status: true, reason: '', message: '' }
    : { type: 'NetworkReady', status: false, reason: net.reason, message: `Network plugin returns error: ${net.message}` };
  const info: Record<string, string> = {};
  if (req.verbose) {
    info.config = JSON.stringify(deps.config);
    info.network = JSON.stringify(net.ok ? { file: net.file, conflist: net.conflist, podCidr: deps.network.podCidr() } : { error: net.message, podCidr: deps.network.podCidr() });
    info.handlers = JSON.stringify(handlers);
    info.cgroups = JSON.stringify(deps.cgroups.describe());
  }
  return {
    status: { conditions: [runtimeReady, networkReady] },
    info,
    runtime_handlers: handlers.map((h) => ({
      name: h.name,
      features: { recursive_read_only_mounts: false, user_namespaces: false },
    })),
    features: { supplemental_groups_policy: false },
  };
}
