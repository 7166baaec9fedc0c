#!/usr/bin/env node
// berth-shim: short-lived, started by berthd; jobs (shim/job.ts) arrive on stdin as JSON
// lines `{"seq":N,"protocol":P,"job":{...}}` (a job of another protocol is refused). Per job it mounts the overlay rootfs, writes the OCI
// bundle, starts conmon (which runs `runtime create` and stays with the container, detached
// from us), waits for the container pid and answers `{"seq":N,"result":{...}}`. A failed
// job is rolled back by berthd (see runJob). Jobs that arrive while a shim is alive run in it, side
// by side: a burst of CreateContainers pays for Node's start-up once, not once per
// container. The shim exits when berthd closes its stdin and its jobs are done; nothing of
// a container depends on it afterwards. Imports stay minimal: start-up is on the
// pod-to-running path.
import { access, mkdir, readFile, writeFile } from 'node:fs/promises';
import { SHIM_PROTOCOL, shimProtocolMismatch, type ShimErrorKind, type ShimJob, type ShimKillPoint, type ShimReply, type ShimResult } from './job.js';
import { mountOverlay } from './rootfs.js';
import { ConmonReportedError, startConmon } from './conmon.js';

/** A fault-injection kill point (server/kill-points.ts): inert unless berthd armed it in the job. */
function killPoint(job: ShimJob, point: ShimKillPoint): void {
  if (job.killPoint?.point !== point) return;
  process.kill(job.killPoint.victim === 'shim' ? process.pid : process.ppid, 'SIGKILL');
}

class ShimError extends Error {
  constructor(
    readonly kind: ShimErrorKind,
    message: string,
    readonly runtimeError?: string,
  ) {
    super(message);
  }
}

/**
 * One job: bundle dir, overlay mount, config.json, conmon (→ `runtime create`). A failure
 * is reported, not undone here: berthd rolls back every failed create itself (runtime
 * delete, conmon, unmount, dirs), the same path that serves a shim that died and a create
 * interrupted by a berthd restart, so the shim needs no runtime command line of its own.
 */
async function runJob(job: ShimJob): Promise<ShimResult> {
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
    await Promise.all([mkdir(job.bundle, { recursive: true, mode: 0o700 }), ...job.dirs.map((d) => mkdir(d, { recursive: true, mode: 0o700 }))]);
    killPoint(job, 'shim.bundle.made');
    try {
      await mountOverlay(job.rootfs);
    } catch (e) {
      throw new ShimError('Internal', (e as Error).message);
    }
    killPoint(job, 'shim.rootfs.mounted');
    step('mount');
    await writeFile(`${job.bundle}/config.json`, JSON.stringify(job.spec));
    killPoint(job, 'shim.config.written');
    let pid: number;
    try {
      pid = (await startConmon(job)).pid;
    } catch (e) {
      if (e instanceof ConmonReportedError) throw new ShimError('Internal', `runtime create failed: ${e.runtimeError}`, e.runtimeError);
      throw new ShimError('Internal', (e as Error).message);
    }
    killPoint(job, 'shim.conmon.started');
    step('conmon_runtime_create');
    const conmonPid = Number((await readFile(job.conmon.pidFile, 'utf8')).trim());
    try {
      await access(`/proc/${pid}`);
    } catch {
      throw new ShimError('Internal', `container process ${pid} is gone right after create`);
    }
    return { ok: true, pid, conmonPid, timings };
  } catch (e) {
    if (e instanceof ShimError) return { ok: false, kind: e.kind, message: e.message, ...(e.runtimeError !== undefined ? { runtimeError: e.runtimeError } : {}) };
    return { ok: false, kind: 'Internal', message: (e as Error).message };
  }
}

let inFlight = 0;
let inputEnded = false;

function exitWhenIdle(): void {
  if (inputEnded && inFlight === 0) process.stdout.write('', () => process.exit(0));
}

function reply(seq: number | null, result: ShimResult): void {
  const r: ShimReply = { seq, protocol: SHIM_PROTOCOL, result };
  process.stdout.write(JSON.stringify(r) + '\n');
}

function onLine(line: string): void {
  if (!line.trim()) return;
  let msg: { seq: number; protocol?: unknown; job: ShimJob };
  try {
    const m = JSON.parse(line) as { seq?: unknown; protocol?: unknown; job?: unknown };
    if (typeof m.seq !== 'number' || typeof m.job !== 'object' || m.job === null) throw new Error('expected {"seq":N,"protocol":P,"job":{...}}');
    msg = m as typeof msg;
  } catch (e) {
    reply(null, { ok: false, kind: 'InvalidArgument', message: `bad job: ${(e as Error).message}` });
    return;
  }
  if (msg.protocol !== SHIM_PROTOCOL) {
    reply(msg.seq, { ok: false, kind: 'FailedPrecondition', message: shimProtocolMismatch(msg.protocol) });
    return;
  }
  inFlight++;
  void runJob(msg.job).then((result) => {
    reply(msg.seq, result);
    if (result.ok) killPoint(msg.job, 'shim.result.sent');
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
