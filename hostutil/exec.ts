// Running host tools (util-linux, CNI plugins, OCI runtimes, registries' helpers) with
// argument vectors, never shell strings: request data can reach these arguments. Shared by
// berthd (through server/exec.ts, which speaks berth's error vocabulary), the conformance
// suite, the bench and the tests; nothing here knows about berthd.
import { spawn } from 'node:child_process';

export interface RunOptions {
  input?: string | Buffer;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  timeoutMs?: number;
  /** Do not throw on a non-zero exit; the caller inspects `code`. */
  allowFailure?: boolean;
  maxOutputBytes?: number;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export class CommandError extends Error {
  constructor(
    readonly argv: readonly string[],
    readonly result: RunResult,
  ) {
    const why = result.stderr.trim() || result.stdout.trim() || (result.signal ? `killed by ${result.signal}` : `exit code ${result.code}`);
    super(`${argv[0]} ${argv.slice(1, 3).join(' ')}${argv.length > 3 ? ' …' : ''}: ${why}`);
    this.name = 'CommandError';
  }
}

/** The tool could not be started at all (not installed, not executable). */
export class SpawnError extends Error {
  constructor(
    readonly file: string,
    cause: Error,
  ) {
    super(`cannot run ${file}: ${cause.message}`, { cause });
    this.name = 'SpawnError';
  }
}

/**
 * Runs `file` with `args` and resolves with its exit and output; rejects with CommandError on
 * a non-zero exit (unless allowFailure), SpawnError when the tool cannot be started.
 */
export function run(file: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const max = opts.maxOutputBytes ?? 4 * 1024 * 1024;
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outLen = 0;
    let errLen = 0;
    let timer: NodeJS.Timeout | undefined;
    if (opts.timeoutMs) {
      timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    }
    child.stdout.on('data', (b: Buffer) => {
      if (outLen < max) out.push(b);
      outLen += b.length;
    });
    child.stderr.on('data', (b: Buffer) => {
      if (errLen < max) err.push(b);
      errLen += b.length;
    });
    child.on('error', (e) => {
      if (timer) clearTimeout(timer);
      reject(new SpawnError(file, e));
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      const result: RunResult = {
        code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      };
      if (code !== 0 && !opts.allowFailure) reject(new CommandError([file, ...args], result));
      else resolve(result);
    });
    child.stdin.on('error', () => {
      /* the tool may exit without reading its input */
    });
    child.stdin.end(opts.input ?? '');
  });
}
