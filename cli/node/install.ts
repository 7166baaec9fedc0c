// berth node install: puts a release bundle on the node and berth under systemd.
//   preflight (changes nothing): the bundle's checksums, the config berthd will run with
//     (validated by the bundle's own berthd), the store's compatibility with the release,
//     the programs berth drives, and for --switch-kubelet where kubelet keeps its runtime
//     endpoint and whether pods of the previous runtime still run;
//   then, each step journaled in the install manifest (manifest.ts) before it happens:
//     missing Debian packages (apt, on the host), /opt/berth/<version> and the atomic
//     switch of /opt/berth/current, /usr/local/bin/berth{,d}, /etc/berth/config.toml (only
//     if absent), the default CNI network (only if the node has none), berth.service,
//     daemon-reload + enable + start (restart on an upgrade), a wait until CRI answers
//     Version with this release, and kubelet's switch to berth's socket.
// Running it again finds everything in place and changes nothing; an interrupted run is
// finished by the next one.
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import Database from 'better-sqlite3';
import { parse as parseToml } from 'smol-toml';
import { parse, UsageError } from '../args.js';
import { readStoreMarks, storeCompatibility } from '../../server/store/db.js';
import { parseNetworkConfig } from '../../server/network/conflist.js';
import { hostRunner, HOST_ENV, type HostRunner } from './host.js';
import { Manifest } from './manifest.js';
import { inRoot } from './paths.js';
import { readBundle, verifyTree, type Bundle } from './bundle.js';
import { aptHost, describeMissing, missingRequirements, type EffectiveConfig, type Requirement } from './deps.js';
import { ensureDir, putFile, putLink, type Ctx } from './fsops.js';
import { endpointSocket, findEndpointSetting, KUBELET_DEFAULT_ENDPOINT, kubeletCgroupDriver, withEndpoint, type EndpointSetting } from './kubelet.js';
import { listPods, waitForCri } from './cri.js';
import { BACKUP_DIR } from './manifest.js';

export const OPT = '/opt/berth';
export const UNIT_NAME = 'berth.service';
export const UNIT_PATH = `/etc/systemd/system/${UNIT_NAME}`;
export const CONFIG_PATH = '/etc/berth/config.toml';
export const CONFLIST_NAME = '10-berth.conflist';

export interface InstallOptions {
  bundle?: string;
  /** A berthd config to install as berth's own (the chart's): written, kept up to date, what it replaced backed up. */
  config?: string;
  hostRoot: string;
  switchKubelet: boolean;
  force: boolean;
  cgroupDriver?: string;
  dryRun: boolean;
  /** Pods (namespace/name) the kubelet switch does not wait for: the chart's installer pod itself. */
  ignorePods: string[];
  /** How long to wait for CRI to answer after starting berth. */
  criTimeoutMs?: number;
  /**
   * Lay out the files and the unit only: no host command (no apt-get, no systemctl, no
   * wait for CRI). For a node image prepared offline (`systemctl enable --now berth` on the
   * node, or `berth node install` there, finishes it) and for the installer image's test.
   */
  noStart?: boolean;
}

export interface InstallDeps {
  host: HostRunner;
  log: (line: string) => void;
  /** Around kubelet's switch (the chart's --switch-taint): taint the node before, untaint after it succeeded. */
  beforeKubeletSwitch?: () => Promise<void>;
  afterKubeletSwitch?: () => Promise<void>;
}

export const INSTALL_USAGE =
  'berth node install [--bundle DIR] [--host-root DIR] [--config FILE] [--switch-kubelet] [--force] [--cgroup-driver cgroupfs|systemd] [--ignore-pod NS/NAME]... [--no-start] [--dry-run]\n    [--kubernetes-node NAME --node-label KEY [--switch-taint KEY] [--stay]]   (the Helm chart installer pod)';

export async function installCommand(args: string[]): Promise<number> {
  const { values } = parse(
    args,
    {
      bundle: { type: 'string' },
      config: { type: 'string' },
      'host-root': { type: 'string', default: '/' },
      'switch-kubelet': { type: 'boolean', default: false },
      force: { type: 'boolean', default: false },
      'cgroup-driver': { type: 'string' },
      'ignore-pod': { type: 'string', multiple: true, default: [] },
      'dry-run': { type: 'boolean', default: false },
      'no-start': { type: 'boolean', default: false },
      'kubernetes-node': { type: 'string' },
      'node-label': { type: 'string' },
      'switch-taint': { type: 'string' },
      stay: { type: 'boolean', default: false },
      'poll-seconds': { type: 'string', default: '10' },
    },
    INSTALL_USAGE,
  );
  const node = values['kubernetes-node'];
  if ((values['node-label'] || values['switch-taint'] || values.stay) && !node) throw new UsageError(`--node-label, --switch-taint and --stay need --kubernetes-node\nusage: ${INSTALL_USAGE}`);
  if (node && !values['node-label']) throw new UsageError(`--kubernetes-node needs --node-label\nusage: ${INSTALL_USAGE}`);
  if (values['no-start'] && values['switch-kubelet']) throw new UsageError(`--switch-kubelet needs berth running: it cannot go with --no-start\nusage: ${INSTALL_USAGE}`);
  const hostRoot = posix.resolve(values['host-root']);
  const log = (l: string) => console.log(`berth: ${l}`);
  const opts: InstallOptions = { bundle: values.bundle, config: values.config, hostRoot, switchKubelet: values['switch-kubelet'], force: values.force, cgroupDriver: values['cgroup-driver'], dryRun: values['dry-run'], ignorePods: values['ignore-pod'], noStart: values['no-start'] };
  if (!node) {
    await install(opts, { host: hostRunner(hostRoot), log });
    return 0;
  }
  const { KubeClient, inClusterApi } = await import('../kube.js');
  const { NodeReporter } = await import('./kubernetes.js');
  const reporter = new NodeReporter(new KubeClient(await inClusterApi(process.env, 'node install')), node, values['node-label']!, values['switch-taint'], log);
  let stopped!: () => void;
  const stop = new Promise<void>((r) => (stopped = r));
  process.once('SIGTERM', () => stopped());
  process.once('SIGINT', () => stopped());
  await installOnNode(opts, { host: hostRunner(hostRoot), log }, reporter, {
    stay: values.stay,
    pollMs: Number(values['poll-seconds']) * 1000,
    stopped: stop,
    uninstall: async () => (await import('./uninstall.js')).uninstall({ hostRoot, force: false, dryRun: false }, { host: hostRunner(hostRoot), log }),
  });
  return 0;
}

/**
 * The chart's installer: the node labelled through the install (and tainted around kubelet's
 * switch), then with `stay` kept running to answer the pre-delete hook (kubernetes.ts).
 */
export async function installOnNode(
  opts: InstallOptions,
  deps: InstallDeps,
  reporter: import('./kubernetes.js').NodeReporter,
  after: { stay: boolean; pollMs: number; stopped: Promise<void>; uninstall: () => Promise<void>; readyTimeoutMs?: number; readyPollMs?: number },
): Promise<void> {
  const k = await import('./kubernetes.js');
  const node = await reporter.state();
  const asked = node.metadata.annotations?.[k.UNINSTALL_ANNOTATION];
  if (asked === 'requested' || asked === 'done') {
    deps.log(`node ${reporter.node}: ${k.UNINSTALL_ANNOTATION}=${asked}: not installing`);
  } else {
    if (!opts.dryRun) await reporter.label('installing');
    try {
      await install(opts, {
        ...deps,
        beforeKubeletSwitch: () => reporter.taint(),
        afterKubeletSwitch: async () => {
          await reporter.waitReadyOnBerth(after.readyTimeoutMs ?? 300_000, after.readyPollMs);
          await reporter.untaint();
        },
      });
    } catch (e) {
      if (!opts.dryRun) await reporter.label('failed').catch((le: unknown) => deps.log(`node ${reporter.node}: cannot label it failed: ${(le as Error).message}`));
      throw e;
    }
    if (!opts.dryRun) await reporter.label(opts.noStart ? 'installed' : k.installedState(opts.hostRoot));
  }
  if (after.stay) await k.stay(reporter, { hostRoot: opts.hostRoot, pollMs: after.pollMs, uninstall: after.uninstall, stopped: after.stopped });
}

export class Refusal extends Error {}

function runLocal(file: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { env: { ...HOST_ENV }, cwd: '/', maxBuffer: 4 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

/**
 * The config text install would write: the given file (--config) or the bundle's template,
 * with kubelet's cgroup driver when the text does not set one of its own (the template's
 * embedded default is replaced).
 */
export function configText(template: string, given: string | undefined, driver: string | undefined): string {
  const text = given ?? template;
  if (!driver) return text;
  if (given !== undefined) return /^cgroup_driver\s*=/m.test(given) ? given : `cgroup_driver = "${driver}"\n${given}`;
  if (!/^cgroup_driver = ".*"$/m.test(text)) throw new Error('the bundle\'s config template has no cgroup_driver line');
  return text.replace(/^cgroup_driver = ".*"$/m, `cgroup_driver = "${driver}"`);
}

/** The configuration berthd will run with, as the bundle's own berthd reads and validates it. */
async function effectiveConfig(b: Bundle, text: string, source: string): Promise<EffectiveConfig> {
  const dir = mkdtempSync(join(tmpdir(), 'berth-install-'));
  try {
    writeFileSync(join(dir, 'config.toml'), text);
    const r = await runLocal(join(b.dir, 'bin/berthd'), ['--config', join(dir, 'config.toml'), '--print-config']);
    if (r.code !== 0) throw new Refusal(`berth ${b.info.version} does not accept ${source}: ${r.stderr.trim().replace(/^berthd: /, '')}`);
    return parseToml(r.stdout) as unknown as EffectiveConfig;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The CNI plugins the network berthd will use needs: the node's first config, or the default one. */
function cniPlugins(hostRoot: string, cfg: EffectiveConfig, b: Bundle): { plugins: string[]; nodeHasOne: boolean } {
  const dir = inRoot(hostRoot, cfg.cni.conf_dir);
  const first = existsSync(dir) ? readdirSync(dir).filter((n) => /\.(conflist|conf|json)$/.test(n)).sort()[0] : undefined;
  const file = first ? join(dir, first) : join(b.dir, 'etc/cni/net.d', CONFLIST_NAME);
  try {
    const plugins = parseNetworkConfig(readFileSync(file, 'utf8'), file).plugins;
    // IPAM plugins (host-local) are binaries in the same directories.
    const ipam = plugins.map((p) => (p.ipam as { type?: unknown } | undefined)?.type).filter((x): x is string => typeof x === 'string' && /^[a-zA-Z0-9_.-]+$/.test(x));
    return { plugins: [...new Set([...plugins.map((p) => p.type), ...ipam])], nodeHasOne: first !== undefined };
  } catch {
    return { plugins: [], nodeHasOne: first !== undefined }; // berthd reports an unusable network itself
  }
}

function checkStore(hostRoot: string, cfg: EffectiveConfig, b: Bundle): void {
  const file = inRoot(hostRoot, posix.join(cfg.root, 'meta.db'));
  if (!existsSync(file)) return;
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const c = storeCompatibility(readStoreMarks(db), b.info.store.schema, posix.join(cfg.root, 'meta.db'));
    if (!c.ok) throw new Refusal(`berth ${b.info.version} cannot run on this node's store, so the running berth is left in place: ${c.message}`);
  } finally {
    db.close();
  }
}

async function previousRuntimePods(hostRoot: string, endpoint: string, ignore: string[]): Promise<string[]> {
  const socket = inRoot(hostRoot, endpointSocket(endpoint));
  if (!existsSync(socket)) return [];
  let pods;
  try {
    pods = await listPods(socket, true);
  } catch (e) {
    throw new Refusal(`cannot ask kubelet's current runtime (${endpoint}) which pods run: ${(e as Error).message}; cordon and drain the node, then pass --force`);
  }
  return pods.map((p) => `${p.namespace}/${p.name}`).filter((n) => !ignore.includes(n));
}

export async function install(opts: InstallOptions, deps: InstallDeps): Promise<void> {
  const { host, log } = deps;
  const hostRoot = opts.hostRoot;
  const b = readBundle(opts.bundle);
  const v = b.info.version;
  log(`${opts.dryRun ? 'dry run: ' : ''}installing berth ${v} from ${b.dir} on ${host.description}`);

  // ---- preflight: nothing on the node changes before all of it passes ----
  const damaged = await verifyTree(b.dir, b.info);
  if (damaged) throw new Refusal(`the bundle in ${b.dir} is damaged: ${damaged}`);
  const hostConfig = inRoot(hostRoot, CONFIG_PATH);
  const kubeletDriver = kubeletCgroupDriver(hostRoot);
  const driver = opts.cgroupDriver ?? kubeletDriver?.driver;
  if (kubeletDriver) log(`kubelet's cgroup driver (${kubeletDriver.path}): ${kubeletDriver.driver}`);
  if (opts.cgroupDriver && kubeletDriver && opts.cgroupDriver !== kubeletDriver.driver) log(`warning: --cgroup-driver ${opts.cgroupDriver} differs from kubelet's ${kubeletDriver.driver}`);
  const template = configText(readFileSync(join(b.dir, 'etc/berth/config.toml'), 'utf8'), opts.config === undefined ? undefined : readFileSync(opts.config, 'utf8'), driver);
  const manifest = Manifest.load(hostRoot, opts.dryRun);
  const configEntry = manifest.get(`file:${CONFIG_PATH}`);
  // An operator's config is used as it is; berth's own (or --config's) is what gets written.
  const operatorsConfig = opts.config === undefined && existsSync(hostConfig) && !(configEntry && configEntry.action.kind === 'file');
  const cfgText = operatorsConfig ? readFileSync(hostConfig, 'utf8') : template;
  const what = opts.config ?? 'its config template';
  const source = operatorsConfig ? CONFIG_PATH : `${what}${driver ? ` with cgroup_driver "${driver}"${kubeletDriver && !opts.cgroupDriver ? ` (kubelet's, ${kubeletDriver.path})` : ''}` : ''}`;
  const cfg = await effectiveConfig(b, cfgText, source);
  // berthd refuses to start with the systemd driver on a node whose PID 1 is not systemd:
  // refuse here, before anything on the node changes, rather than after the unit failed.
  if ((cfg as { cgroup_driver?: string }).cgroup_driver === 'systemd' && !existsSync(inRoot(hostRoot, '/run/systemd/system'))) {
    throw new Refusal(`berth ${b.info.version} does not accept ${source}: cgroup_driver "systemd" needs systemd as PID 1 on the node (/run/systemd/system is missing); use --cgroup-driver cgroupfs`);
  }
  checkStore(hostRoot, cfg, b);
  const net = cniPlugins(hostRoot, cfg, b);
  let missing = missingRequirements(hostRoot, cfg, net.plugins);
  const apt = aptHost(hostRoot);
  if (missing.some((m) => !m.optional) && (!apt || opts.noStart)) {
    throw new Refusal(`missing on this node: ${describeMissing(missing.filter((m) => !m.optional))}; install them with the node's package manager, then run berth node install again`);
  }
  let kubelet: EndpointSetting | undefined;
  const berthEndpoint = `unix://${cfg.socket}`;
  if (opts.switchKubelet) {
    kubelet = findEndpointSetting(hostRoot);
    if (!kubelet) throw new Refusal('--switch-kubelet: kubelet\'s configuration is not on this node (no --container-runtime-endpoint flag in its environment files or drop-ins, no /var/lib/kubelet/config.yaml)');
    if (kubelet.value !== berthEndpoint) {
      const previous = kubelet.value ?? KUBELET_DEFAULT_ENDPOINT;
      const pods = await previousRuntimePods(hostRoot, previous, opts.ignorePods).catch((e: unknown) => {
        if (opts.force) return [];
        throw e;
      });
      if (pods.length > 0 && !opts.force) {
        throw new Refusal(`--switch-kubelet: ${pods.length} pod(s) still run on kubelet's current runtime (${previous}): ${pods.slice(0, 10).join(', ')}${pods.length > 10 ? ', …' : ''}. Cordon and drain the node first (kubectl drain <node> --ignore-daemonsets), or pass --force`);
      }
      if (pods.length > 0) log(`warning: --force: ${pods.length} pod(s) stay on ${previous}, which kubelet will no longer manage: ${pods.join(', ')}`);
    }
  }

  // ---- apply ----
  const ctx: Ctx = { hostRoot, manifest, dryRun: opts.dryRun, log };
  ensureDir(ctx, '/var/lib/berth', true);
  ensureDir(ctx, OPT, true);
  const dest = `${OPT}/${v}`;
  await placeTree(ctx, b, dest, opts.force);

  if (missing.length > 0 && apt && !opts.noStart) missing = await installPackages(ctx, host, b, dest, missing, hostRoot, cfg, net.plugins);

  const currentChanged = putLink(ctx, `${OPT}/current`, v);
  for (const name of ['berthd', 'berth']) putLink(ctx, `/usr/local/bin/${name}`, `${OPT}/current/bin/${name}`);
  putFile(ctx, CONFIG_PATH, template, 0o644, opts.config === undefined ? 'if-absent' : 'replace');
  const conflistPath = posix.join(cfg.cni.conf_dir, CONFLIST_NAME);
  if (!net.nodeHasOne || manifest.get(`file:${conflistPath}`)) {
    const conflist = readFileSync(join(b.dir, 'etc/cni/net.d', CONFLIST_NAME));
    putFile(ctx, conflistPath, conflist, 0o644, 'if-absent');
    // The bridge plugin creates this bridge with the first pod; uninstall deletes it.
    const net = JSON.parse(conflist.toString()) as { name: string; plugins: Array<{ type: string; bridge?: string }> };
    const bridge = net.plugins.find((p) => p.type === 'bridge')?.bridge;
    // host-local keeps the network's leases in /var/lib/cni/networks/<name> (its default dataDir).
    // The topmost of its directories that is not there yet goes on uninstall.
    let ipamDir: string | undefined;
    for (let d = `/var/lib/cni/networks/${net.name}`; d !== '/' && !existsSync(inRoot(hostRoot, d)); d = posix.dirname(d)) ipamDir = d;
    if (bridge && !opts.dryRun && !manifest.get(`bridge:${bridge}`)) {
      manifest.begin(`bridge:${bridge}`, { kind: 'bridge', name: bridge, ...(ipamDir ? { ipamDir } : {}) });
      manifest.done(`bridge:${bridge}`);
    }
  }
  const unitChanged = putFile(ctx, UNIT_PATH, readFileSync(join(b.dir, 'systemd', UNIT_NAME)), 0o644, 'replace');
  // berthd creates its state directories: they are berth's when they were not there before.
  ensureDir(ctx, cfg.root, true);
  let top: string | undefined;
  for (let d = cfg.state; d !== '/' && !existsSync(inRoot(hostRoot, d)); d = posix.dirname(d)) top = d;
  if (top && !opts.dryRun) {
    manifest.begin(`dir:${top}`, { kind: 'dir', path: top, recursive: true });
    manifest.done(`dir:${top}`);
  }

  if (opts.noStart) {
    manifest.setVersion(v);
    log(`${opts.dryRun ? 'dry run: nothing was changed' : `berth ${v} is laid out`} (--no-start: berth.service was neither enabled nor started; run berth node install on the node, or systemctl enable --now berth)`);
    return;
  }
  await startService(ctx, host, { unitChanged, currentChanged });
  if (!opts.dryRun) {
    const socket = inRoot(hostRoot, cfg.socket);
    const failed = async () => ((await host.run(['systemctl', 'is-failed', '--quiet', UNIT_NAME], { allowFailure: true })).code === 0 ? `${UNIT_NAME} failed; see journalctl -u berth` : undefined);
    const until = Date.now() + (opts.criTimeoutMs ?? 60_000);
    let answered = await waitForCri(socket, opts.criTimeoutMs ?? 60_000, failed);
    while (answered !== v && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 250)); // an upgrade: the old berthd may still be stopping
      answered = await waitForCri(socket, Math.max(1000, until - Date.now()), failed);
    }
    if (answered !== v) throw new Error(`berth answers on ${cfg.socket} with release ${answered}, not ${v}: is another berthd on that socket?`);
    log(`berth ${v} answers CRI on ${berthEndpoint}`);
  }
  manifest.setVersion(v);
  pruneOldTrees(ctx, v);

  if (opts.switchKubelet && kubelet) {
    const entry = manifest.get(`kubelet:${kubelet.path}`);
    if (kubelet.value !== berthEndpoint) {
      if (!opts.dryRun) await deps.beforeKubeletSwitch?.();
      await switchKubelet(ctx, host, kubelet, berthEndpoint);
      if (!opts.dryRun) await deps.afterKubeletSwitch?.();
    }
    else if (entry && entry.state === 'pending' && !opts.dryRun) {
      // Interrupted between the edit and kubelet's restart.
      await host.run(['systemctl', 'restart', 'kubelet.service']);
      manifest.done(entry.id);
    } else log(`kubelet already uses ${berthEndpoint}`);
  }
  log(opts.dryRun ? 'dry run: nothing was changed' : `berth ${v} is installed (undo with: berth node uninstall)`);
}

async function placeTree(ctx: Ctx, b: Bundle, dest: string, force: boolean): Promise<void> {
  const real = inRoot(ctx.hostRoot, dest);
  const id = `tree:${dest}`;
  const entry = ctx.manifest.get(id);
  if (existsSync(real)) {
    const diff = await verifyTree(real, b.info);
    if (!diff && (entry?.state === 'done' || !entry)) return; // already there (ours, or put there by hand: left alone on uninstall)
    if (!entry && !force) throw new Refusal(`${dest} exists and differs from the bundle (${diff}); remove it or pass --force`);
  }
  if (ctx.dryRun) return ctx.log(`would copy the bundle to ${dest}`);
  ctx.manifest.begin(id, { kind: 'tree', path: dest, version: b.info.version });
  const partial = inRoot(ctx.hostRoot, `${OPT}/.${b.info.version}.partial`);
  rmSync(partial, { recursive: true, force: true });
  cpSync(b.dir, partial, { recursive: true, preserveTimestamps: true });
  const diff = await verifyTree(partial, b.info, true);
  if (diff) throw new Error(`the copy in ${partial} does not match the bundle: ${diff}`);
  rmSync(real, { recursive: true, force: true });
  renameSync(partial, real);
  ctx.manifest.done(id);
  ctx.log(`copied the bundle to ${dest}`);
}

async function installPackages(ctx: Ctx, host: HostRunner, b: Bundle, dest: string, missing: Requirement[], hostRoot: string, cfg: EffectiveConfig, plugins: string[]): Promise<Requirement[]> {
  const pkgs = [...new Set(missing.map((m) => m.pkg))];
  const fromBundle = b.info.debs.length > 0;
  let args = pkgs;
  if (fromBundle) {
    // Only what the node lacks: a library it already has (perhaps newer) is never replaced.
    const q = await host.run(['dpkg-query', '-W', '-f', '${Package} ${db:Status-Abbrev}\n'], { allowFailure: true });
    const installed = new Set(q.stdout.split('\n').filter((l) => /^\S+ ii/.test(l)).map((l) => l.split(' ')[0]!));
    args = b.info.debs.filter((d) => !installed.has(d.split('_')[0]!)).map((d) => `${dest}/debs/${d}`);
  }
  if (ctx.dryRun) {
    ctx.log(`would install ${pkgs.join(' ')} with apt-get${fromBundle ? ' from the bundle\'s Debian packages' : ''}`);
    return missing;
  }
  const id = 'packages';
  const before = ctx.manifest.get(id);
  const names = [...new Set([...(before?.action.kind === 'packages' ? before.action.names : []), ...pkgs])];
  ctx.manifest.begin(id, { kind: 'packages', names });
  ctx.log(`installing ${pkgs.join(' ')} with apt-get${fromBundle ? ' from the bundle' : ''}`);
  const aptInstall = () => host.run(['apt-get', 'install', '-y', '-q', '--no-install-recommends', ...args], { allowFailure: true });
  let r = await aptInstall();
  if (r.code !== 0 && !fromBundle) {
    await host.run(['apt-get', 'update', '-q'], { allowFailure: true });
    r = await aptInstall();
  }
  ctx.manifest.done(id);
  const still = missingRequirements(hostRoot, cfg, plugins);
  const required = still.filter((m) => !m.optional);
  if (required.length > 0) {
    throw new Refusal(`missing on this node: ${describeMissing(required)}; apt-get could not install them${r.code !== 0 ? ` (${(r.stderr.trim().split('\n').pop() ?? '').trim()})` : ''}: on an air-gapped node use a bundle built with --with-debs`);
  }
  for (const m of still) ctx.log(`warning: ${m.what} is not installed (optional)`);
  return still;
}

async function startService(ctx: Ctx, host: HostRunner, changed: { unitChanged: boolean; currentChanged: boolean }): Promise<void> {
  const entry = ctx.manifest.get('unit');
  if (ctx.dryRun) {
    ctx.log(`would run systemctl daemon-reload, enable and ${changed.currentChanged || changed.unitChanged ? 'restart' : 'start'} ${UNIT_NAME}`);
    return;
  }
  if (changed.unitChanged || entry?.state !== 'done') await host.run(['systemctl', 'daemon-reload']);
  ctx.manifest.begin('unit', { kind: 'unit', name: UNIT_NAME });
  await host.run(['systemctl', 'enable', UNIT_NAME]);
  const active = (await host.run(['systemctl', 'is-active', '--quiet', UNIT_NAME], { allowFailure: true })).code === 0;
  if (!active) {
    ctx.log(`starting ${UNIT_NAME}`);
    await host.run(['systemctl', 'start', UNIT_NAME]);
  } else if (changed.unitChanged || changed.currentChanged) {
    // KillMode=process: containers keep running while berthd restarts on the new release.
    ctx.log(`restarting ${UNIT_NAME} on the new release`);
    await host.run(['systemctl', 'restart', UNIT_NAME]);
  }
  ctx.manifest.done('unit');
}

/** Keeps the current release and the one before it (for a rollback); removes older trees this installer put there. */
function pruneOldTrees(ctx: Ctx, current: string): void {
  if (ctx.dryRun) return;
  const trees = ctx.manifest.data.entries.filter((e) => e.action.kind === 'tree' && e.state === 'done');
  const others = trees.filter((e) => e.action.kind === 'tree' && e.action.version !== current);
  for (const e of others.slice(0, Math.max(0, others.length - 1))) {
    rmSync(inRoot(ctx.hostRoot, (e.action as { path: string }).path), { recursive: true, force: true });
    ctx.manifest.drop(e.id);
    ctx.log(`removed the old release ${(e.action as { path: string }).path}`);
  }
}

async function switchKubelet(ctx: Ctx, host: HostRunner, k: EndpointSetting, endpoint: string): Promise<void> {
  const real = inRoot(ctx.hostRoot, k.path);
  const text = readFileSync(real, 'utf8');
  if (ctx.dryRun) {
    ctx.log(`would set kubelet's runtime endpoint to ${endpoint} in ${k.path} (${k.where === 'flag' ? '--container-runtime-endpoint' : 'containerRuntimeEndpoint'}; now ${k.value ?? 'not set'}) and restart kubelet`);
    return;
  }
  const id = `kubelet:${k.path}`;
  const backup = `${BACKUP_DIR}/kubelet__${k.path.replace(/^\//, '').replace(/\//g, '__')}`;
  ensureDir(ctx, BACKUP_DIR, true);
  writeFileSync(inRoot(ctx.hostRoot, backup), text);
  ctx.manifest.begin(id, { kind: 'kubelet', path: k.path, where: k.where, previous: k.value, written: endpoint, backup });
  const tmp = `${real}.berth-tmp`;
  writeFileSync(tmp, withEndpoint(text, k.where, endpoint), { mode: statSync(real).mode & 0o7777 });
  renameSync(tmp, real);
  ctx.log(`kubelet's runtime endpoint in ${k.path}: ${k.value ?? 'not set'} → ${endpoint}; restarting kubelet`);
  await host.run(['systemctl', 'restart', 'kubelet.service']);
  ctx.manifest.done(id);
}
