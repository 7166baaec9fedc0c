// Starting conmon (the resident per-container monitor) for one job. conmon forks itself
// away, runs `runtime create`, and reports the container pid (or the runtime's error) on
// the sync pipe (fd 3, _OCI_SYNCPIPE): the protocol CRI-O uses. The command line is
// berthd's (server/runtime/conmon.ts); the shim only runs it and reads the report.
import { spawn } from 'node:child_process';
import type { ShimJob } from './job.js';

export interface ConmonStarted {
  pid: number;
}

/** conmon ran `runtime create` and reported its failure: `runtimeError` holds the runtime's words. */
export class ConmonReportedError extends Error {
  constructor(readonly runtimeError: string) {
    super(runtimeError);
  }
}

/** Runs conmon and resolves with the container pid; rejects with the runtime's words or why conmon failed. */
export function startConmon(job: ShimJob, timeoutMs = 60_000): Promise<ConmonStarted> {
  return new Promise((resolve, reject) => {
    const child = spawn(job.conmon.path, job.conmon.args, {
      cwd: job.bundle,
      stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
      // Without the shim's own mark (BERTH_SHIM_OF): conmon is not a shim, and outlives it.
      env: { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'BERTH_SHIM_OF')), _OCI_SYNCPIPE: '3' },
    });
    let out = '';
    let sync = '';
    let done = false;
    const finish = (err: Error | undefined, pid?: number) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      // conmon keeps the far end of these pipes; do not wait for it.
      for (const s of child.stdio) (s as { destroy?: () => void } | null)?.destroy?.();
      if (err) reject(err);
      else resolve({ pid: pid! });
    };
    const timer = setTimeout(() => finish(new Error(`conmon did not report the container within ${timeoutMs} ms`)), timeoutMs);
    child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
    child.on('error', (e) => finish(new Error(`cannot run ${job.conmon.path}: ${e.message}`)));
    child.on('exit', (code) => {
      // The first conmon process exits once it has forked; a failure before that is an error.
      if (code !== 0) setTimeout(() => finish(new Error(`conmon exited with ${code}: ${out.trim()}`)), 50);
    });
    const syncPipe = child.stdio[3] as NodeJS.ReadableStream;
    syncPipe.on('data', (b: Buffer) => {
      sync += b.toString();
      const nl = sync.indexOf('}');
      if (nl < 0) return;
      let msg: { data?: number; message?: string };
      try {
        msg = JSON.parse(sync.slice(0, nl + 1)) as typeof msg;
      } catch {
        finish(new Error(`conmon sent an unreadable sync message: ${sync}`));
        return;
      }
      if (typeof msg.data === 'number' && msg.data > 0) finish(undefined, msg.data);
      else finish(new ConmonReportedError((msg.message ?? `conmon reported ${sync}`).trim()));
    });
    syncPipe.on('end', () =>
      finish(new Error(`the runtime's create ended without a result: conmon or the OCI runtime it ran was killed or crashed before reporting the container${out.trim() ? ` (conmon said: ${out.trim()})` : ''}`)),
    );
  });
}
