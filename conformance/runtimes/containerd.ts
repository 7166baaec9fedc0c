// A private containerd (Debian's containerd 1.6 with its CRI plugin, runc, cgroupfs) for
// the conformance suite and the benchmarks: its own config, root, state, sockets, runc
// root, CNI config (own bridge and subnet) and registry mirrors, so it never touches a
// containerd of the host, berthd, or another test.
//
//   const ctd = await startContainerd({ registry: '127.0.0.1:5000' });
//   … drive it through `ctd.endpoint` (unix:///…/containerd.sock) …
//   await ctd.cleanup();   // removes every pod, stops containerd, leaves nothing behind
//
// Everything lives under one directory (`dir`). Processes are stopped by PID only: the
// containerd this module started, and the shims it started (found by the marker
// `BERTH_TEST_RUN=<dir>` in their environment, which they inherit from containerd).
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../../hostutil/exec.js';
import { unmountAll } from '../../hostutil/mounts.js';
import { criClient } from '../client.js';
import { pushPauseImage } from '../images.js';

export interface ContainerdOptions {
  /** `host:port` of the plain-HTTP registry on 127.0.0.1 that stands in for every registry. */
  registry: string;
  /** Sandbox (pause) image. Default: `<registry>/conformance/pause:3.9`, pushed there at start. */
  sandboxImage?: string;
  /** Registry hosts mirrored to `registry` (besides `registry` itself). */
  mirrors?: readonly string[];
  /** Parent for the working directory (mkdtemp prefix). Default `/tmp/berth-containerd-`. */
  dirPrefix?: string;
  /** CNI bridge name (≤ 15 chars). Default `bt-` + 8 random hex digits. */
  bridge?: string;
  /** IPv4 /24 for pods. Default: a random 10.(151-200).x.0/24 (berth's test helper uses 10.201-250). */
  subnet?: string;
  /** containerd's log level. Default `warn`. */
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
  containerdBinary?: string;
  runcBinary?: string;
  cniBinDir?: string;
  /**
   * The systemd cgroup driver (runc's `SystemdCgroup = true`): pods need a slice-form
   * cgroup_parent, containers run in `cri-containerd-<id>.scope` units. Default false (cgroupfs).
   */
  systemdCgroup?: boolean;
  /** How long to wait for containerd to serve CRI (default 30 s; more under emulation). */
  startTimeoutMs?: number;
  /** Apply AppArmor (containerd's cri-containerd.apparmor.d default) where the host has it. Default false. */
  apparmor?: boolean;
  /** Extra TOML appended under `[plugins."io.containerd.grpc.v1.cri"]` (benchmarks may tune it). */
  extraCriToml?: string;
}

export interface Containerd {
  /** `unix:///…/containerd.sock`, for criClient() or --endpoint. */
  endpoint: string;
  socket: string;
  /** The working directory: config.toml, root, state, CNI config, registry hosts, logs. */
  dir: string;
  pid: number;
  bridge: string;
  subnet: string;
  sandboxImage: string;
  /** containerd's log so far. */
  log(): string;
  /** SIGTERM containerd (SIGKILL after 10 s) and wait for it. Shims and pods keep running. */
  stop(): Promise<void>;
  /**
   * Removes every pod through CRI (while containerd runs), stops containerd, kills shims
   * and containers it left, unmounts and deletes its directory and bridge. Idempotent.
   */
  cleanup(): Promise<void>;
}

const CRI = 'io.containerd.grpc.v1.cri';
const CONFLIST_NAME = '10-containerd-test.conflist';
const DEFAULT_MIRRORS = ['docker.io', 'registry-1.docker.io', 'registry.k8s.io', 'k8s.gcr.io', 'gcr.io', 'quay.io'];

function randomSubnet(): string {
  const b = randomBytes(2);
  return `10.${151 + (b[0]! % 50)}.${b[1]}.0/24`;
}

const q = (s: string) => JSON.stringify(s);

/** config.toml (version 2) for a private containerd rooted at `dir`. */
export function containerdConfig(p: {
  dir: string;
  socket: string;
  sandboxImage: string;
  runc: string;
  cniBinDir: string;
  logLevel: string;
  extraCriToml?: string;
  systemdCgroup?: boolean;
  apparmor?: boolean;
}): string {
  const { dir } = p;
  return `# Written by conformance/runtimes/containerd.ts: a private containerd for tests and benchmarks.
version = 2
root = ${q(join(dir, 'root'))}
state = ${q(join(dir, 'state'))}
temp = ${q(join(dir, 'tmp'))}
oom_score = 0
# Not needed by CRI, and they would touch host paths or print noise.
disabled_plugins = [
  "io.containerd.internal.v1.opt",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
]

[grpc]
  address = ${q(p.socket)}

[ttrpc]
  address = ${q(`${p.socket}.ttrpc`)}

[debug]
  level = ${q(p.logLevel)}

[metrics]
  address = ""

[plugins]
  [plugins.${q(CRI)}]
    sandbox_image = ${q(p.sandboxImage)}
    # Root here lacks CAP_SYS_RESOURCE: lowering oom_score_adj would fail every sandbox.
    restrict_oom_score_adj = true
    disable_apparmor = ${!p.apparmor}
    enable_selinux = false
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
    # Pinned network namespaces under our state dir, not /var/run/netns.
    netns_mounts_under_state_dir = true
    systemd_cgroup = false
    tolerate_missing_hugetlb_controller = true
    disable_hugetlb_controller = true
${p.extraCriToml ?? ''}
    [plugins.${q(CRI)}.containerd]
      snapshotter = "overlayfs"
      default_runtime_name = "runc"
      [plugins.${q(CRI)}.containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins.${q(CRI)}.containerd.runtimes.runc.options]
          BinaryName = ${q(p.runc)}
          Root = ${q(join(dir, 'runc'))}
          SystemdCgroup = ${!!p.systemdCgroup}

    [plugins.${q(CRI)}.cni]
      bin_dir = ${q(p.cniBinDir)}
      conf_dir = ${q(join(dir, 'cni'))}
      max_conf_num = 1

    [plugins.${q(CRI)}.registry]
      config_path = ${q(join(dir, 'certs.d'))}
`;
}

/** Our bridge conflist: host-local IPAM with its data under `dir`, portmap, loopback. */
export function containerdConflist(p: { name: string; bridge: string; subnet: string; ipamDir: string }): object {
  return {
    cniVersion: '1.0.0',
    name: p.name,
    plugins: [
      {
        type: 'bridge',
        bridge: p.bridge,
        isGateway: true,
        ipMasq: false,
        hairpinMode: true,
        ipam: { type: 'host-local', ranges: [[{ subnet: p.subnet }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: p.ipamDir },
      },
      { type: 'portmap', capabilities: { portMappings: true } },
      { type: 'loopback' },
    ],
  };
}

/** hosts.toml mapping one registry host to the local plain-HTTP registry. */
export function hostsToml(registry: string): string {
  return `server = "http://${registry}"

[host."http://${registry}"]
  capabilities = ["pull", "resolve"]
  skip_verify = true
`;
}

async function processesMarked(marker: string): Promise<number[]> {
  const pids: number[] = [];
  for (const p of await readdir('/proc')) {
    if (!/^\d+$/.test(p) || Number(p) === process.pid) continue;
    try {
      const env = (await readFile(`/proc/${p}/environ`, 'latin1')).split('\0');
      if (env.includes(`BERTH_TEST_RUN=${marker}`)) pids.push(Number(p));
    } catch {
      /* gone, or a kernel thread */
    }
  }
  return pids;
}

async function waitGone(pids: number[], ms: number): Promise<number[]> {
  const deadline = Date.now() + ms;
  let left = pids;
  while (left.length && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    left = left.filter((pid) => existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/stat`, 'latin1').includes(') Z '));
  }
  return left;
}

/**
 * Takes down a containerd started by this module and everything it made: pods through
 * CRI (while it still answers), containerd itself, shims and containers it left (by
 * PID, found by the marker), shim sockets, mounts, the bridge, libcni's result cache,
 * and the directory. Used by cleanup(), and by `--cleanup DIR` after a crashed run.
 */
async function stopAndReap(p: {
  dir: string;
  socket: string;
  bridge: string;
  netName: string;
  runcBinary?: string;
  stopContainerd: () => Promise<void>;
}): Promise<void> {
  const { dir, socket } = p;
  const problems: string[] = [];
  // 1. While containerd runs: stop and remove every pod (and with it every container,
  //    shim, netns and CNI allocation) the way kubelet would.
  if (existsSync(socket)) {
    const client = criClient(`unix://${socket}`);
    try {
      const { items } = await client.call<{ items: Array<{ id: string }> }>('ListPodSandbox', {}, { timeoutMs: 5_000 });
      for (const s of items) {
        await client.call('StopPodSandbox', { pod_sandbox_id: s.id }, { timeoutMs: 30_000 }).catch((e: Error) => problems.push(`stop pod ${s.id}: ${e.message}`));
        await client.call('RemovePodSandbox', { pod_sandbox_id: s.id }, { timeoutMs: 30_000 }).catch((e: Error) => problems.push(`remove pod ${s.id}: ${e.message}`));
      }
    } catch {
      /* containerd is not answering: the steps below take everything down by force */
    } finally {
      client.close();
    }
  }
  // 2. Stop containerd; then any process it started that is still alive (shims, or
  //    containers whose shim died): runc deletes its containers, the marker finds the rest.
  await p.stopContainerd();
  const runcRoot = join(dir, 'runc', 'k8s.io');
  const leftIds = existsSync(runcRoot) ? await readdir(runcRoot) : [];
  for (const id of leftIds) {
    await run(p.runcBinary ?? '/usr/sbin/runc', ['--root', runcRoot, 'delete', '--force', id], { allowFailure: true });
  }
  const marked = await processesMarked(dir);
  for (const pid of marked) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  const stuck = await waitGone(marked, 5000);
  if (stuck.length) problems.push(`processes still alive: ${stuck.join(', ')}`);
  // 3. Shim sockets live in /run/containerd/s/<sha256(grpc address/namespace/id)>; a
  //    shim removes its own on exit, a killed one does not.
  const taskDir = join(dir, 'state', 'io.containerd.runtime.v2.task', 'k8s.io');
  const taskIds = existsSync(taskDir) ? await readdir(taskDir) : [];
  for (const id of new Set([...taskIds, ...leftIds])) {
    const hash = createHash('sha256').update(join(socket, 'k8s.io', id)).digest('hex');
    await rm(join('/run/containerd/s', hash), { force: true });
  }
  for (const d of ['/run/containerd/s', '/run/containerd']) await rmdir(d).catch(() => undefined);
  // 4. Mounts (snapshots, rootfs, shm, pinned netns), the bridge, libcni's cache, the directory.
  await unmountAll([dir]).catch((e: Error) => problems.push(e.message));
  if (p.bridge) await run('ip', ['link', 'del', p.bridge], { allowFailure: true });
  const results = '/var/lib/cni/results';
  if (existsSync(results)) {
    for (const f of await readdir(results)) if (p.netName && f.startsWith(`${p.netName}-`)) await rm(join(results, f), { force: true });
    // Only if empty: another runtime on the node may use them.
    await rmdir(results).catch(() => undefined);
    await rmdir('/var/lib/cni').catch(() => undefined);
  }
  await rm(dir, { recursive: true, force: true });
  if (problems.length) throw new Error(`containerd cleanup: ${problems.join('; ')}`);
}

/** Recovers from a crashed run: takes down the containerd whose working directory is `dir`. */
export async function cleanupContainerdDir(dir: string): Promise<void> {
  const conflistPath = join(dir, 'cni', CONFLIST_NAME);
  const conflist = existsSync(conflistPath) ? (JSON.parse(await readFile(conflistPath, 'utf8')) as { name: string; plugins: Array<{ bridge?: string }> }) : undefined;
  const stopContainerd = async () => {
    for (const pid of await processesMarked(dir)) {
      const argv0 = (await readFile(`/proc/${pid}/cmdline`, 'latin1').catch(() => '')).split('\0')[0] ?? '';
      if (argv0.endsWith('/containerd')) {
        process.kill(pid, 'SIGTERM');
        if ((await waitGone([pid], 10_000)).length) process.kill(pid, 'SIGKILL');
      }
    }
  };
  await stopAndReap({
    dir,
    socket: join(dir, 'containerd.sock'),
    bridge: conflist?.plugins[0]?.bridge ?? '',
    netName: conflist?.name ?? '',
    stopContainerd,
  });
}

export async function startContainerd(opts: ContainerdOptions): Promise<Containerd> {
  const dir = await mkdtemp(opts.dirPrefix ?? '/tmp/berth-containerd-');
  const socket = join(dir, 'containerd.sock');
  const bridge = opts.bridge ?? `bt-${randomBytes(4).toString('hex')}`;
  const subnet = opts.subnet ?? randomSubnet();
  const netName = `berth-ctd-${bridge}`;
  let proc: ChildProcess | undefined;
  let out = '';
  let cleaned = false;

  const stop = async () => {
    const c = proc;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill('SIGTERM');
    const t = setTimeout(() => c.kill('SIGKILL'), 10_000);
    await gone;
    clearTimeout(t);
  };

  const cleanup = async () => {
    if (cleaned) return;
    cleaned = true;
    await stopAndReap({ dir, socket, bridge, netName, runcBinary: opts.runcBinary, stopContainerd: stop });
  };

  try {
    const sandboxImage = opts.sandboxImage ?? (await pushPauseImage(`http://${opts.registry}`));
    await mkdir(join(dir, 'cni'), { recursive: true });
    await writeFile(
      join(dir, 'cni', CONFLIST_NAME),
      JSON.stringify(containerdConflist({ name: netName, bridge, subnet, ipamDir: join(dir, 'ipam') }), null, 2),
    );
    for (const host of [...new Set([opts.registry, ...(opts.mirrors ?? DEFAULT_MIRRORS)])]) {
      await mkdir(join(dir, 'certs.d', host), { recursive: true });
      await writeFile(join(dir, 'certs.d', host, 'hosts.toml'), hostsToml(opts.registry));
    }
    const config = join(dir, 'config.toml');
    await writeFile(
      config,
      containerdConfig({
        dir,
        socket,
        sandboxImage,
        runc: opts.runcBinary ?? '/usr/sbin/runc',
        cniBinDir: opts.cniBinDir ?? '/usr/lib/cni',
        logLevel: opts.logLevel ?? 'warn',
        extraCriToml: opts.extraCriToml,
        systemdCgroup: opts.systemdCgroup,
        apparmor: opts.apparmor,
      }),
    );
    const c = spawn(opts.containerdBinary ?? '/usr/bin/containerd', ['--config', config], {
      stdio: ['ignore', 'pipe', 'pipe'],
      // The marker is inherited by every shim containerd starts (see cleanup).
      env: { ...process.env, BERTH_TEST_RUN: dir },
    });
    proc = c;
    const collect = (b: Buffer) => {
      out += b.toString();
      if (out.length > 4_000_000) out = out.slice(-2_000_000);
    };
    c.stdout!.on('data', collect);
    c.stderr!.on('data', collect);

    // Ready when the CRI plugin answers Version over the socket.
    const startMs = opts.startTimeoutMs ?? 30_000;
    const deadline = Date.now() + startMs;
    for (;;) {
      if (c.exitCode !== null || c.signalCode !== null) throw new Error(`containerd exited at start (${c.exitCode ?? c.signalCode}): ${out}`);
      if (existsSync(socket)) {
        const client = criClient(`unix://${socket}`);
        try {
          await client.call('Version', {}, { timeoutMs: 2000 });
          break;
        } catch {
          /* CRI plugin not up yet */
        } finally {
          client.close();
        }
      }
      if (Date.now() > deadline) throw new Error(`containerd did not serve CRI within ${startMs / 1000} s: ${out}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    return {
      endpoint: `unix://${socket}`,
      socket,
      dir,
      pid: c.pid!,
      bridge,
      subnet,
      sandboxImage,
      log: () => out,
      stop,
      cleanup,
    };
  } catch (e) {
    await cleanup().catch(() => undefined);
    throw e;
  }
}

// `node dist/conformance/runtimes/containerd.js --cleanup DIR`: after a crashed run.
if (import.meta.url === `file://${process.argv[1]}` && process.argv[2] === '--cleanup' && process.argv[3]) {
  await cleanupContainerdDir(process.argv[3]);
}
