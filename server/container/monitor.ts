// The monitor and runtime protocol in one place (CRI-O's runtime_oci.go): starting a
// container through berth-shim (which starts conmon), the OCI runtime CLI (start, kill,
// delete, exec, update, state), conmon's exit and OOM files, and its control pipe.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { constants } from 'node:fs';
import { open, readFile, stat, rm, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { BerthError, deadlineExceeded, failedPrecondition, internal, type ErrorKind } from '../errors.js';
import { run, CommandError } from '../exec.js';
import type { RuntimeHandle } from './handlers.js';
import type { ShimJob, ShimResult } from '../../shim/job.js';
import type { OciLinuxResources, OciProcess } from '../../shim/oci/types.js';

export const SHIM = fileURLToPath(new URL('../../shim/main.js', import.meta.url));
export const CONMON = '/usr/bin/conmon';

type ShimChild = ChildProcessWithoutNullStreams;

/**
 * berth-shims started ahead of need: Node's start-up (100-200 ms of CPU on a busy 2-core
 * node) is then off the CreateContainer path. A spare has loaded its modules and waits for
 * its job on stdin; it is still one short-lived process per container. Spares are refilled
 * only once no shim job is in flight, so a burst of creates does not also pay for new
 * spares while it runs. A spare whose berthd dies reads EOF, fails to parse a job and exits.
 */
const spares: ShimChild[] = [];
let sparesWanted = 0;
let jobsInFlight = 0;

function spawnShim(): ShimChild {
  const child = spawn(process.execPath, [SHIM], { stdio: ['pipe', 'pipe', 'pipe'] });
  child.on('error', () => undefined);
  child.stdin.on('error', () => undefined);
  return child;
}

function refillSpares(): void {
  if (jobsInFlight > 0) return;
  while (spares.length < sparesWanted) {
    const child = spawnShim();
    spares.push(child);
    child.once('exit', () => {
      const i = spares.indexOf(child);
      if (i >= 0) spares.splice(i, 1);
    });
  }
}

/** Keeps `count` berth-shims ready for the next CreateContainers (berthd calls this once at start). */
export function prestartShims(count = 1): void {
  sparesWanted = count;
  refillSpares();
}

/** Ends the spare shims (berthd shutting down); they are ours, killed by their pids. */
export function stopShims(): void {
  sparesWanted = 0;
  for (const s of spares.splice(0)) if (s.exitCode === null && s.signalCode === null) s.kill('SIGKILL');
}

function takeShim(): ShimChild {
  jobsInFlight++;
  while (spares.length) {
    const s = spares.shift()!;
    if (s.exitCode === null && s.signalCode === null) return s;
  }
  return spawnShim();
}

function jobDone(): void {
  jobsInFlight--;
  if (jobsInFlight === 0) setImmediate(refillSpares);
}

/** Runs berth-shim with the job and returns the container and conmon pids (typed errors otherwise). */
export function runShim(job: ShimJob, timeoutMs = 120_000): Promise<{ pid: number; conmonPid: number; timings?: Record<string, number> }> {
  return new Promise((resolve, reject) => {
    const child = takeShim();
    child.removeAllListeners('exit');
    let out = '';
    let err = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    let finished = false;
    const finish = () => {
      clearTimeout(timer);
      if (!finished) jobDone();
      finished = true;
    };
    child.on('error', (e) => {
      finish();
      reject(internal(`cannot run berth-shim: ${e.message}`, e));
    });
    child.on('close', (code, signal) => {
      finish();
      const line = out.split('\n').find((l) => l.startsWith('{'));
      let res: ShimResult | undefined;
      try {
        res = line ? (JSON.parse(line) as ShimResult) : undefined;
      } catch {
        res = undefined;
      }
      if (!res) return reject(internal(`berth-shim ended (${signal ?? code}) without a result: ${err.trim() || out.trim()}`));
      if (res.ok) resolve({ pid: res.pid, conmonPid: res.conmonPid, ...(res.timings ? { timings: res.timings } : {}) });
      else reject(new BerthError(res.kind as ErrorKind, res.message));
    });
    child.stdin.end(JSON.stringify(job));
  });
}

const rt = (h: RuntimeHandle, ...args: string[]) => [`--root=${h.root}`, ...args];

function notThere(e: unknown): boolean {
  const msg = e instanceof CommandError ? e.result.stderr + e.result.stdout : String(e);
  return /does not exist|not exist|no such file|container not running|not running|process already finished|container .* is not running/i.test(msg);
}

export async function runtimeStart(h: RuntimeHandle, id: string): Promise<void> {
  await run(h.path, rt(h, 'start', id), { timeoutMs: 60_000 });
}

/** Sends a signal; a container that is gone or not running is fine. */
export async function runtimeKill(h: RuntimeHandle, id: string, signal: string): Promise<void> {
  try {
    await run(h.path, rt(h, 'kill', id, signal), { timeoutMs: 30_000 });
  } catch (e) {
    if (!notThere(e)) throw e;
  }
}

/** Deletes the runtime's state (and kills what is left); idempotent. */
export async function runtimeDelete(h: RuntimeHandle, id: string): Promise<void> {
  try {
    await run(h.path, rt(h, 'delete', '--force', id), { timeoutMs: 30_000 });
  } catch (e) {
    if (!notThere(e)) throw e;
  }
}

export async function runtimeState(h: RuntimeHandle, id: string): Promise<{ status: string; pid: number } | undefined> {
  const r = await run(h.path, rt(h, 'state', id), { allowFailure: true, timeoutMs: 30_000 });
  if (r.code !== 0) return undefined;
  const s = JSON.parse(r.stdout) as { status: string; pid: number };
  return { status: s.status, pid: s.pid };
}

/** Changes a live container's limits (runc update reads LinuxResources JSON). */
export async function runtimeUpdate(h: RuntimeHandle, id: string, resources: Omit<OciLinuxResources, 'devices'>): Promise<void> {
  try {
    await run(h.path, rt(h, 'update', '--resources', '-', id), { input: JSON.stringify(resources), timeoutMs: 30_000 });
  } catch (e) {
    if (e instanceof CommandError) throw failedPrecondition(`updating the container's resources failed: ${e.result.stderr.trim() || e.message}`, e);
    throw e;
  }
}

export interface ExecResult {
  exitCode: number;
  stdout: Buffer;
  stderr: Buffer;
}

/**
 * Runs a process in the container (runtime exec) and captures its output, each stream
 * capped at `maxBytes`. On timeout the exec'd process is killed and DEADLINE_EXCEEDED thrown.
 */
export function runtimeExec(h: RuntimeHandle, id: string, bundle: string, proc: OciProcess, timeoutMs: number, maxBytes: number): Promise<ExecResult> {
  const tag = randomBytes(6).toString('hex');
  const procFile = join(bundle, `exec-${tag}.json`);
  const pidFile = join(bundle, `exec-${tag}.pid`);
  const cleanup = () => Promise.all([rm(procFile, { force: true }), rm(pidFile, { force: true })]);
  return writeFile(procFile, JSON.stringify(proc)).then(
    () =>
      new Promise<ExecResult>((resolve, reject) => {
        const child = spawn(h.path, rt(h, 'exec', '--process', procFile, '--pid-file', pidFile, id), { stdio: ['ignore', 'pipe', 'pipe'] });
        const out: Buffer[] = [];
        const err: Buffer[] = [];
        let outLen = 0;
        let errLen = 0;
        let timedOut = false;
        const take = (chunks: Buffer[], len: number, b: Buffer): number => {
          if (len < maxBytes) chunks.push(b.subarray(0, maxBytes - len));
          return len + b.length;
        };
        child.stdout.on('data', (b: Buffer) => (outLen = take(out, outLen, b)));
        child.stderr.on('data', (b: Buffer) => (errLen = take(err, errLen, b)));
        const timer =
          timeoutMs > 0
            ? setTimeout(() => {
                timedOut = true;
                void readFile(pidFile, 'utf8')
                  .then((p) => process.kill(Number(p.trim()), 'SIGKILL'))
                  .catch(() => child.kill('SIGKILL'));
              }, timeoutMs)
            : undefined;
        child.on('error', (e) => {
          if (timer) clearTimeout(timer);
          void cleanup();
          reject(internal(`cannot run ${h.path}: ${e.message}`, e));
        });
        child.on('close', (code, signal) => {
          if (timer) clearTimeout(timer);
          void cleanup();
          if (timedOut) return reject(deadlineExceeded(`command ${JSON.stringify(proc.args)} timed out after ${timeoutMs / 1000} s and was killed`));
          const stderr = Buffer.concat(err);
          if (code === null) return reject(internal(`runtime exec was killed by ${signal}`));
          // runc reports its own failures (no such executable …) on stderr with exit 255 or 1.
          resolve({ exitCode: code, stdout: Buffer.concat(out), stderr });
        });
      }),
  );
}

/** conmon's exit file: the exit code and the time it was written (≈ when the process ended). */
export async function readExitFile(path: string): Promise<{ code: number; finishedAt: bigint } | undefined> {
  try {
    const [text, st] = await Promise.all([readFile(path, 'utf8'), stat(path, { bigint: true })]);
    const code = Number.parseInt(text.trim(), 10);
    if (!Number.isFinite(code)) return undefined; // being written
    return { code, finishedAt: st.mtimeNs };
  } catch {
    return undefined;
  }
}

/** conmon marks an OOM kill with an `oom` file in the bundle (its persist dir). */
export async function oomKilled(bundle: string): Promise<boolean> {
  try {
    await stat(join(bundle, 'oom'));
    return true;
  } catch {
    return false;
  }
}

/** Asks conmon to reopen the container log (ctl pipe message type 2), as kubelet's rotation needs. */
export async function reopenLog(bundle: string): Promise<void> {
  let fh;
  try {
    fh = await open(join(bundle, 'ctl'), constants.O_WRONLY | constants.O_NONBLOCK);
  } catch (e) {
    throw failedPrecondition(`the container's monitor does not listen on its control pipe: ${(e as Error).message}`, e);
  }
  try {
    await fh.write('2 0 0\n');
  } finally {
    await fh.close();
  }
}

/** True while `pid` is a conmon for container `id` (guards against PID reuse). */
export async function conmonAlive(pid: number, id: string): Promise<boolean> {
  if (!pid) return false;
  try {
    const cmd = await readFile(`/proc/${pid}/cmdline`, 'latin1');
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    if (/\) Z /.test(stat)) return false;
    return cmd.includes('conmon') && cmd.includes(id);
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits up to `ms` for the exit file; true when it is there. */
export async function waitForExitFile(path: string, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await readExitFile(path)) return true;
    if (Date.now() >= deadline) return false;
    await sleep(Math.min(25, Math.max(1, deadline - Date.now())));
  }
}

/** Waits for conmon to leave, then kills it if it lingers (it is ours: berthd started it). */
export async function reapConmon(pid: number, id: string, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (await conmonAlive(pid, id)) {
    if (Date.now() >= deadline) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        return;
      }
      await sleep(20);
      if (Date.now() >= deadline + 2000) return;
      continue;
    }
    await sleep(20);
  }
}
