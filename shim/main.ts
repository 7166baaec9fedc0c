#!/usr/bin/env node
// berth-shim: spawned by berthd once per container with a JSON job (shim/job.ts) on stdin.
// Mounts the overlay rootfs, writes the OCI bundle, starts conmon (which runs `runtime
// create` and stays with the container), waits for the container pid, prints one JSON
// line and exits. Any failure undoes what the shim did. Imports stay minimal: Node's
// start-up is on the pod-to-running path.
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
  // For a spare shim this includes the wait for its job.
  timings.since_spawn = Math.round(performance.now());
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

async function main(): Promise<void> {
  const input = readFileSync(0, 'utf8');
  let job: ShimJob;
  try {
    job = JSON.parse(input) as ShimJob;
  } catch (e) {
    process.stdout.write(JSON.stringify({ ok: false, kind: 'InvalidArgument', message: `bad job: ${(e as Error).message}` }) + '\n');
    process.exit(2);
  }
  const result = await runJob(job);
  process.stdout.write(JSON.stringify(result) + '\n', () => process.exit(result.ok ? 0 : 1));
}

void main();
