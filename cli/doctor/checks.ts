// berth doctor's checks: the node as berthd needs it, each check PASS, WARN, FAIL (or SKIP
// when it does not apply) with a one-line remedy. It reads the node with berthd's own code
// (config loading, cgroup detection and driver resolution, runtime probes, CNI lookup,
// registry endpoints, kubelet config discovery) so it judges what berthd would do, and asks
// the running berthd through its admin socket and CRI socket how it is. runDoctor is
// exported for `berth bugreport`, which includes its report.
import { access, constants, readdir, readFile, stat, statfs } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { request } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { release } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig, defaultConfig, validateConfig, type BerthConfig } from '../../server/config.js';
import { readCgroupLayout, detectCgroupHost, type CgroupLayout } from '../../server/cgroups/detect.js';
import { resolveCgroupDriver } from '../../server/cgroups/config.js';
import { RuntimeClient } from '../../server/runtime/client.js';
import { defaultRuntimeOnHost } from '../../server/runtime/handlers.js';
import { isExecutable as executable } from '../../hostutil/exists.js';
import { lookupNetworkConfig, parseNetworkConfig } from '../../server/network/conflist.js';
import { registryConfigFromToml, endpointsWithCas } from '../../server/image/registry-config.js';
import { rootCertificates } from 'node:tls';
import { CATATONIT } from '../../server/sandbox/pod-init.js';
import { readAppArmorHost } from '../../server/container/apparmor.js';
import { BERTH_VERSION } from '../../server/status/version.js';
import { run } from '../../hostutil/exec.js';
import { admin } from '../admin-client.js';
import { criCall } from '../node/cri.js';
import { configValue, kubeletConfigPath } from '../node/kubelet.js';
import { inRoot } from '../node/paths.js';

export type CheckStatus = 'PASS' | 'WARN' | 'FAIL' | 'SKIP';

export interface CheckResult {
  /** Stable identifier (`kernel.overlay`, `runtime.runc`, `cni.config`…). */
  id: string;
  status: CheckStatus;
  /** What was found, one line. */
  detail: string;
  /** What to do, one line; present on WARN and FAIL. */
  remedy?: string;
}

/**
 * The JSON of `berth doctor -o json`, in the operator commands' envelope (schemaVersion,
 * kind, mode: cli/output.ts): fields are only added within a schemaVersion.
 */
export interface DoctorReport {
  schemaVersion: 1;
  kind: 'DoctorReport';
  /** "berthd": berthd answered on its admin socket; "read-only": it did not (the checks read the node only). */
  mode: 'berthd' | 'read-only';
  berthVersion: string;
  time: string;
  config: { file: string | null; socket: string; root: string; state: string };
  checks: CheckResult[];
  summary: Record<Lowercase<CheckStatus>, number>;
  /** The exit status of `berth doctor`: 0 no FAIL, 5 at least one FAIL (cli/output.ts EXIT.FOUND). */
  exitCode: 0 | 5;
}

export interface DoctorOptions {
  /** berthd's config file (default: /etc/berth/config.toml when present, else the embedded defaults). */
  configFile?: string;
  /** Override the config's root and state directories (berthd's --root, --state). */
  root?: string;
  state?: string;
  /** kubelet's config file (default: discovered as `berth node install` does). */
  kubeletConfig?: string;
  /** Where the host's files are (kubelet discovery), default "/". */
  hostRoot?: string;
  /** Timeout of each network probe (admin socket, CRI, mirrors). Default 3 s. */
  timeoutMs?: number;
}

const pass = (id: string, detail: string): CheckResult => ({ id, status: 'PASS', detail });
const warn = (id: string, detail: string, remedy: string): CheckResult => ({ id, status: 'WARN', detail, remedy });
const fail = (id: string, detail: string, remedy: string): CheckResult => ({ id, status: 'FAIL', detail, remedy });
const skip = (id: string, detail: string): CheckResult => ({ id, status: 'SKIP', detail });

async function versionOf(bin: string): Promise<string> {
  const r = await run(bin, ['--version'], { allowFailure: true, timeoutMs: 5000 }).catch(() => undefined);
  const line = `${r?.stdout ?? ''}\n${r?.stderr ?? ''}`.split('\n').find((l) => /\d+\.\d+/.test(l));
  return line?.trim() ?? 'version unknown';
}

/** Kernel features berthd's containers need. */
async function kernelChecks(): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  const fs = await readFile('/proc/filesystems', 'utf8').catch(() => '');
  if (/\toverlay$/m.test(fs)) out.push(pass('kernel.overlay', 'overlay filesystem available'));
  else {
    const mod = await readFile(`/lib/modules/${release()}/modules.dep`, 'utf8').catch(() => '');
    if (/\/overlay\.ko/.test(mod)) out.push(pass('kernel.overlay', 'overlay module present (loads on first mount)'));
    else out.push(fail('kernel.overlay', `no overlay filesystem in /proc/filesystems nor module for kernel ${release()}`, 'modprobe overlay, or run a kernel with CONFIG_OVERLAY_FS'));
  }
  const kinds = ['mnt', 'uts', 'ipc', 'pid', 'net', 'cgroup', 'user'];
  const missing: string[] = [];
  for (const k of kinds) if (!existsSync(`/proc/self/ns/${k}`)) missing.push(k);
  if (missing.length) out.push(fail('kernel.namespaces', `namespaces missing: ${missing.join(', ')}`, 'run a kernel built with CONFIG_NAMESPACES and each *_NS option'));
  else {
    const maxUser = Number((await readFile('/proc/sys/user/max_user_namespaces', 'utf8').catch(() => '1')).trim());
    if (maxUser === 0) out.push(warn('kernel.namespaces', 'mnt uts ipc pid net cgroup present; user namespaces disabled (user.max_user_namespaces=0)', 'sysctl -w user.max_user_namespaces=15000 if pods use user namespaces'));
    else out.push(pass('kernel.namespaces', kinds.join(' ')));
  }
  const status = await readFile('/proc/self/status', 'utf8').catch(() => '');
  const actions = (await readFile('/proc/sys/kernel/seccomp/actions_avail', 'utf8').catch(() => '')).trim();
  if (!/^Seccomp:/m.test(status)) out.push(fail('kernel.seccomp', 'the kernel has no seccomp', 'run a kernel with CONFIG_SECCOMP and CONFIG_SECCOMP_FILTER (RuntimeDefault profiles need it)'));
  else if (actions && !/\berrno\b/.test(actions)) out.push(fail('kernel.seccomp', `seccomp actions: ${actions}`, 'run a kernel with CONFIG_SECCOMP_FILTER'));
  else out.push(pass('kernel.seccomp', actions ? `filter actions: ${actions}` : 'seccomp present'));
  const armor = await readAppArmorHost();
  if (armor.enabled) out.push(pass('kernel.apparmor', `AppArmor on, ${armor.parser}: RuntimeDefault containers run under berth-default`));
  else if (/apparmor_parser is not installed/.test(armor.reason)) {
    out.push(warn('kernel.apparmor', armor.reason, 'install the apparmor package: until then containers run unconfined and pods asking for a profile are refused'));
  } else out.push(skip('kernel.apparmor', `${armor.reason}: containers run unconfined; pods asking for a profile are refused`));
  return out;
}

function controllersOf(layout: CgroupLayout): Set<string> {
  return new Set([...Object.keys(layout.v1), ...(layout.unifiedControllers ?? [])]);
}

async function cgroupChecks(config: BerthConfig, opts: DoctorOptions, ours: { driver?: string }): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  let layout: CgroupLayout;
  try {
    layout = await readCgroupLayout();
  } catch (e) {
    return [fail('cgroups.mode', (e as Error).message, 'mount the cgroup filesystem (cgroup2 on /sys/fs/cgroup)')];
  }
  const missing = ['cpu', 'memory', 'pids'].filter((c) => !controllersOf(layout).has(c));
  if (missing.length) out.push(fail('cgroups.mode', `cgroup ${layout.mode}: controllers ${missing.join(', ')} not available`, 'enable the controllers (cgroup_enable=… on the kernel command line, or delegate them in cgroup.subtree_control)'));
  else if (layout.mode === 'v2') out.push(pass('cgroups.mode', `cgroup v2 (unified), controllers ${[...controllersOf(layout)].join(' ')}`));
  else {
    out.push(
      warn(
        'cgroups.mode',
        layout.mode === 'hybrid' ? `cgroup hybrid: v1 controllers, cgroup2 at ${layout.unified} (${(layout.unifiedControllers ?? []).join(' ') || 'no controllers'})` : 'cgroup v1',
        'boot with systemd.unified_cgroup_hierarchy=1 for cgroup v2: kubelet 1.35 refuses cgroup v1 unless failCgroupV1 is false',
      ),
    );
  }
  const host = await detectCgroupHost();
  try {
    ours.driver = resolveCgroupDriver(config.cgroup_driver, host);
    out.push(pass('cgroups.driver', `${ours.driver} (configured ${config.cgroup_driver}; systemd ${host.systemd ? 'is' : 'is not'} PID 1)`));
  } catch (e) {
    out.push(fail('cgroups.driver', (e as Error).message, 'set cgroup_driver = "auto" (or "cgroupfs") in berthd\'s config'));
  }
  const hostRoot = opts.hostRoot ?? '/';
  const kubeletFile = opts.kubeletConfig ?? kubeletConfigPath(hostRoot);
  if (!kubeletFile) out.push(skip('cgroups.kubelet', 'no kubelet config found (/var/lib/kubelet/config.yaml or kubelet\'s --config)'));
  else {
    const path = opts.kubeletConfig ?? inRoot(hostRoot, kubeletFile);
    let theirs: string | null = null;
    try {
      theirs = configValue(await readFile(path, 'utf8'), 'cgroupDriver');
    } catch (e) {
      out.push(warn('cgroups.kubelet', `cannot read kubelet config ${kubeletFile}: ${(e as Error).message}`, 'check kubelet\'s config file'));
      return out;
    }
    if (!ours.driver) out.push(skip('cgroups.kubelet', `kubelet (${kubeletFile}) uses ${theirs ?? 'its default'}; berth's driver is unresolved`));
    else if (theirs === null) out.push(pass('cgroups.kubelet', `${kubeletFile} sets no cgroupDriver: kubelet 1.31+ takes berth's (${ours.driver}) from the CRI`));
    else if (theirs === ours.driver) out.push(pass('cgroups.kubelet', `kubelet and berth both use ${theirs} (${kubeletFile})`));
    else {
      out.push(
        fail(
          'cgroups.kubelet',
          `kubelet uses cgroupDriver ${theirs} (${kubeletFile}) but berth uses ${ours.driver}`,
          `make them agree: cgroup_driver = "${theirs}" in berthd's config and restart berthd, or cgroupDriver: ${ours.driver} in ${kubeletFile} and restart kubelet`,
        ),
      );
    }
  }
  return out;
}

async function binaryChecks(config: BerthConfig): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  let mode: CgroupLayout['mode'] = 'v2';
  try {
    mode = (await readCgroupLayout()).mode;
  } catch {
    /* reported by cgroups.mode */
  }
  const client = new RuntimeClient(config, { cgroupMode: mode, conmon: config.conmon });
  // What berthd takes for pods that name no handler (default_runtime, "auto" resolved as berthd does).
  const defaultRuntime = (await defaultRuntimeOnHost(config, mode)).name;
  for (const [name, h] of Object.entries(config.runtimes)) {
    const id = `runtime.${name}`;
    const isDefault = name === defaultRuntime;
    const pkg = /crun/.test(h.path) ? 'crun' : /runc/.test(h.path) ? 'runc' : name;
    if (!(await executable(h.path))) {
      const d = `${h.path} (handler "${name}"${isDefault ? ', the default' : ''}) is missing or not executable`;
      out.push(isDefault ? fail(id, d, `apt-get install ${pkg}, or point runtimes.${name}.path at it`) : warn(id, d, `apt-get install ${pkg}, or remove runtimes.${name} from berthd's config (pods naming it fail)`));
      continue;
    }
    const v = await versionOf(h.path);
    const problem = await client.problem(h.path);
    if (problem) {
      const d = `${h.path}: ${problem}`;
      out.push(isDefault ? fail(id, d, 'use runc as default_runtime on this host, or move the host to cgroup v2') : warn(id, d, `pods with runtimeClass "${name}" fail here: use runc, or move the host to cgroup v2`));
    } else out.push(pass(id, `${h.path}: ${v}${isDefault ? ' (default)' : ''}`));
  }
  for (const [id, path, pkg, key] of [
    ['conmon', config.conmon, 'conmon', 'conmon = "/path/to/conmon" in berthd\'s config'],
    ['catatonit', CATATONIT, 'catatonit', `it at ${CATATONIT}`],
  ] as const) {
    if (!(await executable(path))) out.push(fail(id, `${path} is missing or not executable`, `apt-get install ${pkg}, or put ${key}`));
    else out.push(pass(id, `${path}: ${await versionOf(path)}`));
  }
  return out;
}

async function cniChecks(config: BerthConfig): Promise<CheckResult[]> {
  const { conf_dir: dir, bin_dirs: bins } = config.cni;
  const found = await lookupNetworkConfig(dir, bins);
  const out: CheckResult[] = [];
  if (found.ok) {
    const plugins = found.conflist.plugins.map((p) => p.type);
    out.push(pass('cni.config', `${found.file}: network "${found.conflist.name}", plugins ${plugins.join(', ')} found in ${bins.join(':')}`));
  } else if (found.reason === 'NoCNIConfig') out.push(fail('cni.config', found.message, `berth cni ensure-default --conf-dir ${dir} (writes a bridge network), or install your CNI's config`));
  else if (found.reason === 'CNIPluginMissing') out.push(fail('cni.config', found.message, `apt-get install containernetworking-plugins, or add the plugins' directory to cni.bin_dirs`));
  else out.push(fail('cni.config', found.message, `fix or remove the broken file(s) in ${dir}; berth cni default prints a valid network config`));
  // Files skipped because they do not parse: berthd ignores them, which may not be what the operator meant.
  if (found.ok) {
    const broken: string[] = [];
    const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => /\.(conflist|conf|json)$/.test(n)).sort();
    for (const n of names) {
      try {
        parseNetworkConfig(await readFile(join(dir, n), 'utf8'), join(dir, n));
      } catch (e) {
        broken.push((e as Error).message);
      }
    }
    if (broken.length) out.push(warn('cni.files', `ignored: ${broken.join('; ')}`, `fix or remove the broken file(s) in ${dir}`));
  }
  return out;
}

async function socketChecks(config: BerthConfig): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  for (const [id, path, want] of [
    ['socket.cri', config.socket, 0o660],
    ['socket.admin', join(config.state, 'admin.sock'), 0o600],
  ] as const) {
    let st;
    try {
      st = await stat(path);
    } catch {
      out.push(warn(id, `${path} does not exist (berthd not running?)`, 'start berthd (systemctl start berth)'));
      continue;
    }
    const mode = st.mode & 0o777;
    const m = mode.toString(8).padStart(4, '0');
    if (!st.isSocket()) out.push(fail(id, `${path} is not a socket`, `remove ${path} and restart berthd`));
    else if (mode & 0o007) out.push(fail(id, `${path} is mode ${m}: anyone on the node can drive the runtime`, `chmod ${want.toString(8)} ${path}, and find what changed it`));
    else if (st.uid !== 0 && process.getuid?.() === 0) out.push(warn(id, `${path} is owned by uid ${st.uid}, mode ${m}`, `chown root ${path}`));
    else out.push(pass(id, `${path} mode ${m}, owner uid ${st.uid}`));
  }
  return out;
}

async function existingAncestor(p: string): Promise<string> {
  let cur = p;
  while (!existsSync(cur) && cur !== '/') cur = dirname(cur);
  return cur;
}

const GiB = 1024 ** 3;
const fmtBytes = (n: number) => (n >= GiB ? `${(n / GiB).toFixed(1)} GiB` : `${(n / 1024 ** 2).toFixed(0)} MiB`);

async function diskChecks(config: BerthConfig): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  for (const [id, dir] of [
    ['disk.root', config.root],
    ['disk.state', config.state],
  ] as const) {
    const at = await existingAncestor(dir);
    const s = await statfs(at);
    const free = s.bavail * s.bsize;
    const freePct = s.blocks ? (s.bavail / s.blocks) * 100 : 100;
    const inodePct = s.files ? (s.ffree / s.files) * 100 : 100;
    const detail = `${dir}${at === dir ? '' : ` (not created yet; on ${at})`}: ${fmtBytes(free)} free (${freePct.toFixed(0)}%), ${s.files ? `${inodePct.toFixed(0)}% inodes free` : 'inodes not limited'}`;
    const remedy = `free space on the filesystem of ${dir} (berth images ls / rm, crictl rmi --prune, old pod logs)`;
    // root holds images and container layers (GiBs); state holds small files, often on a
    // small tmpfs (/run), so only its percentages and a floor count.
    const [failBelow, warnBelow] = id === 'disk.root' ? [512 * 1024 ** 2, 2 * GiB] : [16 * 1024 ** 2, 64 * 1024 ** 2];
    if (freePct < 2 || free < failBelow || inodePct < 2) out.push(fail(id, detail, remedy));
    else if (freePct < 10 || free < warnBelow || inodePct < 10) out.push(warn(id, detail, remedy));
    else out.push(pass(id, detail));
  }
  return out;
}

async function clockCheck(config: BerthConfig): Promise<CheckResult> {
  const now = Date.now();
  // Files berth wrote: their times must not be ahead of the clock (a clock set back breaks
  // log timestamps, certificate checks and kubelet's view of container ages).
  const files = [join(config.root, 'meta.db'), join(config.state, 'admin.sock'), fileURLToPath(import.meta.url)];
  let newest = { path: '', ms: 0 };
  for (const f of files) {
    const st = await stat(f).catch(() => undefined);
    if (st && st.mtimeMs > newest.ms) newest = { path: f, ms: st.mtimeMs };
  }
  if (newest.ms > now + 120_000) {
    return fail('clock', `the clock (${new Date(now).toISOString()}) is behind ${newest.path}, written at ${new Date(newest.ms).toISOString()}`, 'set the clock (timedatectl set-ntp true, or chronyc makestep) and check the RTC');
  }
  const r = await run('timedatectl', ['show', '-p', 'NTPSynchronized', '--value'], { allowFailure: true, timeoutMs: 3000 }).catch(() => undefined);
  const synced = r && r.code === 0 ? r.stdout.trim() : '';
  if (synced === 'no') return warn('clock', `${new Date(now).toISOString()}, not synchronized (timedatectl: NTPSynchronized=no)`, 'enable time synchronization (timedatectl set-ntp true, or chrony)');
  if (synced === 'yes') return pass('clock', `${new Date(now).toISOString()}, synchronized (timedatectl)`);
  return pass('clock', `${new Date(now).toISOString()}, not behind berth's files (sync state unknown: no timedatectl)`);
}

interface Health {
  version: string;
  pid: number;
  uptimeSeconds: number;
  serving: boolean;
  cgroupDriver?: string;
  recent: { time: string; level: string; message: string; component?: string; error?: string }[];
  totals: { warn: number; error: number };
}

async function berthdCheck(config: BerthConfig, timeoutMs: number, ours: { driver?: string }): Promise<{ result: CheckResult; up: boolean }> {
  let h: Health;
  try {
    h = (await withTimeout(admin(config.state, 'GET', '/v1/health'), timeoutMs, 'berthd did not answer on its admin socket')) as Health;
  } catch (e) {
    return { result: fail('berthd', (e as Error).message, 'start berthd (systemctl start berth; journalctl -u berth says why it stopped)'), up: false };
  }
  const base = `berthd ${h.version} pid ${h.pid}, up ${h.uptimeSeconds}s`;
  let status: { status?: { conditions?: { type: string; status: boolean; reason: string; message: string }[] } };
  try {
    status = await criCall(config.socket, 'Status', {}, timeoutMs);
  } catch (e) {
    return { result: fail('berthd', `${base}, but the CRI socket ${config.socket} does not answer: ${(e as Error).message}`, 'restart berthd (systemctl restart berth) and read journalctl -u berth'), up: true };
  }
  const down = (status.status?.conditions ?? []).filter((c) => !c.status);
  const errors = h.recent.filter((e) => e.level === 'error');
  const counts = `${h.totals.error} errors, ${h.totals.warn} warnings since start`;
  if (down.length) return { result: warn('berthd', `${base}; not ready: ${down.map((c) => `${c.type} (${c.reason}: ${c.message})`).join('; ')}`, 'fix what the condition names (CNI config, runtime binary); berth doctor lists them above'), up: true };
  if (ours.driver && h.cgroupDriver && h.cgroupDriver !== ours.driver) {
    return { result: warn('berthd', `${base}, running with cgroup driver ${h.cgroupDriver} but its config now resolves to ${ours.driver}`, 'restart berthd to apply its config (pods keep running)'), up: true };
  }
  if (errors.length) {
    const last = errors[errors.length - 1]!;
    return { result: warn('berthd', `${base}, serving CRI on ${config.socket}; ${counts}; last error ${last.time}: ${last.message}${last.error ? `: ${last.error}` : ''}`, 'read journalctl -u berth around that time'), up: true };
  }
  return { result: pass('berthd', `${base}, serving CRI on ${config.socket}; ${counts}`), up: true };
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms)))]).finally(() => clearTimeout(timer));
}

/** GET /v2/ of an endpoint: any HTTP answer (200, 401) means a registry is there. */
function probeRegistry(url: string, timeoutMs: number, insecureTls: boolean, ca: string[] | undefined): Promise<string> {
  return new Promise((resolve, reject) => {
    const tlsOpts = { ...(insecureTls ? { rejectUnauthorized: false } : {}), ...(ca ? { ca: [...rootCertificates, ...ca] } : {}) };
    const req = (url.startsWith('https:') ? httpsRequest : request)(url, { method: 'GET', timeout: timeoutMs, ...tlsOpts }, (res) => {
      res.resume();
      resolve(`HTTP ${res.statusCode}`);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

async function mirrorChecks(config: BerthConfig, timeoutMs: number): Promise<CheckResult[]> {
  const reg = registryConfigFromToml(config.image.registry);
  const domains = Object.keys(reg.mirrors);
  if (domains.length === 0) return [skip('registry.mirrors', 'no registry mirrors configured')];
  const out: CheckResult[] = [];
  for (const domain of domains) {
    const fallback = reg.mirrors[domain]!.fallback;
    let endpoints;
    try {
      endpoints = await endpointsWithCas(reg, domain);
    } catch (err) {
      out.push(fail(`registry.mirrors.${domain}`, `mirrors of ${domain}: ${(err as Error).message}`, 'fix the CA file named in image.registry'));
      continue;
    }
    for (const e of endpoints.filter((x) => x.mirror)) {
      const url = `${e.scheme}://${e.host}/v2/`;
      const id = `registry.mirror.${e.host}`;
      try {
        const answer = await probeRegistry(url, timeoutMs, e.skipVerify, e.ca);
        out.push(pass(id, `${url} (mirror of ${domain}) answers ${answer}`));
      } catch (err) {
        const d = `${url} (mirror of ${domain}) unreachable: ${(err as Error).message}`;
        out.push(fallback ? warn(id, `${d}; pulls fall back to ${domain}`, 'start or fix the mirror, or remove it from image.registry.mirrors') : fail(id, `${d}; fallback is off, so pulls from ${domain} fail`, 'start or fix the mirror, or set fallback = true for it'));
      }
    }
  }
  return out;
}

/** Runs every check; never throws for what it finds (only for a bug). */
export async function runDoctor(opts: DoctorOptions = {}): Promise<DoctorReport> {
  const timeoutMs = opts.timeoutMs ?? 3000;
  const checks: CheckResult[] = [];
  let config: BerthConfig;
  let file: string | undefined;
  try {
    ({ config, file } = loadConfig([...(opts.configFile ? ['--config', opts.configFile] : []), ...(opts.root ? ['--root', opts.root] : []), ...(opts.state ? ['--state', opts.state] : [])]));
    checks.push(pass('config', file ? `${file} is valid` : 'no config file: embedded defaults'));
  } catch (e) {
    config = validateConfig(defaultConfig());
    file = opts.configFile;
    checks.push(fail('config', `${(e as Error).message} (the other checks use the defaults)`, `fix the file (berthd --print-config shows the effective config; berthd refuses to start with this one)`));
  }
  const ours: { driver?: string } = {};
  checks.push(...(await kernelChecks()));
  checks.push(...(await cgroupChecks(config, opts, ours)));
  checks.push(...(await binaryChecks(config)));
  checks.push(...(await cniChecks(config)));
  checks.push(...(await socketChecks(config)));
  checks.push(...(await diskChecks(config)));
  checks.push(await clockCheck(config));
  const b = await berthdCheck(config, timeoutMs, ours);
  checks.push(b.result);
  try {
    checks.push(...(await mirrorChecks(config, timeoutMs)));
  } catch (e) {
    checks.push(fail('registry.mirrors', (e as Error).message, 'fix image.registry in berthd\'s config'));
  }
  const summary = { pass: 0, warn: 0, fail: 0, skip: 0 };
  for (const c of checks) summary[c.status.toLowerCase() as keyof typeof summary]++;
  return {
    schemaVersion: 1,
    kind: 'DoctorReport',
    mode: b.up ? 'berthd' : 'read-only',
    berthVersion: BERTH_VERSION,
    time: new Date().toISOString(),
    config: { file: file ?? null, socket: config.socket, root: config.root, state: config.state },
    checks,
    summary,
    exitCode: summary.fail > 0 ? 5 : 0,
  };
}
