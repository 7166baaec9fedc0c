#!/usr/bin/env node
// berth-shim: short-lived, started by berthd; jobs (shim/job.ts) arrive on stdin as JSON
// lines `{"seq":N,"job":{...}}`. Per job it mounts the overlay rootfs, writes the OCI
// bundle, starts conmon (which runs `runtime create` and stays with the container, detached
// from us), waits for the container pid and answers `{"seq":N,"result":{...}}`. Any
// failure undoes what that job did. Jobs that arrive while a shim is alive run in it, side
// by side: a burst of CreateContainers pays for Node's start-up once, not once per
// container. The shim exits when berthd closes its stdin and its jobs are done; nothing of
// a container depends on it afterwards. Imports stay minimal: start-up is on the
// pod-to-running path.
import { mkdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import type { ShimErrorKind, ShimJob, ShimResult } from './job.js';
import { mountOverlay, unmountOverlay } from './rootfs.js';
import { startConmon } from './conmon.js';

class ShimError extends Error {
  constructor(
    readonly kind: ShimErrorKind,
    message: string,
  ) {
    super(message);
  }
}

/** Runtime messages that are the request's fault rather than the host's. */
function classify(message: string): ShimErrorKind {
  if (/no such file or directory|not found|executable file not found|permission denied.*exec/i.test(message) && /exec/i.test(message)) return 'InvalidArgument';
  return 'Internal';
}

async function runJob(job: ShimJob): Promise<ShimResult> {
  const undo: Array<() => void> = [];
  const timings: Record<string, number> = {};
  let mark = performance.now();
  const step = (name: string) => {
    const now = performance.now();
    timings[name] = Math.round((now - mark) * 10) / 10;
    mark = now;
  };
  // How long this shim process has been up (0-ish: it was started for this job).
  timings.shim_uptime = Math.round(performance.now());
  try {
    mkdirSync(job.bundle, { recursive: true, mode: 0o700 });
    undo.push(() => rmSync(job.bundle, { recursive: true, force: true }));
    try {
      mountOverlay(job.rootfs);
    } catch (e) {
      throw new ShimError('Internal', (e as Error).message);
    }
    undo.push(() => unmountOverlay(job.rootfs.target));
    step('mount');
    writeFileSync(`${job.bundle}/config.json`, JSON.stringify(job.spec));
    mkdirSync(job.exitDir, { recursive: true, mode: 0o700 });
    mkdirSync(job.socketDir, { recursive: true, mode: 0o700 });
    undo.push(() => {
      spawnSync(job.runtime.path, [`--root=${job.runtime.root}`, 'delete', '--force', job.id]);
      rmSync(`${job.exitDir}/${job.id}`, { force: true });
      rmSync(`${job.socketDir}/${job.id}`, { force: true });
    });
    let pid: number;
    try {
      pid = (await startConmon(job)).pid;
    } catch (e) {
      const msg = (e as Error).message;
      throw new ShimError(classify(msg), `runtime create failed: ${msg}`);
    }
    step('conmon_runtime_create');
    const conmonPid = Number(readFileSync(`${job.bundle}/conmon.pid`, 'utf8').trim());
    if (!existsSync(`/proc/${pid}`)) throw new ShimError('Internal', `container process ${pid} is gone right after create`);
    return { ok: true, pid, conmonPid, timings };
  } catch (e) {
    for (const fn of undo.reverse()) {
      try {
        fn();
      } catch {
        /* best effort: berthd's remove cleans whatever is left */
      }
    }
    if (e instanceof ShimError) return { ok: false, kind: e.kind, message: e.message };
    return { ok: false, kind: 'Internal', message: (e as Error).message };
  }
}

let inFlight = 0;
let inputEnded = false;

function exitWhenIdle(): void {
  if (inputEnded && inFlight === 0) process.stdout.write('', () => process.exit(0));
}

function reply(seq: unknown, result: ShimResult): void {
  process.stdout.write(JSON.stringify({ seq, result }) + '\n');
}

function onLine(line: string): void {
  if (!line.trim()) return;
  let msg: { seq?: unknown; job?: ShimJob };
  try {
    msg = JSON.parse(line) as typeof msg;
    if (typeof msg.seq !== 'number' || typeof msg.job !== 'object' || msg.job === null) throw new Error('expected {"seq":N,"job":{...}}');
  } catch (e) {
    reply(null, { ok: false, kind: 'InvalidArgument', message: `bad job: ${(e as Error).message}` });
    return;
  }
  inFlight++;
  void runJob(msg.job).then((result) => {
    reply(msg.seq, result);
    inFlight--;
    exitWhenIdle();
  });
}

function main(): void {
  let buf = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (chunk: string) => {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      onLine(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
    }
  });
  process.stdin.on('end', () => {
    if (buf) onLine(buf);
    inputEnded = true;
    exitWhenIdle();
  });
}

main();
