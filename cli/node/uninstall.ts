// berth node uninstall: reverses what `berth node install` recorded in the install
// manifest, and nothing else. kubelet's previous runtime endpoint comes back first (and
// kubelet restarts on it); then berth's remaining pods are stopped and removed through
// CRI (refused while some run, unless --force), berth.service is stopped and disabled,
// and every file, link, directory, package and bridge install added is removed, newest
// first, with what install replaced restored from its backup. Each entry leaves the
// manifest only once it is undone, so an interrupted uninstall is finished by the next.
import { existsSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { posix } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { parse } from '../args.js';
import { defaultConfig } from '../../server/config.js';
import { hostRunner, type HostRunner } from './host.js';
import { Manifest, MANIFEST_PATH, type Entry } from './manifest.js';
import { inRoot } from './paths.js';
import { removeIfNoFiles, restorePrevious, type Ctx } from './fsops.js';
import { withEndpoint } from './kubelet.js';
import { criCall, listPods } from './cri.js';
import { CONFIG_PATH, Refusal, UNIT_NAME } from './install.js';

export interface UninstallOptions {
  hostRoot: string;
  force: boolean;
  dryRun: boolean;
}

export const UNINSTALL_USAGE = 'berth node uninstall [--host-root DIR] [--force] [--dry-run]';

export async function uninstallCommand(args: string[]): Promise<number> {
  const { values } = parse(args, { 'host-root': { type: 'string', default: '/' }, force: { type: 'boolean', default: false }, 'dry-run': { type: 'boolean', default: false } }, UNINSTALL_USAGE);
  const hostRoot = posix.resolve(values['host-root']);
  await uninstall({ hostRoot, force: values.force, dryRun: values['dry-run'] }, { host: hostRunner(hostRoot), log: (l) => console.log(`berth: ${l}`) });
  return 0;
}

/** berth's socket, root and state as the node's config sets them. */
export function nodeConfig(hostRoot: string): { socket: string; root: string; state: string } {
  const d = defaultConfig();
  const file = inRoot(hostRoot, CONFIG_PATH);
  const c = existsSync(file) ? (parseToml(readFileSync(file, 'utf8')) as { socket?: string; root?: string; state?: string }) : {};
  return { socket: c.socket ?? d.socket, root: c.root ?? d.root, state: c.state ?? d.state };
}

const KEY_VALUE = /^containerRuntimeEndpoint:[ \t]*["']?([^"'\s#]*)/m;
const FLAG_VALUE = /--container-runtime-endpoint(?:=|\s+)["']?([^\s"']+)/;

function currentValue(text: string, where: 'flag' | 'config'): string | null {
  if (where === 'config' && text.trimStart().startsWith('{')) return ((JSON.parse(text) as Record<string, unknown>).containerRuntimeEndpoint as string | undefined) ?? null;
  return (where === 'flag' ? FLAG_VALUE : KEY_VALUE).exec(text)?.[1] ?? null;
}

export async function uninstall(opts: UninstallOptions, deps: { host: HostRunner; log: (line: string) => void }): Promise<void> {
  const { host, log } = deps;
  const hostRoot = opts.hostRoot;
  if (!Manifest.exists(hostRoot)) {
    log(`berth node install left no manifest on this node (${MANIFEST_PATH}): nothing to undo`);
    return;
  }
  const m = Manifest.load(hostRoot, opts.dryRun);
  const ctx: Ctx = { hostRoot, manifest: m, dryRun: opts.dryRun, log };
  const cfg = nodeConfig(hostRoot);
  const socket = inRoot(hostRoot, cfg.socket);
  log(`${opts.dryRun ? 'dry run: ' : ''}uninstalling berth ${m.data.version || '(interrupted install)'} from ${host.description}`);

  // Preflight: berth's pods.
  let pods: Awaited<ReturnType<typeof listPods>> = [];
  if (existsSync(socket)) {
    try {
      pods = await listPods(socket, false);
    } catch (e) {
      log(`berth does not answer on ${cfg.socket} (${(e as Error).message}): its pods, if any, cannot be removed through CRI`);
    }
  }
  const running = pods.filter((p) => p.state === 'SANDBOX_READY');
  if (running.length > 0 && !opts.force) {
    throw new Refusal(`${running.length} pod(s) still run on berth: ${running.slice(0, 10).map((p) => `${p.namespace}/${p.name}`).join(', ')}. Cordon and drain the node first (kubectl drain <node> --ignore-daemonsets), or pass --force to stop and remove them`);
  }
  if (opts.dryRun) {
    for (const e of [...m.data.entries].reverse()) log(`would undo ${e.id}${e.state === 'pending' ? ' (interrupted)' : ''}`);
    if (pods.length) log(`would stop and remove ${pods.length} pod(s) through CRI`);
    log('dry run: nothing was changed');
    return;
  }

  // 1. kubelet back on its previous runtime.
  for (const e of m.data.entries.filter((x) => x.action.kind === 'kubelet')) {
    const a = e.action as Extract<Entry['action'], { kind: 'kubelet' }>;
    const real = inRoot(hostRoot, a.path);
    const text = existsSync(real) ? readFileSync(real, 'utf8') : undefined;
    if (text !== undefined && currentValue(text, a.where) === a.written) {
      const tmp = `${real}.berth-tmp`;
      writeFileSync(tmp, withEndpoint(text, a.where, a.previous), { mode: statSync(real).mode & 0o7777 });
      renameSync(tmp, real);
      log(`kubelet's runtime endpoint in ${a.path}: ${a.written} → ${a.previous ?? 'not set (kubelet\'s default)'}; restarting kubelet`);
      await host.run(['systemctl', 'restart', 'kubelet.service']);
    } else {
      log(`warning: kubelet's runtime endpoint in ${a.path} is no longer berth's (${a.written}): left as is`);
    }
    rmSync(inRoot(hostRoot, a.backup), { force: true });
    m.drop(e.id);
  }

  // 2. berth's pods, through berth itself.
  for (const p of pods) {
    try {
      await criCall(socket, 'StopPodSandbox', { pod_sandbox_id: p.id }, 120_000);
      await criCall(socket, 'RemovePodSandbox', { pod_sandbox_id: p.id }, 120_000);
      log(`removed pod ${p.namespace}/${p.name}`);
    } catch (e) {
      throw new Error(`removing pod ${p.namespace}/${p.name} (${p.id}) through berth failed: ${(e as Error).message}`);
    }
  }

  // 3. Everything else, newest first; the directory holding the manifest goes last.
  let unitFileGone = false;
  const last: Entry[] = [];
  for (const e of [...m.data.entries].reverse()) {
    const a = e.action;
    if (a.kind === 'dir' && (MANIFEST_PATH.startsWith(a.path + '/') || a.path === posix.dirname(MANIFEST_PATH))) {
      last.push(e);
      continue;
    }
    await undo(ctx, host, e);
    if (a.kind === 'file' && a.path.endsWith(`/${UNIT_NAME}`)) unitFileGone = true;
    m.drop(e.id);
  }
  if (unitFileGone) {
    await host.run(['systemctl', 'daemon-reload']);
    await host.run(['systemctl', 'reset-failed', UNIT_NAME], { allowFailure: true });
  }
  m.remove();
  for (const e of last) rmSync(inRoot(hostRoot, (e.action as { path: string }).path), { recursive: true, force: true });
  log('berth is uninstalled');
}

async function undo(ctx: Ctx, host: HostRunner, e: Entry): Promise<void> {
  const a = e.action;
  const real = (p: string) => inRoot(ctx.hostRoot, p);
  switch (a.kind) {
    case 'unit':
      // KillMode=process: conmon and containers are not berthd's to take down; pods were removed above.
      await host.run(['systemctl', 'disable', '--now', a.name], { allowFailure: true });
      if ((await host.run(['systemctl', 'is-active', '--quiet', a.name], { allowFailure: true })).code === 0) throw new Error(`${a.name} is still active after systemctl disable --now`);
      ctx.log(`stopped and disabled ${a.name}`);
      return;
    case 'file':
    case 'link':
      restorePrevious(ctx, a.path, a.previous);
      ctx.log(a.previous ? `restored ${a.path}` : `removed ${a.path}`);
      return;
    case 'tree':
      rmSync(real(a.path), { recursive: true, force: true });
      ctx.log(`removed ${a.path}`);
      return;
    case 'dir':
      if (a.recursive) rmSync(real(a.path), { recursive: true, force: true });
      else if (!removeIfNoFiles(real(a.path))) {
        ctx.log(`left ${a.path}: it holds files berth did not put there`);
        return;
      }
      ctx.log(`removed ${a.path}`);
      return;
    case 'bridge': {
      const there = await host.run(['ip', 'link', 'show', a.name], { allowFailure: true });
      if (there.code === 0) {
        await host.run(['ip', 'link', 'delete', a.name]);
        ctx.log(`deleted the bridge ${a.name}`);
      }
      if (a.ipamDir) rmSync(real(a.ipamDir), { recursive: true, force: true });
      return;
    }
    case 'packages': {
      const sim = await host.run(['apt-get', '-s', 'remove', ...a.names], { allowFailure: true });
      const others = [...sim.stdout.matchAll(/^Remv (\S+)/gm)].map((x) => x[1]!).filter((n) => !a.names.includes(n));
      if (sim.code !== 0 || others.length > 0) {
        ctx.log(`warning: left the packages install added (${a.names.join(' ')}): removing them would also remove ${others.join(' ') || `more (${sim.stderr.trim()})`}`);
        return;
      }
      await host.run(['apt-get', 'remove', '-y', '-q', ...a.names]);
      ctx.log(`removed the packages ${a.names.join(' ')}`);
      return;
    }
    case 'kubelet':
      return; // handled first
  }
}
