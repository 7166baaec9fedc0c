// The berth-shim pool: shims started ahead of need, each running the creates of a burst
// side by side. Jobs go out as JSON lines with a sequence number and come back the same way
// (shim/job.ts), so Node's start-up (100-200 ms of CPU on a busy 2-core node) is paid once
// per shim, not once per container. berthd makes one pool (daemon.ts) and hands it to the
// container code; nothing here is module state, so a pool runs any command that speaks the
// protocol (the unit tests give it a fake shim).
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { BerthError, failedPrecondition, internal } from '../errors.js';
import { parseShimLine } from './shim-reply.js';
import { SHIM_PROTOCOL, type ShimJob, type ShimResult } from '../../shim/job.js';

/** berth-shim's entry point, run by the Node that runs berthd. */
export const SHIM = fileURLToPath(new URL('../../shim/main.js', import.meta.url));

/** A job's shim ended before it answered. Its create may still be under way in conmon. */
export class ShimDiedError extends BerthError {
  constructor(message: string) {
    super('Internal', message);
  }
}

export interface ShimPoolOptions {
  /** The shim's command line (default: this Node running berth-shim). */
  command?: readonly [string, ...string[]];
  /** Jobs one shim runs side by side before another is started. */
  maxJobsPerShim?: number;
  /** A shim beyond the wanted spares exits after this long without a job. */
  lingerMs?: number;
  /** A spare that dies sooner than this after its start is not replaced (it would die again). */
  respawnAfterMs?: number;
  /** Marks the shims (environment SHIM_MARK=<mark>, berthd's state dir) so a restarted berthd finds those its predecessor left. */
  mark?: string;
}

/** The environment variable that names the berthd (its state dir) a berth-shim works for. */
export const SHIM_MARK = 'BERTH_SHIM_OF';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function markedShims(mark: string): Promise<number[]> {
  const want = `${SHIM_MARK}=${mark}`;
  const out: number[] = [];
  for (const p of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(p) || Number(p) === process.pid) continue;
    const env = await readFile(`/proc/${p}/environ`, 'latin1').catch(() => '');
    if (!env.split('\0').includes(want)) continue;
    // Only berth-shim itself: never what it started (conmon of an older shim may carry the mark).
    const cmd = await readFile(`/proc/${p}/cmdline`, 'latin1').catch(() => '');
    if (!cmd.includes(SHIM)) continue;
    const stat = await readFile(`/proc/${p}/stat`, 'utf8').catch(() => '');
    if (stat && !/\) [ZX] /.test(stat)) out.push(Number(p));
  }
  return out;
}

/**
 * At start, before recovery: berth-shims of a berthd that died finish the create jobs they
 * had (their input closed, they exit when idle). Recovery must not clean up a container while
 * such a shim is still mounting its rootfs or starting its conmon, so this waits for them
 * (at most `ms`) and then kills what is left. Returns how many there were.
 */
export async function settleOrphanedShims(mark: string, ms = 3000): Promise<number> {
  const first = await markedShims(mark);
  const deadline = Date.now() + ms;
  let left = first;
  while (left.length && Date.now() < deadline) {
    await sleep(50);
    left = await markedShims(mark);
  }
  for (const pid of left) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  return first.length;
}

/** Metrics hook (berth_shim_job_duration_seconds): called after each job with its seconds. */
export type ShimJobObserver = (seconds: number) => void;

type Pending = { resolve: (r: ShimResult) => void; reject: (e: Error) => void; timer: NodeJS.Timeout };

/** One berth-shim process and the jobs it is running; when it dies, every job still in it fails. */
class Shim {
  readonly child: ChildProcessWithoutNullStreams;
  readonly pending = new Map<number, Pending>();
  readonly startedAt = Date.now();
  closing = false;
  lingerTimer?: NodeJS.Timeout;
  private out = '';
  private err = '';

  constructor(command: readonly [string, ...string[]], onGone: (s: Shim) => void, mark?: string) {
    const [file, ...args] = command;
    this.child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'], ...(mark ? { env: { ...process.env, [SHIM_MARK]: mark } } : {}) });
    this.child.on('error', (e) => this.failAll(new ShimDiedError(`cannot run berth-shim: ${e.message}`)));
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
      this.failAll(new ShimDiedError(`berth-shim ended (${signal ?? code}) without a result: ${this.err.trim()}`));
      onGone(this);
    });
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  get usable(): boolean {
    return !this.closing && this.alive;
  }

  run(seq: number, job: ShimJob, timeoutMs: number): Promise<ShimResult> {
    clearTimeout(this.lingerTimer);
    return new Promise((resolve, reject) => {
      // A job that hangs takes its shim (and the jobs beside it) down; they all fail.
      const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
      this.pending.set(seq, { resolve, reject, timer });
      this.child.stdin.write(JSON.stringify({ seq, protocol: SHIM_PROTOCOL, job }) + '\n');
    });
  }

  /** No more jobs: the shim exits once the ones it has are done. */
  close(): void {
    this.closing = true;
    this.child.stdin.end();
  }

  private onLine(line: string): void {
    const parsed = parseShimLine(line);
    if (parsed.kind === 'stray') return; // not an answer; the job's timeout still holds
    const p = this.pending.get(parsed.seq);
    if (!p) return;
    this.pending.delete(parsed.seq);
    clearTimeout(p.timer);
    if (parsed.kind === 'mismatch') {
      p.reject(failedPrecondition(`berthd speaks job protocol ${SHIM_PROTOCOL} but berth-shim answered in ${JSON.stringify(parsed.protocol ?? 'none')}: berthd and berth-shim come from different berth releases; restart berthd (systemctl restart berth) so that it runs the berth-shim of its own release`));
    } else if (parsed.kind === 'invalid') p.reject(internal(`berth-shim answered job ${parsed.seq} outside the protocol: ${parsed.problem}`));
    else p.resolve(parsed.result);
  }

  private failAll(err: Error): void {
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
  }
}

export class ShimPool {
  private readonly shims: Shim[] = [];
  private sparesWanted = 0;
  private nextSeq = 1;
  private readonly command: readonly [string, ...string[]];
  private readonly maxJobs: number;
  private readonly lingerMs: number;
  private readonly respawnAfterMs: number;
  /** Set by berthd's metrics wiring. */
  onJobDone: ShimJobObserver | undefined;
  private readonly mark: string | undefined;

  /** Shim processes held and jobs pending in them (for the soak's leak check). */
  counts(): { shims: number; jobs: number } {
    return { shims: this.shims.length, jobs: this.shims.reduce((n, s) => n + s.pending.size, 0) };
  }

  constructor(opts: ShimPoolOptions = {}) {
    this.mark = opts.mark;
    this.command = opts.command ?? [process.execPath, SHIM];
    this.maxJobs = opts.maxJobsPerShim ?? 16;
    this.lingerMs = opts.lingerMs ?? 2000;
    this.respawnAfterMs = opts.respawnAfterMs ?? 1000;
  }

  /** Keeps `count` shims started ahead of need (berthd calls this once at start). */
  prestart(count = 1): void {
    this.sparesWanted = count;
    this.refillSpares();
  }

  /** Runs a job in a shim and returns its checked result; ShimDiedError when the shim died first. */
  async run(job: ShimJob, timeoutMs = 120_000): Promise<ShimResult> {
    const s = this.pick();
    const started = process.hrtime.bigint();
    try {
      return await s.run(this.nextSeq++, job, timeoutMs);
    } finally {
      this.jobDone(s);
      this.onJobDone?.(Number(process.hrtime.bigint() - started) / 1e9);
    }
  }

  /** Idle spares and jobs running now (berth_shim_spares, berth_shim_jobs_in_flight). */
  stats(): { spares: number; jobsInFlight: number } {
    return { spares: this.shims.filter((s) => s.usable && s.pending.size === 0).length, jobsInFlight: this.shims.reduce((n, s) => n + s.pending.size, 0) };
  }

  /** berthd shutting down: idle shims (ours) are killed by their pids; busy ones finish their jobs and exit. */
  stop(): void {
    this.sparesWanted = 0;
    for (const s of [...this.shims]) {
      clearTimeout(s.lingerTimer);
      if (s.pending.size === 0 && s.alive) s.child.kill('SIGKILL');
      else s.close();
    }
  }

  /** Pids of the shims alive now (for logs and tests). */
  pids(): number[] {
    return this.shims.filter((s) => s.alive && s.child.pid !== undefined).map((s) => s.child.pid!);
  }

  private spawnShim(): Shim {
    const s = new Shim(this.command, (gone) => this.shimGone(gone), this.mark);
    this.shims.push(s);
    return s;
  }

  private shimGone(s: Shim): void {
    const i = this.shims.indexOf(s);
    if (i >= 0) this.shims.splice(i, 1);
    // A spare that died (not one we closed) is replaced, unless shims die right at start.
    if (!s.closing && Date.now() - s.startedAt > this.respawnAfterMs) setImmediate(() => this.refillSpares());
  }

  private refillSpares(): void {
    while (this.shims.filter((s) => s.usable).length < this.sparesWanted) this.spawnShim();
  }

  private pick(): Shim {
    return this.shims.find((x) => x.usable && x.pending.size < this.maxJobs) ?? this.spawnShim();
  }

  /** After a job: an idle shim beyond the wanted spares lingers briefly (the burst may go on), then exits. */
  private jobDone(s: Shim): void {
    if (s.pending.size > 0 || !s.usable) return;
    clearTimeout(s.lingerTimer);
    s.lingerTimer = setTimeout(() => {
      const idle = this.shims.filter((x) => x.usable && x.pending.size === 0);
      if (s.pending.size === 0 && s.usable && idle.length > this.sparesWanted) s.close();
    }, this.lingerMs);
    s.lingerTimer.unref();
  }
}
