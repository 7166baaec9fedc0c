// The OCI runtime's command line (runc, crun: the same CLI), spoken from here only, as
// CRI-O's runtime_oci.go does: start, exec, kill, delete, state, update, each with the
// handler's `--root`. `create` is conmon's (it runs the runtime itself; the shim starts
// conmon). Every failure becomes a typed error through errors.ts, keeping the runtime's
// words; commands whose target may already be gone (kill, delete, state) say so instead.
import { spawn } from 'node:child_process';
import { basename } from 'node:path';
import { randomBytes } from 'node:crypto';
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import { BerthError, deadlineExceeded, internal } from '../errors.js';
import { run } from '../exec.js';
import { OciRuntimeError, runtimeFailure, type RuntimeOp } from './errors.js';
import { execFiles, updateFile } from './files.js';
import type { RuntimeHandle } from './handlers.js';
import type { OciLinuxResources, OciProcess } from '../oci/types.js';
import type { ShimResult } from '../../shim/job.js';
import { killPoint } from '../kill-points.js';

/** How long one runtime command may take before it is killed. */
const COMMAND_TIMEOUT_MS = 30_000;
/** `start` runs the container's hooks and waits for the process: more room. */
const START_TIMEOUT_MS = 60_000;

/** A prepared `runtime exec`: its command line, and its process and pid files in the bundle. */
export interface RuntimeExec {
  /** The runtime binary and its arguments, to spawn with pipes or on a terminal. */
  readonly file: string;
  readonly args: readonly string[];
  /** SIGKILLs the exec'd process (found by its pid file); false when it has not started (or is gone). */
  kill(): Promise<boolean>;
  /**
   * After the runtime exited with a non-zero code: the runtime's own failure when the
   * process never started (the runtime writes the pid file once it has), else undefined
   * (the code is the process's). `output` is what the runtime printed on stderr.
   */
  failure(output: string, code: number): Promise<OciRuntimeError | undefined>;
  /** Removes the process and pid files. */
  dispose(): Promise<void>;
}

/** What ExecSync gets back: the process's exit code and its output, each stream capped. */
export interface ExecResult {
  exitCode: number;
  stdout: Buffer;
  stderr: Buffer;
}

/** One handler's runtime binary and state root; cheap to make (no process, no cache). */
export class OciRuntime {
  readonly name: string;

  constructor(readonly handle: RuntimeHandle) {
    this.name = basename(handle.path);
  }

  /** The runtime's global flags, then the command's arguments. */
  private argv(args: readonly string[]): string[] {
    return [`--root=${this.handle.root}`, ...args];
  }

  private async command(op: RuntimeOp, id: string, args: readonly string[], opts: { timeoutMs?: number } = {}): Promise<string> {
    const timeoutMs = opts.timeoutMs ?? COMMAND_TIMEOUT_MS;
    killPoint(`runtime.${op}.before`);
    const r = await run(this.handle.path, this.argv(args), { allowFailure: true, timeoutMs });
    killPoint(`runtime.${op}.after`);
    if (r.code === 0) return r.stdout;
    if (r.signal === 'SIGKILL') throw deadlineExceeded(`${this.name} ${op} ${id} did not finish within ${timeoutMs / 1000} s and was killed`);
    throw runtimeFailure(this.name, op, id, r.stderr || r.stdout, r.signal ?? `code ${r.code}`);
  }

  /** A failed create job (the shim's checked result) as a typed error: the runtime's words classified, else the shim's kind. */
  createFailure(id: string, r: Extract<ShimResult, { ok: false }>): BerthError {
    if (r.runtimeError !== undefined) return runtimeFailure(this.name, 'create', id, r.runtimeError);
    return new BerthError(r.kind, r.message);
  }

  /** Starts a created container's process. */
  async start(id: string): Promise<void> {
    await this.command('start', id, ['start', id], { timeoutMs: START_TIMEOUT_MS });
  }

  /** Sends a signal; a container that is gone or no longer running is not an error. */
  async kill(id: string, signal: string): Promise<void> {
    try {
      await this.command('kill', id, ['kill', id, signal]);
    } catch (e) {
      if (!gone(e)) throw e;
    }
  }

  /** Deletes the runtime's state of the container, killing what is left; idempotent. */
  async delete(id: string): Promise<void> {
    try {
      await this.command('delete', id, ['delete', '--force', id]);
    } catch (e) {
      if (!gone(e)) throw e;
    }
  }

  /** The runtime's view of the container, or undefined when it does not know it. */
  async state(id: string): Promise<{ status: string; pid: number } | undefined> {
    let out: string;
    try {
      out = await this.command('state', id, ['state', id]);
    } catch (e) {
      if (e instanceof OciRuntimeError && e.kind === 'NotFound') return undefined;
      throw e;
    }
    const s = JSON.parse(out) as { status?: unknown; pid?: unknown };
    return { status: typeof s.status === 'string' ? s.status : 'unknown', pid: typeof s.pid === 'number' ? s.pid : 0 };
  }

  /**
   * Changes a live container's limits: `update --resources FILE` with LinuxResources JSON,
   * the file in the bundle. Not `--resources -` on stdin: Node gives a child a socket for
   * stdin, and crun opens "-" as /dev/stdin, which fails on a socket (ENXIO).
   */
  async update(id: string, bundle: string, resources: Omit<OciLinuxResources, 'devices'>): Promise<void> {
    const file = updateFile(bundle, randomBytes(6).toString('hex'));
    try {
      await writeFile(file, JSON.stringify(resources));
      await this.command('update', id, ['update', '--resources', file, id]);
    } finally {
      await rm(file, { force: true });
    }
  }

  /**
   * Prepares `runtime exec` of `proc` in container `id`: writes the process file into the
   * bundle and returns the command line with the machinery around it (kill by pid file,
   * the runtime's own failure, cleanup). ExecSync and streaming exec both run it.
   */
  async prepareExec(id: string, bundle: string, proc: OciProcess): Promise<RuntimeExec> {
    const { processFile, pidFile } = execFiles(bundle, randomBytes(6).toString('hex'));
    await writeFile(processFile, JSON.stringify(proc));
    const name = this.name;
    return {
      file: this.handle.path,
      args: this.argv(['exec', '--process', processFile, '--pid-file', pidFile, id]),
      async kill() {
        try {
          const pid = Number((await readFile(pidFile, 'utf8')).trim());
          if (!(pid > 0)) return false;
          process.kill(pid, 'SIGKILL');
          return true;
        } catch {
          return false;
        }
      },
      async failure(output, code) {
        if (code === 0) return undefined;
        const started = await stat(pidFile).then(
          () => true,
          () => false,
        );
        return started ? undefined : runtimeFailure(name, 'exec', id, output, `code ${code}`);
      },
      async dispose() {
        await Promise.all([rm(processFile, { force: true }), rm(pidFile, { force: true })]);
      },
    };
  }
}

/**
 * Runs `runtime exec` with its output captured, each stream capped at `maxBytes` (ExecSync).
 * On timeout the exec'd process is killed and DEADLINE_EXCEEDED thrown; when the runtime
 * could not start the process at all, its typed failure (errors.ts) is thrown.
 */
export async function execCaptured(rt: OciRuntime, id: string, bundle: string, proc: OciProcess, timeoutMs: number, maxBytes: number): Promise<ExecResult> {
  const ex = await rt.prepareExec(id, bundle, proc);
  try {
    const { code, stdout, stderr, timedOut } = await new Promise<{ code: number | null; stdout: Buffer; stderr: Buffer; timedOut: boolean }>((resolve, reject) => {
      const child = spawn(ex.file, ex.args, { stdio: ['ignore', 'pipe', 'pipe'] });
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
              // The process dies, and the runtime (waiting for it) exits; before the pid file exists, the runtime itself.
              void ex.kill().then((killed) => killed || child.kill('SIGKILL'));
            }, timeoutMs)
          : undefined;
      child.on('error', (e) => {
        if (timer) clearTimeout(timer);
        reject(internal(`cannot run ${ex.file}: ${e.message}`, e));
      });
      child.on('close', (c, signal) => {
        if (timer) clearTimeout(timer);
        if (c === null && !timedOut) return reject(internal(`${rt.name} exec was killed by ${signal}`));
        resolve({ code: c, stdout: Buffer.concat(out), stderr: Buffer.concat(err), timedOut });
      });
    });
    if (timedOut) throw deadlineExceeded(`command ${JSON.stringify(proc.args)} timed out after ${timeoutMs / 1000} s and was killed`);
    const failed = await ex.failure(stderr.toString('utf8'), code!);
    if (failed) throw failed;
    return { exitCode: code!, stdout, stderr };
  } finally {
    // Not awaited: the reply need not wait for two unlinks (ExecSync is on kubelet's probe path).
    void ex.dispose().catch(() => undefined);
  }
}

/** The target of a kill or delete is gone already (or no longer running): nothing to do. */
function gone(e: unknown): boolean {
  return e instanceof OciRuntimeError && (e.kind === 'NotFound' || e.kind === 'FailedPrecondition');
}
