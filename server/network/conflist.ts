// Finding and checking the CNI network configuration: the first *.conflist, *.conf or
// *.json file by name in the conf dir that parses, with every plugin binary present.
import { readdir, readFile, access, constants } from 'node:fs/promises';
import { join } from 'node:path';

export interface PluginConf {
  type: string;
  capabilities?: Record<string, boolean>;
  [key: string]: unknown;
}

export interface NetworkConfList {
  cniVersion: string;
  name: string;
  plugins: PluginConf[];
  disableCheck?: boolean;
  [key: string]: unknown;
}

export type NetworkConfigLookup =
  | { ok: true; file: string; conflist: NetworkConfList }
  | { ok: false; reason: 'NoCNIConfig' | 'InvalidCNIConfig' | 'CNIPluginMissing'; message: string };

/** Parses one config file; a single-plugin .conf becomes a one-element list. */
export function parseNetworkConfig(text: string, file: string): NetworkConfList {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new Error(`${file}: not valid JSON: ${(e as Error).message}`);
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new Error(`${file}: not a JSON object`);
  const o = raw as Record<string, unknown>;
  if (typeof o.name !== 'string' || !o.name) throw new Error(`${file}: "name" is missing`);
  const cniVersion = typeof o.cniVersion === 'string' ? o.cniVersion : '';
  if (!cniVersion) throw new Error(`${file}: "cniVersion" is missing`);
  let plugins: PluginConf[];
  if (Array.isArray(o.plugins)) {
    plugins = o.plugins as PluginConf[];
  } else if (typeof o.type === 'string') {
    const { cniVersion: _v, name: _n, ...plugin } = o;
    plugins = [plugin as PluginConf];
  } else throw new Error(`${file}: neither "plugins" nor "type" is present`);
  if (plugins.length === 0) throw new Error(`${file}: "plugins" is empty`);
  for (const [i, p] of plugins.entries()) {
    if (!p || typeof p !== 'object' || typeof p.type !== 'string' || !/^[a-zA-Z0-9_.-]+$/.test(p.type)) {
      throw new Error(`${file}: plugins[${i}].type is missing or not a plain binary name`);
    }
  }
  return { ...o, cniVersion, name: o.name, plugins } as NetworkConfList;
}

export async function findPluginBinary(type: string, binDirs: readonly string[]): Promise<string | undefined> {
  for (const dir of binDirs) {
    const p = join(dir, type);
    try {
      await access(p, constants.X_OK);
      return p;
    } catch {
      /* next dir */
    }
  }
  return undefined;
}

export async function lookupNetworkConfig(confDir: string, binDirs: readonly string[]): Promise<NetworkConfigLookup> {
  let names: string[];
  try {
    names = (await readdir(confDir)).filter((n) => /\.(conflist|conf|json)$/.test(n)).sort();
  } catch {
    names = [];
  }
  if (names.length === 0) return { ok: false, reason: 'NoCNIConfig', message: `no network config found in ${confDir}` };
  const problems: string[] = [];
  for (const n of names) {
    const file = join(confDir, n);
    let conflist: NetworkConfList;
    try {
      conflist = parseNetworkConfig(await readFile(file, 'utf8'), file);
    } catch (e) {
      problems.push((e as Error).message);
      continue;
    }
    const missing: string[] = [];
    for (const p of conflist.plugins) if (!(await findPluginBinary(p.type, binDirs))) missing.push(p.type);
    if (missing.length) {
      return { ok: false, reason: 'CNIPluginMissing', message: `${file}: plugin(s) ${missing.join(', ')} not found in ${binDirs.join(', ')}` };
    }
    return { ok: true, file, conflist };
  }
  return { ok: false, reason: 'InvalidCNIConfig', message: problems.join('; ') };
}

/** The conflist the quick start writes when a node has none: bridge berth0, host-local, portmap, loopback. */
export function defaultConflist(opts: { name?: string; bridge?: string; subnet?: string } = {}): NetworkConfList {
  return {
    cniVersion: '1.0.0',
    name: opts.name ?? 'berth',
    plugins: [
      {
        type: 'bridge',
        bridge: opts.bridge ?? 'berth0',
        isGateway: true,
        ipMasq: true,
        hairpinMode: true,
        ipam: {
          type: 'host-local',
          ranges: [[{ subnet: opts.subnet ?? '10.88.0.0/16' }]],
          routes: [{ dst: '0.0.0.0/0' }],
        },
        capabilities: { ipRanges: true },
      },
      { type: 'portmap', capabilities: { portMappings: true } },
      { type: 'loopback' },
    ],
  };
}
