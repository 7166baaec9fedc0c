// Starts a real berthd (the built dist/server/main.js) as a child process on its own
// socket, state directories, pod-log root and CNI bridge/subnet, so tests never collide
// with each other or with a berthd the operator runs. `cleanup` removes all of it.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, mkdir, writeFile, rm } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { criClient, type CriClient } from '../../conformance/client.js';
import { run } from '../../hostutil/exec.js';
import { unmountAll } from '../../hostutil/mounts.js';

export const BERTHD = fileURLToPath(new URL('../../server/main.js', import.meta.url));
export const TEST_PREFIX = '/tmp/berth-test-';

/**
 * The environment and node flags berthd's bin starts it with, read from the `#!` line of the
 * built main.js (test/unit/node-flags.test.ts keeps that line equal to BERTHD_ENV and
 * BERTHD_NODE_FLAGS): the harness,
 * which the conformance suite and the bench use, launches berthd as the bin does without
 * importing berthd's code.
 */
export function berthdLaunch(): { env: Record<string, string>; flags: string[] } {
  const first = readFileSync(BERTHD, 'utf8').split('\n', 1)[0] ?? '';
  const m = /^#!\/usr\/bin\/env -S ((?:[A-Z_][A-Z0-9_]*=\S*\s+)*)node(.*)$/.exec(first);
  if (!m) throw new Error(`${BERTHD} does not start with a '#!/usr/bin/env -S [NAME=value …] node …' line`);
  const env: Record<string, string> = {};
  for (const w of m[1]!.trim().split(/\s+/).filter(Boolean)) env[w.slice(0, w.indexOf('='))] = w.slice(w.indexOf('=') + 1);
  return { env, flags: m[2]!.trim().split(/\s+/).filter(Boolean) };
}

export interface TestNet {
  bridge: string;
  subnet: string;
  gateway: string;
  confDir: string;
  ipamDir: string;
}

export interface TestBerthd {
  dir: string;
  socket: string;
  root: string;
  state: string;
  logRoot: string;
  net: TestNet;
  client: CriClient;
  proc: ChildProcess;
  stderr: () => string;
  /** The Prometheus endpoint's URL, from berthd's log (undefined when it serves none). */
  metricsUrl(): string | undefined;
  /** Extra flags given at start (kept for restarts). */
  args: string[];
  start(): Promise<void>;
  /** SIGTERM and wait for exit; returns the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL (a crash) and wait for exit. */
  kill(): Promise<void>;
  cleanup(): Promise<void>;
}

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

function randomSubnet(): { subnet: string; gateway: string } {
  const b = randomBytes(2);
  // 10.201-250.x.0/24: private, per-test, picked at random so parallel files differ.
  const second = 201 + (b[0]! % 50);
  return { subnet: `10.${second}.${b[1]}.0/24`, gateway: `10.${second}.${b[1]}.1` };
}

export async function writeTestConflist(dir: string, net: Omit<TestNet, 'confDir'>, extra: { portmap?: boolean } = {}): Promise<void> {
  await mkdir(dir, { recursive: true });
  const conflist = {
    cniVersion: '1.0.0',
    name: `berth-${net.bridge}`,
    plugins: [
      {
        type: 'bridge',
        bridge: net.bridge,
        isGateway: true,
        ipMasq: false,
        ipam: { type: 'host-local', ranges: [[{ subnet: net.subnet }]], dataDir: net.ipamDir },
        capabilities: { ipRanges: true },
      },
      ...(extra.portmap === false ? [] : [{ type: 'portmap', capabilities: { portMappings: true } }]),
      { type: 'loopback' },
    ],
  };
  await writeFile(join(dir, '10-berth-test.conflist'), JSON.stringify(conflist, null, 2));
}

export async function startBerthd(opts: { args?: string[]; cni?: boolean; configToml?: string; env?: Record<string, string>; /** How long to wait for berthd to serve (default 20 s; more under emulation). */ startTimeoutMs?: number } = {}): Promise<TestBerthd> {
  const dir = await mkdtemp(TEST_PREFIX);
  const { subnet, gateway } = randomSubnet();
  const net: TestNet = {
    bridge: `bt-${randomBytes(4).toString('hex')}`,
    subnet,
    gateway,
    confDir: join(dir, 'cni'),
    ipamDir: join(dir, 'ipam'),
  };
  if (opts.cni !== false) await writeTestConflist(net.confDir, net);
  else await mkdir(net.confDir, { recursive: true });
  const logRoot = join(dir, 'logs');
  await mkdir(logRoot, { recursive: true });
  let out = '';
  const launch = berthdLaunch();
  const t: TestBerthd = {
    dir,
    socket: join(dir, 'berth.sock'),
    root: join(dir, 'root'),
    state: join(dir, 'state'),
    logRoot,
    net,
    client: undefined as unknown as CriClient,
    proc: undefined as unknown as ChildProcess,
    stderr: () => out,
    metricsUrl: () => /"url":"(https?:\/\/[^"]+)"[^\n]*serving Prometheus metrics|serving Prometheus metrics[^\n]*"url":"(https?:\/\/[^"]+)"/.exec(out)?.slice(1).find(Boolean),
    args: opts.args ?? [],
    async start() {
      const args = [
        ...launch.flags, // what berthd's #! line gives it
        BERTHD,
        '--config', join(dir, 'none.toml'),
        '--socket', t.socket,
        '--root', t.root,
        '--state', t.state,
        '--pod-log-root', logRoot,
        '--cni-conf-dir', net.confDir,
        '--log-level', 'debug',
        '--shutdown-timeout', '5',
        '--metrics-address', '127.0.0.1:0', // a free port: tests run side by side
        ...t.args,
      ];
      await writeFile(join(dir, 'none.toml'), `# test: embedded defaults + flags\n${opts.configToml ?? ''}\n`);
      out = '';
      // BERTH_TEST_RUN marks every process this berthd starts (inherited), for the leftover check.
      t.proc = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...launch.env, ...opts.env, BERTH_TEST_RUN: dir } });
      t.proc.stderr!.on('data', (b: Buffer) => {
        out += b.toString();
      });
      const deadline = Date.now() + (opts.startTimeoutMs ?? 20_000);
      while (!out.includes('berthd serving CRI')) {
        if (t.proc.exitCode !== null) throw new Error(`berthd exited ${t.proc.exitCode}: ${out}`);
        if (Date.now() > deadline) throw new Error(`berthd did not start: ${out}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      t.client?.close();
      t.client = criClient(`unix://${t.socket}`);
    },
    async stop() {
      t.client?.close();
      if (t.proc.exitCode !== null) return t.proc.exitCode;
      const exited = new Promise<number | null>((r) => t.proc.once('exit', (code) => r(code)));
      t.proc.kill('SIGTERM');
      return exited;
    },
    async kill() {
      t.client?.close();
      if (t.proc.exitCode !== null || t.proc.signalCode !== null) return;
      const exited = new Promise<void>((r) => t.proc.once('exit', () => r()));
      t.proc.kill('SIGKILL');
      await exited;
    },
    async cleanup() {
      if (t.proc && t.proc.exitCode === null && t.proc.signalCode === null) await t.kill();
      // Whatever a failed test left: pinned namespaces, shm mounts, the test bridge.
      await unmountAll([dir]).catch(() => undefined);
      await run('ip', ['link', 'del', net.bridge], { allowFailure: true });
      await rm(dir, { recursive: true, force: true });
    },
  };
  await t.start();
  return t;
}

/** End of a test file: removes every pod through berthd (so conmon, mounts and cgroups go too), then cleans up. */
export async function removePodsAndCleanup(b: TestBerthd | undefined): Promise<void> {
  if (!b) return;
  try {
    if (b.proc.exitCode === null && b.proc.signalCode === null) {
      for (const p of (await b.client.call('ListPodSandbox', {})).items) await b.client.call('RemovePodSandbox', { pod_sandbox_id: p.id });
    }
  } catch {
    /* berthd is gone: cleanup() below */
  }
  await b.cleanup();
}

/** A minimal valid PodSandboxConfig for tests. */
export function podConfig(t: Pick<TestBerthd, 'logRoot'>, name: string, extra: Record<string, unknown> = {}) {
  const uid = randomBytes(8).toString('hex');
  return {
    metadata: { name, namespace: 'berth-test', uid, attempt: 0 },
    hostname: name,
    log_directory: join(t.logRoot, `berth-test_${name}_${uid}`),
    labels: { 'berth-test': 'yes' },
    ...extra,
  };
}

export function nsMounted(path: string): Promise<boolean> {
  return import('../../hostutil/mounts.js').then(async (m) => (await m.mountPoints()).includes(path));
}

export { existsSync };
