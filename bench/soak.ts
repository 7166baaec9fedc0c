// The soak: what hours of kubelet traffic must not change. A burst of pods started at once,
// then full pod lifecycles in a row — RunPodSandbox, a container that writes log lines,
// ExecSync, the stats RPCs kubelet polls, StopContainer, RemoveContainer, StopPodSandbox,
// RemovePodSandbox — sampling berthd's RSS, its open file descriptors and the sizes of its
// in-memory tables (admin GET /v1/debug/sizes) between cycles, when no call is in flight.
// Used by the bench scenario `soak` (1,000 cycles) and the CI test (a quick soak).
import { readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'node:http';
import { call, podConfig, removeAllPods, removePod, waitRunning } from './cri.js';
import { rssKiB } from './procs.js';
import type { BenchRuntime } from './runtimes/types.js';

/** Tables whose size must be back to where it started whenever no pod exists and no call runs. */
export const PER_POD_TABLES = ['sandboxes', 'containers', 'sandboxLocks', 'containerLocks', 'statsSamples', 'eventListeners', 'shimJobs', 'cgroupOomMarks', 'streamingSockets'] as const;

export interface SoakSample {
  /** Cycles completed when sampled. */
  cycle: number;
  rssKiB: number;
  fds: number;
  sizes: Record<string, number>;
}

export interface SoakOptions {
  cycles: number;
  /** Pods started concurrently before the cycles (0: none). */
  burst: number;
  image: string;
  runId: string;
  /** Sample every this many cycles (and after the last). */
  sampleEvery: number;
  /** ExecSync calls per cycle. */
  execs?: number;
  log?: (msg: string) => void;
}

export interface SoakResult {
  burst: { pods: number; wallMs: number; errors: string[] };
  samples: SoakSample[];
  /** Every failed call or check, with its cycle; the soak goes on after one. */
  errors: string[];
  cycles: number;
}

export function openFds(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return -1;
  }
}

const PROTOCOL_HEADER = 'x-berth-admin-protocol';

function adminGet(socketPath: string, path: string, protocol: string): Promise<{ status: number; protocol: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method: 'GET', path, headers: { [PROTOCOL_HEADER]: protocol } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 500, protocol: String(res.headers[PROTOCOL_HEADER] ?? ''), body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end();
  });
}

let adminProtocol = '';
/**
 * berthd's table sizes from its admin socket. The bench is a client from outside (it never
 * imports berth's code): it speaks the protocol version berthd announces in its answers.
 */
export async function berthSizes(rt: BenchRuntime): Promise<Record<string, number>> {
  const socket = join(rt.dir, 'state', 'admin.sock');
  let r = await adminGet(socket, '/v1/debug/sizes', adminProtocol);
  if (r.status >= 400 && r.protocol !== '' && r.protocol !== adminProtocol) {
    adminProtocol = r.protocol;
    r = await adminGet(socket, '/v1/debug/sizes', adminProtocol);
  }
  if (r.status >= 400) throw new Error(`admin GET /v1/debug/sizes: ${r.status} ${r.body.slice(0, 200)}`);
  return JSON.parse(r.body) as Record<string, number>;
}

const LOG_LINES = 50;
/** The container writes LOG_LINES numbered lines, then sleeps (busybox sh). */
const LOGGING_WORKLOAD = ['/bin/sh', '-c', `i=0; while [ $i -lt ${LOG_LINES} ]; do echo soak-line-$i; i=$((i+1)); done; exec /bin/sleep 2147483`];

async function sample(rt: BenchRuntime, cycle: number): Promise<SoakSample> {
  const pid = rt.pid();
  return { cycle, rssKiB: rssKiB(pid), fds: openFds(pid), sizes: await berthSizes(rt) };
}

/** One pod through its whole life with log and exec traffic; throws on the first failure. */
async function lifecycle(rt: BenchRuntime, opts: SoakOptions, name: string): Promise<void> {
  const config = await podConfig(rt, opts.runId, name);
  const podId = (await call(rt, 'RunPodSandbox', { config, runtime_handler: '' })).pod_sandbox_id as string;
  try {
    const ccfg = {
      metadata: { name: 'work', attempt: 0 },
      image: { image: opts.image },
      command: LOGGING_WORKLOAD,
      log_path: 'work/0.log',
      labels: { 'berth-bench': opts.runId },
    };
    const cid = (await call(rt, 'CreateContainer', { pod_sandbox_id: podId, config: ccfg, sandbox_config: config })).container_id as string;
    await call(rt, 'StartContainer', { container_id: cid });
    await waitRunning(rt, cid);
    for (let i = 0; i < (opts.execs ?? 3); i++) {
      const x = await call(rt, 'ExecSync', { container_id: cid, cmd: ['/bin/echo', `soak-exec-${i}`], timeout: 20 });
      const out = Buffer.from(x.stdout ?? '').toString();
      if (x.exit_code !== 0 || out.trim() !== `soak-exec-${i}`) throw new Error(`ExecSync: exit ${x.exit_code}, stdout ${JSON.stringify(out.slice(0, 200))}`);
    }
    // What kubelet polls: per-container and per-pod stats, and the lists that prune old samples.
    await call(rt, 'ContainerStats', { container_id: cid });
    await call(rt, 'PodSandboxStats', { pod_sandbox_id: podId });
    await call(rt, 'ListContainerStats', { filter: { pod_sandbox_id: podId } });
    // The container's log: every line, in order, in the CRI log format.
    const logFile = join(config.log_directory, 'work/0.log');
    const deadline = Date.now() + 30_000;
    for (;;) {
      const text = await readFile(logFile, 'utf8').catch(() => '');
      const lines = text.split('\n').filter((l) => l.includes('soak-line-'));
      if (lines.length === LOG_LINES) {
        lines.forEach((l, i) => {
          if (!l.endsWith(` stdout F soak-line-${i}`)) throw new Error(`log line ${i} is ${JSON.stringify(l.slice(0, 200))}`);
        });
        break;
      }
      if (Date.now() > deadline) throw new Error(`${logFile}: ${lines.length} of ${LOG_LINES} lines after 30 s`);
      await new Promise((r) => setTimeout(r, 20));
    }
    await call(rt, 'StopContainer', { container_id: cid, timeout: 0 });
    await call(rt, 'RemoveContainer', { container_id: cid });
  } finally {
    await removePod(rt, podId);
  }
}

export async function runSoak(rt: BenchRuntime, opts: SoakOptions): Promise<SoakResult> {
  const log = opts.log ?? (() => undefined);
  const res: SoakResult = { burst: { pods: opts.burst, wallMs: 0, errors: [] }, samples: [], errors: [], cycles: 0 };
  if (opts.burst > 0) {
    const t0 = Date.now();
    const settled = await Promise.allSettled(
      Array.from({ length: opts.burst }, async (_, i) => {
        const config = await podConfig(rt, opts.runId, `soak-burst-${i}`);
        const podId = (await call(rt, 'RunPodSandbox', { config, runtime_handler: '' })).pod_sandbox_id as string;
        const ccfg = { metadata: { name: 'work', attempt: 0 }, image: { image: opts.image }, command: ['/bin/sleep', '2147483'], log_path: 'work/0.log', labels: { 'berth-bench': opts.runId } };
        const cid = (await call(rt, 'CreateContainer', { pod_sandbox_id: podId, config: ccfg, sandbox_config: config })).container_id as string;
        await call(rt, 'StartContainer', { container_id: cid });
        await waitRunning(rt, cid, 300_000);
      }),
    );
    res.burst.wallMs = Date.now() - t0;
    for (const s of settled) if (s.status === 'rejected') res.burst.errors.push(`burst: ${(s.reason as Error).message}`);
    const running = (await call(rt, 'ListContainers', { filter: { state: { state: 'CONTAINER_RUNNING' }, label_selector: { 'berth-bench': opts.runId } } })).containers?.length ?? 0;
    if (running !== opts.burst) res.burst.errors.push(`burst: ${running} of ${opts.burst} containers running`);
    log(`burst: ${opts.burst} pods in ${res.burst.wallMs} ms, ${res.burst.errors.length} error(s)`);
    await removeAllPods(rt, opts.runId).catch((e: Error) => res.burst.errors.push(`burst cleanup: ${e.message}`));
  }
  res.samples.push(await sample(rt, 0));
  for (let c = 1; c <= opts.cycles; c++) {
    try {
      await lifecycle(rt, opts, `soak-${c}`);
    } catch (e) {
      res.errors.push(`cycle ${c}: ${(e as Error).message}`);
      await removeAllPods(rt, opts.runId).catch(() => undefined);
    }
    res.cycles = c;
    if (c % opts.sampleEvery === 0 || c === opts.cycles) {
      const s = await sample(rt, c);
      res.samples.push(s);
      log(`cycle ${c}: RSS ${(s.rssKiB / 1024).toFixed(1)} MiB, ${s.fds} fds, ${Object.entries(s.sizes).map(([k, v]) => `${k} ${v}`).join(', ')}; ${res.errors.length} error(s)`);
    }
  }
  return res;
}

/** Tables of PER_POD_TABLES whose size at some sample differs from the first sample's. */
export function grownTables(samples: readonly SoakSample[]): string[] {
  const first = samples[0]?.sizes ?? {};
  const out: string[] = [];
  for (const k of PER_POD_TABLES) {
    const bad = samples.filter((s) => (s.sizes[k] ?? 0) !== (first[k] ?? 0));
    if (bad.length) out.push(`${k}: ${first[k] ?? 0} at cycle ${samples[0]!.cycle}, ${bad.map((s) => `${s.sizes[k]} at cycle ${s.cycle}`).join(', ')}`);
  }
  return out;
}
