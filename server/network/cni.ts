// Running a CNI network config list (spec 1.0.0): ADD through the plugins in order,
// each given the previous result; DEL in reverse order with the cached ADD result.
// Plugins are exec'd with argv and the config on stdin, as the spec says.
import { run, CommandError } from '../exec.js';
import { failedPrecondition, internal, BerthError } from '../errors.js';
import { findPluginBinary, type NetworkConfList, type PluginConf } from './conflist.js';
import { killPoint } from '../kill-points.js';

export interface CniInvocation {
  conflist: NetworkConfList;
  containerId: string;
  netns: string;
  ifname: string;
  args: string;
  runtimeConfig: Record<string, unknown>;
  binDirs: readonly string[];
}

export interface CniIp {
  address: string;
  gateway?: string;
  interface?: number;
}

/** CNI_ARGS as Kubernetes runtimes pass them. */
export function podCniArgs(p: { name: string; namespace: string; uid: string; sandboxId: string }): string {
  return [
    'IgnoreUnknown=1',
    `K8S_POD_NAMESPACE=${p.namespace}`,
    `K8S_POD_NAME=${p.name}`,
    `K8S_POD_INFRA_CONTAINER_ID=${p.sandboxId}`,
    `K8S_POD_UID=${p.uid}`,
  ].join(';');
}

/** The per-plugin config: list-level name/version, the previous result, and the runtimeConfig keys the plugin declared. */
export function pluginConfig(list: NetworkConfList, plugin: PluginConf, runtimeConfig: Record<string, unknown>, prevResult?: Record<string, unknown>): Record<string, unknown> {
  const conf: Record<string, unknown> = { ...plugin, cniVersion: list.cniVersion, name: list.name };
  const caps = plugin.capabilities ?? {};
  const rc: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(runtimeConfig)) if (caps[k]) rc[k] = v;
  delete conf.capabilities;
  // host-local appends runtime ipRanges to its configured ranges (overlap error), and the
  // bridge then derives a gateway from both: so berth puts the node's pod CIDR in place of
  // the configured ranges itself, for plugins that declare the ipRanges capability.
  if (rc.ipRanges && conf.ipam && typeof conf.ipam === 'object') {
    conf.ipam = { ...(conf.ipam as Record<string, unknown>), ranges: rc.ipRanges };
    delete rc.ipRanges;
  }
  if (Object.keys(rc).length) conf.runtimeConfig = rc;
  if (prevResult) conf.prevResult = prevResult;
  return conf;
}

/** The IPs of a CNI result, IPv4 first (the pod's primary IP), then IPv6. */
export function resultIps(result: Record<string, unknown> | undefined): string[] {
  const ips = (result?.ips as CniIp[] | undefined) ?? [];
  const addrs = ips.map((i) => String(i.address ?? '').split('/')[0]!).filter(Boolean);
  return [...addrs.filter((a) => !a.includes(':')), ...addrs.filter((a) => a.includes(':'))];
}

function pluginError(type: string, command: string, e: unknown): BerthError {
  if (e instanceof CommandError) {
    // Plugins report errors as JSON {code, msg, details} on stdout.
    let msg = e.result.stdout.trim() || e.result.stderr.trim();
    try {
      const j = JSON.parse(e.result.stdout) as { code?: number; msg?: string; details?: string };
      if (j.msg) msg = `${j.msg}${j.details ? `: ${j.details}` : ''}${j.code !== undefined ? ` (CNI error code ${j.code})` : ''}`;
    } catch {
      /* not JSON */
    }
    return failedPrecondition(`CNI plugin ${type} ${command} failed: ${msg || `exit code ${e.result.code}`}`, e);
  }
  if (e instanceof BerthError) return e;
  return internal(`CNI plugin ${type} ${command} failed: ${(e as Error).message}`, e);
}

async function invoke(inv: CniInvocation, command: 'ADD' | 'DEL' | 'CHECK', plugin: PluginConf, prevResult?: Record<string, unknown>): Promise<Record<string, unknown> | undefined> {
  const bin = await findPluginBinary(plugin.type, inv.binDirs);
  if (!bin) throw failedPrecondition(`CNI plugin ${plugin.type} not found in ${inv.binDirs.join(', ')}`);
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    CNI_COMMAND: command,
    CNI_CONTAINERID: inv.containerId,
    CNI_NETNS: inv.netns,
    CNI_IFNAME: inv.ifname,
    CNI_ARGS: inv.args,
    CNI_PATH: inv.binDirs.join(':'),
  };
  const conf = pluginConfig(inv.conflist, plugin, inv.runtimeConfig, prevResult);
  try {
    const res = await run(bin, [], { env, input: JSON.stringify(conf), timeoutMs: 60_000 });
    killPoint(`cni.${command}.${plugin.type}`);
    const out = res.stdout.trim();
    if (command !== 'ADD' || !out) return undefined;
    return JSON.parse(out) as Record<string, unknown>;
  } catch (e) {
    throw pluginError(plugin.type, command, e);
  }
}

/** ADD through every plugin. On failure, already-added plugins are deleted again before the error is thrown. */
export async function cniAdd(inv: CniInvocation): Promise<Record<string, unknown>> {
  let result: Record<string, unknown> | undefined;
  for (const plugin of inv.conflist.plugins) {
    try {
      result = (await invoke(inv, 'ADD', plugin, result)) ?? result;
    } catch (e) {
      await cniDel(inv, result).catch(() => undefined);
      throw e;
    }
  }
  return result ?? {};
}

/** DEL through every plugin in reverse order. Every plugin is tried; the first error is thrown after. */
export async function cniDel(inv: CniInvocation, prevResult?: Record<string, unknown>): Promise<void> {
  let first: unknown;
  for (const plugin of [...inv.conflist.plugins].reverse()) {
    try {
      await invoke(inv, 'DEL', plugin, prevResult);
    } catch (e) {
      first ??= e;
    }
  }
  if (first) throw first;
}
