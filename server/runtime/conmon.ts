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
import type { OciLinuxResources, OciProcess } from '../oci/types.js';

export const SHIM = fileURLToPath(new URL('../../shim/main.js', import.meta.url));
export const CONMON = '/usr/bin/conmon';

type ShimChild = ChildProcessWithoutNullStreams;
type ShimStarted = { pid: number; conmonPid: number; timings?: Record<string, number> };

/** Jobs one berth-shim runs side by side before another is started. */
const SHIM_MAX_JOBS = 16;
/** A shim beyond the wanted spares exits after this long without a job. */
const SHIM_LINGER_MS = 2000;

/**
 * One berth-shim process and the jobs it is running. Jobs go out as JSON lines with a
 * sequence number and come back the same way, so one shim serves a burst of creates and
 * Node's start-up (100-200 ms of CPU on a busy 2-core node) is paid once per shim, not
 * once per container. When it dies, every job still in it fails (berthd's create path
 * cleans those up).
 */
class Shim {
  readonly child: ShimChild;
  readonly pending = new Map<number, { resolve: (r: ShimStarted) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  readonly startedAt = Date.now();
  closing = false;
  lingerTimer?: NodeJS.Timeout;
  private out = '';
  private err = '';

  constructor(onGone: (s: Shim) => void) {
    this.child = spawn(process.execPath, [SHIM], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.on('error', (e) => this.failAll(`cannot run berth-shim: ${e.message}`));
    this.child.stdin.on('error', () => undefined);
    this.child.stdout.setEncoding('utf8');
    this.child.stdout.on('data', (chunk: string) => {
      this.out += chunk;
      let nl: number;
      while ((nl = this.out.indexOf('\n')) >= 0) {
        this.onLine(this.out.slice(0, nl));
        this.out = this.out.slice(nl + 1);
      }
    });
    this.child.stderr.on('data', (b: Buffer) => (this.err = (this.err + b.toString()).slice(-4096)));
    this.child.on('close', (code, signal) => {
      clearTimeout(this.lingerTimer);
      this.failAll(`${SHIM_DIED} (${signal ?? code}) without a result: ${this.err.trim()}`);
      onGone(this);
    });
  }

  get usable(): boolean {
    return !this.closing && this.child.exitCode === null && this.child.signalCode === null;
  }

  run(seq: number, job: ShimJob, timeoutMs: number): Promise<ShimStarted> {
    clearTimeout(this.lingerTimer);
    return new Promise((resolve, reject) => {
      // A job that hangs takes its shim (and the jobs beside it) down; they all fail.
      const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
      this.pending.set(seq, { resolve, reject, timer });
      this.child.stdin.write(JSON.stringify({ seq, job }) + '\n');
    });
  }

  /** No more jobs: the shim exits once the ones it has are done. */
  close(): void {
    this.closing = true;
    this.child.stdin.end();
  }

  private onLine(line: string): void {
    let msg: { seq?: number; result?: ShimResult };
    try {
      msg = JSON.parse(line) as typeof msg;
    } catch {
      return; // not ours (a stray write); the job's timeout still holds
    }
    const p = msg.seq === undefined || msg.seq === null ? undefined : this.pending.get(msg.seq);
    const res = msg.result;
    if (!p || !res) return;
    this.pending.delete(msg.seq!);
    clearTimeout(p.timer);
    if (res.ok) p.resolve({ pid: res.pid, conmonPid: res.conmonPid, ...(res.timings ? { timings: res.timings } : {}) });
    else p.reject(new BerthError(res.kind as ErrorKind, res.message));
  }

  private failAll(message: string): void {
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(internal(message));
    }
    this.pending.clear();
  }
}

/** How the failure of a job whose shim died begins (create.ts settles such a create before rolling back). */
export const SHIM_DIED = 'berth-shim ended';

/**
 * After a shim died in the middle of a job, conmon (already detached from it) may still be
 * running `runtime create`. Waits, at most `ms`, until that create is over — the container's
 * pid file is written, or conmon is gone — and returns conmon's pid (0 when it never
 * started), so the rollback deletes a container that exists instead of racing its creation.
 */
export async function settleOrphanedCreate(bundle: string, id: string, ms = 10_000): Promise<number> {
  const start = Date.now();
  let conmon = 0;
  while (Date.now() - start < ms) {
    if (!conmon) conmon = Number((await readFile(join(bundle, 'conmon.pid'), 'utf8').catch(() => '')).trim()) || 0;
    if (conmon && !(await conmonAlive(conmon, id))) break;
    if (conmon && (await stat(join(bundle, 'pidfile')).then(() => true, () => false))) break;
    if (!conmon && Date.now() - start > 1000) break; // conmon was never started
    await sleep(25);
  }
  return conmon;
}

const shims: Shim[] = [];
let sparesWanted = 0;
let nextSeq = 1;

function shimGone(s: Shim): void {
  const i = shims.indexOf(s);
  if (i >= 0) shims.splice(i, 1);
  // A spare that died (not one we closed) is replaced, unless shims die right at start.
  if (!s.closing && Date.now() - s.startedAt > 1000) setImmediate(refillSpares);
}

function refillSpares(): void {
  while (shims.filter((s) => s.usable).length < sparesWanted) shims.push(new Shim(shimGone));
}

function pickShim(): Shim {
  const s = shims.find((x) => x.usable && x.pending.size < SHIM_MAX_JOBS);
  if (s) return s;
  const fresh = new Shim(shimGone);
  shims.push(fresh);
  return fresh;
}

/** After a job: an idle shim beyond the wanted spares lingers briefly (the burst may go on), then exits. */
function jobDone(s: Shim): void {
  if (s.pending.size > 0 || !s.usable) return;
  clearTimeout(s.lingerTimer);
  s.lingerTimer = setTimeout(() => {
    const idle = shims.filter((x) => x.usable && x.pending.size === 0);
    if (s.pending.size === 0 && s.usable && idle.length > sparesWanted) s.close();
  }, SHIM_LINGER_MS);
  s.lingerTimer.unref();
}

/** Keeps `count` berth-shims started ahead of need (berthd calls this once at start). */
export function prestartShims(count = 1): void {
  sparesWanted = count;
  refillSpares();
}

/** berthd shutting down: idle shims (ours) are killed by their pids; busy ones finish their jobs and exit. */
export function stopShims(): void {
  sparesWanted = 0;
  for (const s of [...shims]) {
    clearTimeout(s.lingerTimer);
    if (s.pending.size === 0 && s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGKILL');
    else s.close();
  }
}

/** Runs a job in a berth-shim and returns the container and conmon pids (typed errors otherwise). */
export async function runShim(job: ShimJob, timeoutMs = 120_000): Promise<ShimStarted> {
  const s = pickShim();
  try {
    return await s.run(nextSeq++, job, timeoutMs);
  } finally {
    jobDone(s);
  }
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

/**
 * Changes a live container's limits: `runtime update --resources FILE` with LinuxResources
 * JSON, the file in the bundle. Not `--resources -` on stdin: Node gives a child a socket
 * for stdin, and crun opens "-" as /dev/stdin, which fails on a socket (ENXIO).
 */
export async function runtimeUpdate(h: RuntimeHandle, id: string, bundle: string, resources: Omit<OciLinuxResources, 'devices'>): Promise<void> {
  const file = join(bundle, `update-${randomBytes(6).toString('hex')}.json`);
  try {
    await writeFile(file, JSON.stringify(resources));
    await run(h.path, rt(h, 'update', '--resources', file, id), { timeoutMs: 30_000 });
  } catch (e) {
    if (e instanceof CommandError) throw failedPrecondition(`updating the container's resources failed: ${e.result.stderr.trim() || e.message}`, e);
    throw e;
  } finally {
    await rm(file, { force: true });
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
