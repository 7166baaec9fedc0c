// conmon, the resident per-container monitor (CRI-O's protocol): its command line (the
// shim runs it), and what it leaves for berthd to read: its pid file, the runtime's pid
// file, the exit file when the container's process ends, the OOM marker. Its control fifo
// is ctl.ts; its file names are files.ts.
import { readFile, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import type { ConmonFiles } from './files.js';
import type { RuntimeHandle } from './handlers.js';

/** Debian's conmon. */
export const CONMON = '/usr/bin/conmon';

export interface ConmonCommand {
  id: string;
  /** Name conmon shows (-n): <pod>_<namespace>_<container>_<attempt>. */
  name: string;
  runtime: RuntimeHandle;
  files: ConmonFiles;
  /** Where conmon writes the CRI log. */
  logPath: string;
  stdin: boolean;
  stdinOnce: boolean;
  tty: boolean;
  logLevel?: string;
  /** The OCI runtime drives cgroups through systemd (berthd's systemd cgroup driver). */
  systemdCgroup?: boolean;
}

/** conmon's argument vector (pure). */
export function conmonArgs(c: ConmonCommand): string[] {
  const args = [
    '--api-version', '1',
    '-c', c.id,
    '-u', c.id,
    '-n', c.name,
    '-r', c.runtime.path,
    '-b', c.files.bundle,
    '-p', c.files.pidFile,
    '-P', c.files.conmonPidFile,
    '-l', `k8s-file:${c.logPath}`,
    '--exit-dir', c.files.exitDir,
    '--persist-dir', c.files.bundle,
    '--socket-dir-path', c.files.socketDir,
    '--syslog=false',
    '--runtime-arg', `--root=${c.runtime.root}`,
  ];
  // runc writes warnings (e.g. "skipping device /dev/char/10:200 for systemd" where a device
  // node of its default allow-list is missing) to its stderr unless given a log: under conmon
  // that stderr is the container's, so they would land in the CRI log as the container's own
  // output. As containerd's shim does, runc logs to a file in the bundle; its fatal error still
  // goes to stderr as well, which is what conmon reports. Not crun: its --log takes the error
  // with it, and crun prints no warnings there.
  if (!basename(c.runtime.path).includes('crun')) args.push('--runtime-arg', `--log=${c.files.runtimeLog}`, '--runtime-arg', '--log-format=json');
  if (c.stdin) args.push('-i');
  if (c.stdin && !c.stdinOnce) args.push('--leave-stdin-open');
  if (c.tty) args.push('-t');
  if (c.logLevel) args.push('--log-level', c.logLevel);
  // -s: conmon passes --systemd-cgroup to `runtime create` (cgroupsPath slice:prefix:name).
  if (c.systemdCgroup) args.push('--systemd-cgroup');
  return args;
}

/** conmon's pid from its pid file, 0 when there is none (yet). */
export async function readConmonPid(files: Pick<ConmonFiles, 'conmonPidFile'>): Promise<number> {
  const text = await readFile(files.conmonPidFile, 'utf8').catch(() => '');
  return Number(text.trim()) || 0;
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

/** Whether conmon marked an OOM kill. */
export async function oomKilled(files: Pick<ConmonFiles, 'oom'>): Promise<boolean> {
  try {
    await stat(files.oom);
    return true;
  } catch {
    return false;
  }
}

/** True while `pid` is a conmon for container `id` (guards against PID reuse). */
export async function conmonAlive(pid: number, id: string): Promise<boolean> {
  if (!pid) return false;
  try {
    const cmd = await readFile(`/proc/${pid}/cmdline`, 'latin1');
    const st = await readFile(`/proc/${pid}/stat`, 'utf8');
    if (/\) Z /.test(st)) return false;
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

/**
 * After a shim died in the middle of a job, conmon (already detached from it) may still be
 * running `runtime create`. Waits, at most `ms`, until that create is over (the container's
 * pid file is written, or conmon is gone) and returns conmon's pid (0 when it never
 * started), so the rollback deletes a container that exists instead of racing its creation.
 */
export async function settleOrphanedCreate(files: Pick<ConmonFiles, 'conmonPidFile' | 'pidFile'>, id: string, ms = 10_000): Promise<number> {
  const start = Date.now();
  let conmon = 0;
  while (Date.now() - start < ms) {
    if (!conmon) conmon = await readConmonPid(files);
    if (conmon && !(await conmonAlive(conmon, id))) break;
    if (conmon && (await stat(files.pidFile).then(() => true, () => false))) break;
    if (!conmon && Date.now() - start > 1000) break; // conmon was never started
    await sleep(25);
  }
  return conmon;
}
