// kubelet's runtime endpoint and cgroup driver, where the node keeps them: a
// `--container-runtime-endpoint` flag in kubelet's environment files or systemd drop-ins
// (which wins over the config file), or `containerRuntimeEndpoint` in its config file
// (/var/lib/kubelet/config.yaml, or the file its `--config` flag names). Edits change only
// that one value and are reversed only while the value is still the one berth wrote.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { inRoot } from './paths.js';

/** kubelet's default endpoint (KubeletConfiguration v1beta1) when none is set. */
export const KUBELET_DEFAULT_ENDPOINT = 'unix:///run/containerd/containerd.sock';
export const KUBELET_CONFIG_DEFAULT = '/var/lib/kubelet/config.yaml';

const FLAG_FILES = ['/var/lib/kubelet/kubeadm-flags.env', '/etc/default/kubelet', '/etc/sysconfig/kubelet'];
const DROPIN_DIRS = ['/etc/systemd/system/kubelet.service.d', '/usr/lib/systemd/system/kubelet.service.d', '/lib/systemd/system/kubelet.service.d'];

const FLAG_RE = /--container-runtime-endpoint(=|\s+)([^\s"']+)/;
const CONFIG_FLAG_RE = /--config(?:=|\s+)([^\s"']+)/;
const KEY_RE = /^containerRuntimeEndpoint:[ \t]*(.*?)[ \t]*$/m;

/** Where kubelet's endpoint is set (or would be set) on this node. */
export interface EndpointSetting {
  where: 'flag' | 'config';
  /** Host path of the file holding it. */
  path: string;
  /** Its value now (null: not set, kubelet uses KUBELET_DEFAULT_ENDPOINT). */
  value: string | null;
}

function flagFiles(hostRoot: string): string[] {
  const out = FLAG_FILES.filter((f) => existsSync(inRoot(hostRoot, f)));
  for (const d of DROPIN_DIRS) {
    const dir = inRoot(hostRoot, d);
    if (existsSync(dir)) out.push(...readdirSync(dir).filter((n) => n.endsWith('.conf')).sort().map((n) => `${d}/${n}`));
  }
  return out;
}

function unquote(v: string): string {
  const m = /^(["'])(.*)\1$/.exec(v);
  return m ? m[2]! : v;
}

/** kubelet's config file: the one its --config flag names, else the kubeadm default if present. */
export function kubeletConfigPath(hostRoot: string): string | undefined {
  for (const f of flagFiles(hostRoot)) {
    const m = CONFIG_FLAG_RE.exec(readFileSync(inRoot(hostRoot, f), 'utf8'));
    if (m && existsSync(inRoot(hostRoot, m[1]!))) return m[1]!;
  }
  return existsSync(inRoot(hostRoot, KUBELET_CONFIG_DEFAULT)) ? KUBELET_CONFIG_DEFAULT : undefined;
}

export function configValue(text: string, key: string): string | null {
  if (text.trimStart().startsWith('{')) {
    const v = (JSON.parse(text) as Record<string, unknown>)[key];
    return typeof v === 'string' ? v : null;
  }
  const m = new RegExp(`^${key}:[ \\t]*(.*?)[ \\t]*$`, 'm').exec(text);
  return m ? unquote(m[1]!.replace(/\s+#.*$/, '')) : null;
}

/** kubelet's cgroupDriver from its config file, if the node has one that says. */
export function kubeletCgroupDriver(hostRoot: string): { driver: string; path: string } | undefined {
  const path = kubeletConfigPath(hostRoot);
  if (!path) return undefined;
  const v = configValue(readFileSync(inRoot(hostRoot, path), 'utf8'), 'cgroupDriver');
  return v ? { driver: v, path } : undefined;
}

export function findEndpointSetting(hostRoot: string): EndpointSetting | undefined {
  for (const f of flagFiles(hostRoot)) {
    const m = FLAG_RE.exec(readFileSync(inRoot(hostRoot, f), 'utf8'));
    if (m) return { where: 'flag', path: f, value: unquote(m[2]!) };
  }
  const path = kubeletConfigPath(hostRoot);
  if (!path) return undefined;
  return { where: 'config', path, value: configValue(readFileSync(inRoot(hostRoot, path), 'utf8'), 'containerRuntimeEndpoint') };
}

/** The file's text with kubelet's endpoint set to `value` (null: removed, for a restore of "not set"). */
export function withEndpoint(text: string, where: 'flag' | 'config', value: string | null): string {
  if (where === 'flag') {
    if (value === null) return text.replace(new RegExp(`\\s?${FLAG_RE.source}`), '');
    return text.replace(FLAG_RE, (_m, sep: string) => `--container-runtime-endpoint${sep}${value}`);
  }
  if (text.trimStart().startsWith('{')) {
    const o = JSON.parse(text) as Record<string, unknown>;
    if (value === null) delete o.containerRuntimeEndpoint;
    else o.containerRuntimeEndpoint = value;
    return JSON.stringify(o, null, 2) + '\n';
  }
  if (KEY_RE.test(text)) return value === null ? text.replace(new RegExp(KEY_RE.source + '\\n?', 'm'), '') : text.replace(KEY_RE, `containerRuntimeEndpoint: ${value}`);
  if (value === null) return text;
  return (text.endsWith('\n') || text === '' ? text : text + '\n') + `containerRuntimeEndpoint: ${value}\n`;
}

/** The socket path of a unix:// endpoint. */
export function endpointSocket(endpoint: string): string {
  const p = endpoint.replace(/^unix:\/\//, '');
  if (!p.startsWith('/')) throw new Error(`kubelet's runtime endpoint "${endpoint}" is not a unix socket`);
  return p;
}
