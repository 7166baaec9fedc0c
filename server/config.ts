// berthd configuration: every key has an embedded default here; /etc/berth/config.toml
// overrides defaults; command-line flags override the file. `berthd --print-config`
// prints the effective result as TOML.
import { readFileSync, existsSync } from 'node:fs';
import { isAbsolute, normalize } from 'node:path';
import { isIP } from 'node:net';
import { parse as parseToml, stringify as stringifyToml } from 'smol-toml';
import { invalidArgument } from './errors.js';
import { registryConfigFromToml } from './image/registry-config.js';
import { METRIC_SETS, isMetricSet } from '../metrics/sets.js';
import { parseListenAddress } from '../metrics/address.js';

export interface RuntimeHandlerConfig {
  /** OCI runtime binary (runc, crun, …). */
  path: string;
  /** The runtime's own state directory (its `--root`); empty means `<state>/<handler name>`. */
  root: string;
}

export interface CniConfig {
  /** Directory holding *.conflist / *.conf files; the first by name is used. */
  conf_dir: string;
  /** Directories searched for plugin binaries, in order. */
  bin_dirs: string[];
  /** Interface name created inside the pod's network namespace. */
  ifname: string;
}

export interface ImageSettings {
  /** Layer downloads at once, across all pulls. */
  max_concurrent_downloads: number;
  /** How often a running pull logs its per-layer progress. */
  progress_interval_seconds: number;
  /** Registries: mirrors, insecure hosts, CAs, credentials (see server/image/registry-config.ts). */
  registry: Record<string, unknown>;
}

export interface StreamingSettings {
  /** Address the exec/attach/port-forward HTTP server listens on (kubelet connects to it). */
  address: string;
  /** Its TCP port; 0 picks a free one at each start. */
  port: number;
  /** A streaming session with no traffic for this long is closed. */
  idle_timeout_seconds: number;
}

export interface MetricsSettings {
  /** Serve the Prometheus endpoint. */
  enabled: boolean;
  /** HOST:PORT it listens on ("127.0.0.1:9464"; port 0 picks a free one). */
  address: string;
  path: string;
  /** HTTPS when both are set (PEM files). */
  tls_cert: string;
  tls_key: string;
  /** Seconds between sampling rounds; 0 = sample on demand (each scrape or stats call). */
  interval_seconds: number;
  /** Metric sets served (CRI-O's included_pod_metrics): cpu, memory, diskIO, disk, network, process, oom, spec, pressure, hugetlb, runtime. */
  include: string[];
}

export interface BerthConfig {
  /** CRI gRPC socket. */
  socket: string;
  /** Persistent state: meta.db, content/, layers/, containers/, sandboxes/. */
  root: string;
  /** Volatile state: pinned namespaces, shim and monitor files. */
  state: string;
  log_level: 'error' | 'warn' | 'info' | 'debug';
  /** Roots a pod's log_directory must lie inside (kubelet's podLogsDir, temp dirs for tests). */
  pod_log_roots: string[];
  /**
   * Directories a Localhost seccomp profile must lie inside (kubelet's is
   * /var/lib/kubelet/seccomp); empty: any absolute path to a readable regular file.
   */
  seccomp_profile_roots: string[];
  /**
   * "auto" (systemd where systemd is PID 1 on a v2 or hybrid host, cgroupfs elsewhere),
   * "cgroupfs" or "systemd"; resolved once at start (server/cgroups/config.ts).
   */
  cgroup_driver: 'auto' | 'cgroupfs' | 'systemd';
  /** Handler used when a pod names none. */
  default_runtime: string;
  runtimes: Record<string, RuntimeHandlerConfig>;
  /** The conmon binary that monitors each container (default Debian's). */
  conmon: string;
  cni: CniConfig;
  /** Image kept pinned (never garbage-collected) for pods. */
  sandbox_image: string;
  image: ImageSettings;
  /** How long StopPodSandbox and shutdown wait for in-flight work, in seconds. */
  shutdown_timeout_seconds: number;
  /** berth-shims kept started ahead of need (idle memory traded for create latency in bursts). */
  shim_spares: number;
  streaming: StreamingSettings;
  metrics: MetricsSettings;
}

export function defaultConfig(): BerthConfig {
  return {
    socket: '/run/berth/berth.sock',
    root: '/var/lib/berth',
    state: '/run/berth',
    log_level: 'info',
    pod_log_roots: ['/var/log/pods'],
    seccomp_profile_roots: [],
    cgroup_driver: 'auto',
    default_runtime: 'auto',
    runtimes: {
      runc: { path: '/usr/sbin/runc', root: '' },
      crun: { path: '/usr/bin/crun', root: '' },
    },
    conmon: '/usr/bin/conmon',
    cni: {
      conf_dir: '/etc/cni/net.d',
      bin_dirs: ['/opt/cni/bin', '/usr/lib/cni'],
      ifname: 'eth0',
    },
    sandbox_image: 'registry.k8s.io/pause:3.9',
    image: { max_concurrent_downloads: 3, progress_interval_seconds: 10, registry: {} },
    shutdown_timeout_seconds: 30,
    shim_spares: 1,
    streaming: { address: '127.0.0.1', port: 0, idle_timeout_seconds: 4 * 3600 },
    metrics: { enabled: true, address: '127.0.0.1:9464', path: '/metrics', tls_cert: '', tls_key: '', interval_seconds: 10, include: [...METRIC_SETS] },
  };
}

export const DEFAULT_CONFIG_FILE = '/etc/berth/config.toml';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/**
 * Merges `over` into `base` key by key. Unknown keys are an error (a typo in config.toml
 * must not be silently ignored); tables merge, everything else replaces.
 */
function mergeInto(base: Record<string, Json>, over: Record<string, Json>, path: string, openTables: Set<string>): void {
  for (const [k, v] of Object.entries(over)) {
    const here = path ? `${path}.${k}` : k;
    if (!(k in base) && !openTables.has(path)) throw invalidArgument(`config: unknown key "${here}"`);
    const cur = base[k];
    if (cur !== undefined && cur !== null && typeof cur === 'object' && !Array.isArray(cur)) {
      if (v === null || typeof v !== 'object' || Array.isArray(v)) throw invalidArgument(`config: "${here}" must be a table`);
      mergeInto(cur as Record<string, Json>, v as Record<string, Json>, here, openTables);
    } else {
      if (cur !== undefined && cur !== null && typeof cur !== typeof v) {
        throw invalidArgument(`config: "${here}" must be a ${Array.isArray(cur) ? 'list' : typeof cur}`);
      }
      base[k] = v;
    }
  }
}

/** Tables whose keys are user-chosen names (runtime handlers) or checked by their owner (registries). */
const OPEN_TABLES = new Set(['runtimes', 'image.registry']);

export function mergeConfig(base: BerthConfig, over: Record<string, unknown>): BerthConfig {
  const out = structuredClone(base) as unknown as Record<string, Json>;
  mergeInto(out, over as Record<string, Json>, '', OPEN_TABLES);
  return out as unknown as BerthConfig;
}

export function validateConfig(c: BerthConfig): BerthConfig {
  for (const [key, p] of [
    ['socket', c.socket],
    ['root', c.root],
    ['state', c.state],
    ['cni.conf_dir', c.cni.conf_dir],
    ['conmon', c.conmon],
  ] as const) {
    if (!isAbsolute(p)) throw invalidArgument(`config: ${key} must be an absolute path, got "${p}"`);
  }
  if (!['error', 'warn', 'info', 'debug'].includes(c.log_level)) throw invalidArgument(`config: log_level must be error, warn, info or debug`);
  if (!['auto', 'cgroupfs', 'systemd'].includes(c.cgroup_driver)) throw invalidArgument(`config: cgroup_driver must be auto, cgroupfs or systemd`);
  if (!Array.isArray(c.pod_log_roots) || c.pod_log_roots.length === 0) throw invalidArgument('config: pod_log_roots must list at least one directory');
  c.pod_log_roots = c.pod_log_roots.map((r) => {
    if (typeof r !== 'string' || !isAbsolute(r)) throw invalidArgument(`config: pod_log_roots entries must be absolute paths, got "${String(r)}"`);
    return normalize(r).replace(/(.)\/$/, '$1');
  });
  if (!Array.isArray(c.seccomp_profile_roots)) throw invalidArgument('config: seccomp_profile_roots must be a list of absolute paths');
  c.seccomp_profile_roots = c.seccomp_profile_roots.map((r) => {
    if (typeof r !== 'string' || !isAbsolute(r)) throw invalidArgument(`config: seccomp_profile_roots entries must be absolute paths, got "${String(r)}"`);
    return normalize(r).replace(/(.)\/$/, '$1');
  });
  for (const [name, h] of Object.entries(c.runtimes)) {
    if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(name)) throw invalidArgument(`config: runtime handler name "${name}" is not valid`);
    if (typeof h !== 'object' || h === null || typeof h.path !== 'string' || !h.path) throw invalidArgument(`config: runtimes.${name}.path must be set`);
    if (h.root === undefined || h.root === '') h.root = `${c.state}/${name}`;
    if (typeof h.root !== 'string' || !isAbsolute(h.root)) throw invalidArgument(`config: runtimes.${name}.root must be an absolute path`);
  }
  if ('auto' in c.runtimes) throw invalidArgument('config: "auto" is not a runtime handler name (default_runtime = "auto" lets berthd choose)');
  if (c.default_runtime !== 'auto' && !(c.default_runtime in c.runtimes)) throw invalidArgument(`config: default_runtime "${c.default_runtime}" is not a configured runtime (or "auto")`);
  if (Object.keys(c.runtimes).length === 0) throw invalidArgument('config: no runtime handler is configured');
  if (!Array.isArray(c.cni.bin_dirs) || c.cni.bin_dirs.some((d) => typeof d !== 'string' || !isAbsolute(d))) {
    throw invalidArgument('config: cni.bin_dirs must be a list of absolute paths');
  }
  if (!/^[a-zA-Z0-9_.-]{1,15}$/.test(c.cni.ifname)) throw invalidArgument('config: cni.ifname must be a valid interface name (1-15 characters)');
  if (!(c.shutdown_timeout_seconds > 0)) throw invalidArgument('config: shutdown_timeout_seconds must be positive');
  if (!(Number.isInteger(c.shim_spares) && c.shim_spares >= 0 && c.shim_spares <= 16)) throw invalidArgument('config: shim_spares must be an integer from 0 to 16');
  if (!(Number.isInteger(c.image.max_concurrent_downloads) && c.image.max_concurrent_downloads > 0)) throw invalidArgument('config: image.max_concurrent_downloads must be a positive integer');
  if (!(c.image.progress_interval_seconds > 0)) throw invalidArgument('config: image.progress_interval_seconds must be positive');
  if (isIP(c.streaming.address) === 0) throw invalidArgument('config: streaming.address must be an IP address');
  if (!(Number.isInteger(c.streaming.port) && c.streaming.port >= 0 && c.streaming.port <= 65535)) throw invalidArgument('config: streaming.port must be an integer from 0 to 65535');
  if (!(c.streaming.idle_timeout_seconds > 0)) throw invalidArgument('config: streaming.idle_timeout_seconds must be positive');
  registryConfigFromToml(c.image.registry, 'image.registry');
  validateMetrics(c.metrics);
  return c;
}

function validateMetrics(m: MetricsSettings): void {
  try {
    parseListenAddress(m.address);
  } catch (e) {
    throw invalidArgument(`config: metrics.${(e as Error).message}`);
  }
  if (!m.path.startsWith('/')) throw invalidArgument('config: metrics.path must start with "/"');
  if ((m.tls_cert === '') !== (m.tls_key === '')) throw invalidArgument('config: metrics.tls_cert and metrics.tls_key go together');
  for (const f of [m.tls_cert, m.tls_key]) if (f !== '' && !isAbsolute(f)) throw invalidArgument('config: metrics.tls_cert and metrics.tls_key must be absolute paths');
  if (!(m.interval_seconds >= 0 && m.interval_seconds <= 3600)) throw invalidArgument('config: metrics.interval_seconds must be from 0 (on demand) to 3600');
  for (const s of m.include) if (typeof s !== 'string' || !isMetricSet(s)) throw invalidArgument(`config: metrics.include: unknown metric set ${JSON.stringify(s)} (known: ${METRIC_SETS.join(', ')})`);
}

export function parseConfigText(text: string, source: string): Record<string, unknown> {
  try {
    return parseToml(text) as Record<string, unknown>;
  } catch (e) {
    throw invalidArgument(`config: cannot parse ${source}: ${(e as Error).message}`);
  }
}

export interface Flags {
  configFile?: string;
  printConfig: boolean;
  /** dotted-key overrides from flags, already typed */
  overrides: Record<string, unknown>;
}

const FLAG_KEYS: Record<string, { key: string; kind: 'string' | 'list' | 'number' }> = {
  '--socket': { key: 'socket', kind: 'string' },
  '--root': { key: 'root', kind: 'string' },
  '--state': { key: 'state', kind: 'string' },
  '--log-level': { key: 'log_level', kind: 'string' },
  '--pod-log-root': { key: 'pod_log_roots', kind: 'list' },
  '--cni-conf-dir': { key: 'cni.conf_dir', kind: 'string' },
  '--cni-bin-dir': { key: 'cni.bin_dirs', kind: 'list' },
  '--default-runtime': { key: 'default_runtime', kind: 'string' },
  '--shutdown-timeout': { key: 'shutdown_timeout_seconds', kind: 'number' },
  '--stream-address': { key: 'streaming.address', kind: 'string' },
  '--stream-port': { key: 'streaming.port', kind: 'number' },
  '--cgroup-driver': { key: 'cgroup_driver', kind: 'string' },
  '--metrics-address': { key: 'metrics.address', kind: 'string' },
};

export const USAGE = `usage: berthd [--config FILE] [--print-config]
  [--socket PATH] [--root DIR] [--state DIR] [--log-level error|warn|info|debug]
  [--pod-log-root DIR]... [--cni-conf-dir DIR] [--cni-bin-dir DIR]...
  [--default-runtime NAME] [--cgroup-driver auto|cgroupfs|systemd] [--shutdown-timeout SECONDS]
  [--stream-address IP] [--stream-port PORT] [--metrics-address HOST:PORT]
Defaults are built in; ${DEFAULT_CONFIG_FILE} (if present) overrides them; flags override both.`;

export function parseFlags(argv: readonly string[]): Flags {
  const flags: Flags = { printConfig: false, overrides: {} };
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i]!;
    let value: string | undefined;
    const eq = arg.indexOf('=');
    if (arg.startsWith('--') && eq > 0) {
      value = arg.slice(eq + 1);
      arg = arg.slice(0, eq);
    }
    const need = (): string => {
      if (value !== undefined) return value;
      const v = argv[++i];
      if (v === undefined) throw invalidArgument(`flag ${arg} needs a value`);
      return v;
    };
    if (arg === '--print-config') flags.printConfig = true;
    else if (arg === '--config') flags.configFile = need();
    else if (arg in FLAG_KEYS) {
      const { key, kind } = FLAG_KEYS[arg]!;
      const v = need();
      const parts = key.split('.');
      let tbl = flags.overrides as Record<string, unknown>;
      for (const p of parts.slice(0, -1)) tbl = (tbl[p] ??= {}) as Record<string, unknown>;
      const last = parts[parts.length - 1]!;
      if (kind === 'list') tbl[last] = [...((tbl[last] as string[] | undefined) ?? []), v];
      else if (kind === 'number') {
        const n = Number(v);
        if (!Number.isFinite(n)) throw invalidArgument(`flag ${arg} needs a number`);
        tbl[last] = n;
      } else tbl[last] = v;
    } else throw invalidArgument(`unknown flag ${arg}\n${USAGE}`);
  }
  return flags;
}

/** Defaults ← config file (explicit, or the default path when it exists) ← flags. */
export function loadConfig(argv: readonly string[]): { config: BerthConfig; flags: Flags; file?: string } {
  const flags = parseFlags(argv);
  let cfg = defaultConfig();
  let file: string | undefined;
  if (flags.configFile !== undefined) {
    file = flags.configFile;
    if (!existsSync(file)) throw invalidArgument(`config: ${file} does not exist`);
  } else if (existsSync(DEFAULT_CONFIG_FILE)) file = DEFAULT_CONFIG_FILE;
  if (file) cfg = mergeConfig(cfg, parseConfigText(readFileSync(file, 'utf8'), file));
  cfg = validateConfig(mergeConfig(cfg, flags.overrides));
  return { config: cfg, flags, file };
}

/**
 * The configuration as TOML. `effective` notes what "auto" settings resolved to on this host
 * (as comments, so the output still parses back to the same configuration).
 */
export function printConfig(c: BerthConfig, effective: { cgroupDriver?: string; why?: string; defaultRuntime?: string; runtimeWhy?: string } = {}): string {
  let notes = effective.cgroupDriver ? `# effective cgroup_driver: ${effective.cgroupDriver}${effective.why ? ` (${effective.why})` : ''}\n` : '';
  if (effective.defaultRuntime) notes += `# effective default_runtime: ${effective.defaultRuntime}${effective.runtimeWhy ? ` (${effective.runtimeWhy})` : ''}\n`;
  return notes + stringifyToml(c as unknown as Record<string, unknown>) + '\n';
}
