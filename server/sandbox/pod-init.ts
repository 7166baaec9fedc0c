// The init process of a pod that shares one PID namespace (PID mode POD). A PID
// namespace cannot be pinned like net/ipc/uts: it lives only while its PID 1 does. So
// such a pod gets catatonit in pause mode as PID 1 of a new PID namespace (entered into
// the pod's network/IPC/UTS namespaces), detached from berthd so it outlives a restart.
import { spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { failedPrecondition } from '../errors.js';
import type { PinnedNamespaces, PodInit } from './types.js';
import { nsenterArgs } from './namespaces.js';

export const CATATONIT = '/usr/bin/catatonit';

/** Field 22 of /proc/PID/stat (start time in clock ticks), or undefined if the process is gone or a zombie. */
export async function processStartTime(pid: number): Promise<string | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (rest[0] === 'Z' || rest[0] === 'X') return undefined; // exited, not yet reaped
    return rest[19];
  } catch {
    return undefined;
  }
}

export async function isInitAlive(init: PodInit): Promise<boolean> {
  return (await processStartTime(init.pid)) === init.startTime;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Marks a pod's init processes (environment), so one started just before a crash is found without a record. */
export const POD_INIT_MARK = 'BERTH_POD_INIT';

export async function startPodInit(pins: PinnedNamespaces, sandboxId: string, catatonit = CATATONIT): Promise<PodInit> {
  // unshare forks: its child is PID 1 in the new namespace and execs catatonit; with
  // --kill-child the child dies with unshare, so killing the recorded pid tears down both.
  const args = [...nsenterArgs(pins, ['net', 'ipc', 'uts']), '--', 'unshare', '--pid', '--fork', '--kill-child', '--', catatonit, '-P'];
  const child = spawn('nsenter', args, { detached: true, stdio: 'ignore', env: { ...process.env, [POD_INIT_MARK]: sandboxId } });
  const spawnError = new Promise<never>((_, reject) => child.once('error', (e) => reject(failedPrecondition(`cannot start the pod init: ${e.message}`, e))));
  child.unref();
  const pid = child.pid;
  if (pid === undefined) await spawnError;
  const p = pid!;
  for (let i = 0; i < 200; i++) {
    let children = '';
    try {
      children = (await readFile(`/proc/${p}/task/${p}/children`, 'utf8')).trim();
    } catch {
      break;
    }
    const initPid = Number(children.split(' ')[0]);
    if (initPid > 0) {
      const exe = await readFile(`/proc/${initPid}/cmdline`, 'utf8').catch(() => '');
      if (exe.startsWith(catatonit)) {
        const startTime = await processStartTime(p);
        if (startTime) return { pid: p, startTime, pidns: `/proc/${initPid}/ns/pid` };
      }
    }
    await sleep(5);
  }
  try {
    process.kill(p, 'SIGKILL');
  } catch {
    /* already gone */
  }
  throw failedPrecondition('the pod init process did not start (is catatonit installed?)');
}

/**
 * Kills the init processes marked for `sandboxId` that no record names: berthd started them
 * and died (or failed) before it could record their pid. Scans /proc, so only the teardown of
 * a pod whose record lacks its init calls it.
 */
export async function killUnrecordedPodInit(sandboxId: string): Promise<void> {
  const mark = `${POD_INIT_MARK}=${sandboxId}`;
  const found: number[] = [];
  for (const p of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(p)) continue;
    const env = await readFile(`/proc/${p}/environ`, 'latin1').catch(() => '');
    if (env.split('\0').includes(mark)) found.push(Number(p));
  }
  for (const pid of found) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  for (let i = 0; i < 400; i++) {
    const left = await Promise.all(found.map((pid) => processStartTime(pid)));
    if (left.every((x) => x === undefined)) break;
    await sleep(5);
  }
}

/** Stops the init (and with it every process left in the pod's PID namespace). */
export async function stopPodInit(init: PodInit): Promise<void> {
  if (!(await isInitAlive(init))) return;
  try {
    process.kill(init.pid, 'SIGKILL');
  } catch {
    return;
  }
  for (let i = 0; i < 400 && (await isInitAlive(init)); i++) await sleep(5);
}
