// Streaming exec (the Exec RPC's session, once the client connected): `runtime exec` of a
// command in a running container with the container's own process settings.
// - Without a tty the runtime hands its stdio straight to the process: berthd's pipes
//   carry stdin/stdout/stderr.
// - With a tty the runtime must find a terminal on its own stdio to relay the container's
//   console (runc/crun in the foreground do that, and follow its size on SIGWINCH), so
//   berthd runs it on a pseudo-terminal (node-pty; Node has no pty of its own) and
//   resizes that terminal when the client's changes. CRI-O does the same.
// The exec'd process is killed when the client goes away. The command line, process file,
// pid file and kill-by-pid-file are the runtime client's (server/runtime/oci-runtime.ts),
// the same machinery ExecSync runs.
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { constants } from 'node:os';
import { failedPrecondition, internal } from '../errors.js';
import { containerFiles } from '../runtime/files.js';
import type { RuntimeExec } from '../runtime/oci-runtime.js';
import type { ContainerDeps } from './deps.js';
import type { ContainerRecord } from './types.js';
import type { OciProcess, OciSpec } from '../oci/types.js';
import type { CommandResult, CommandStreams, StreamOptions } from '../streaming/remotecommand.js';

/** How long output may still arrive after the exec'd process ended (grandchildren holding the pipe). */
const DRAIN_MS = 2000;
/** With a tty: output still arriving after the exit is awaited until quiet this long… */
const TTY_QUIET_MS = 100;
/** …but no longer than this. */
const TTY_DRAIN_MAX_MS = 1000;

export function runningContainer(deps: ContainerDeps, containerId: string): ContainerRecord {
  const id = deps.store.resolve(containerId);
  const rec = deps.store.peek(id)!;
  if (rec.creating || rec.state !== 'CONTAINER_RUNNING') throw failedPrecondition(`container ${id} is not running`);
  return rec;
}

export async function execStream(deps: ContainerDeps, containerId: string, cmd: string[], opts: StreamOptions, streams: CommandStreams): Promise<CommandResult> {
  const rec = runningContainer(deps, containerId);
  const spec = JSON.parse(await readFile(containerFiles(rec).config, 'utf8')) as OciSpec;
  const proc: OciProcess = { ...spec.process, args: [...cmd], terminal: opts.tty };
  delete proc.oomScoreAdj;
  if (opts.tty) proc.env = [...(proc.env ?? []).filter((e) => !e.startsWith('TERM=')), 'TERM=xterm'];
  const ex = await deps.runtime.forContainer(rec).prepareExec(rec.id, rec.paths.bundle, proc);
  const killExec = () => void ex.kill();
  streams.signal.addEventListener('abort', killExec, { once: true });
  try {
    const code = opts.tty ? await execTty(ex, streams) : await execPipes(ex, opts, streams);
    return { exitCode: code, cmd };
  } finally {
    streams.signal.removeEventListener('abort', killExec);
    await ex.dispose();
  }
}

function execPipes(ex: RuntimeExec, opts: StreamOptions, streams: CommandStreams): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(ex.file, ex.args, {
      stdio: [opts.stdin ? 'pipe' : 'ignore', opts.stdout ? 'pipe' : 'ignore', opts.stderr ? 'pipe' : 'ignore'],
    });
    if (streams.stdin && child.stdin) {
      streams.stdin.pipe(child.stdin);
      child.stdin.on('error', () => undefined); // the process may exit without reading
    }
    if (child.stdout && streams.stdout) child.stdout.pipe(streams.stdout, { end: false });
    if (child.stderr && streams.stderr) child.stderr.pipe(streams.stderr, { end: false });
    child.on('error', (e) => reject(internal(`cannot run ${ex.file}: ${e.message}`, e)));
    let code: number | undefined;
    const outputs = [child.stdout, child.stderr].filter((s) => s !== null);
    let open = outputs.length;
    const settle = () => {
      if (code === undefined || open > 0) return;
      streams.stdin?.unpipe();
      resolve(code);
    };
    for (const s of outputs) s!.once('close', () => (open--, settle()));
    child.on('exit', (c, signal) => {
      code = c ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0);
      // Output still in the pipes comes first; a background child holding them is not waited for long.
      setTimeout(() => {
        open = 0;
        for (const s of outputs) s!.destroy();
        settle();
      }, DRAIN_MS).unref();
      settle();
    });
  });
}

async function execTty(ex: RuntimeExec, streams: CommandStreams): Promise<number> {
  const pty = (await import('node-pty')).default;
  const size = streams.resize.last;
  const term = pty.spawn(ex.file, [...ex.args], { cols: size?.width || 80, rows: size?.height || 24, cwd: '/', env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' }, encoding: null });
  const onResize = ({ width, height }: { width: number; height: number }) => {
    if (width > 0 && height > 0) term.resize(width, height);
  };
  streams.resize.on('resize', onResize);
  const out = streams.stdout;
  let lastData = Date.now();
  term.onData((d: string | Buffer) => {
    lastData = Date.now();
    if (!out || out.destroyed) return;
    if (!out.write(typeof d === 'string' ? Buffer.from(d) : d)) {
      term.pause();
      out.once('drain', () => term.resume());
    }
  });
  const onInput = (b: Buffer) => term.write(b as unknown as string);
  streams.stdin?.on('data', onInput);
  try {
    const code = await new Promise<number>((resolve) => term.onExit(({ exitCode, signal }) => resolve(signal ? 128 + signal : exitCode)));
    // The exit can be reported before the last output was read off the terminal: wait
    // until it has been quiet for a moment (bounded), so the tail of the output is kept.
    const exitedAt = Date.now();
    while (Date.now() - Math.max(lastData, exitedAt) < TTY_QUIET_MS && Date.now() - exitedAt < TTY_DRAIN_MAX_MS) await new Promise((r) => setTimeout(r, 20));
    return code;
  } finally {
    streams.resize.off('resize', onResize);
    streams.stdin?.off('data', onInput);
  }
}
