// Boots the test guest under qemu (software emulation: our machines' KVM cannot run a Debian
// kernel) and runs one command in it, from the built checkout.
//
// - The built tree (package.json, dist/, proto/, the production node_modules with their native
//   addons) goes onto a per-run ext4 disk made with `mke2fs -d`, mounted at /berth in the
//   guest: Node reads it from a local disk, not over 9p (module loading over 9p under
//   emulation is very slow).
// - The root disk is the cached image with snapshot=on: the guest's writes go to a throwaway
//   overlay, the image stays clean and runs can share it.
// - The command's output (stdout and stderr) comes back on a virtio-serial port written to a
//   file here and streamed as it grows; its exit status on a second port ("exit N"). Serial
//   ports need nothing mounted in the guest and are written before power-off, so the status
//   arrives even if the guest's disks or 9p misbehave; the kernel and systemd console
//   (ttyS0) goes to console.log, shown when the guest fails.
// - Result files (reports) come back through a 9p share mounted at /results: small files only.
// - qemu runs under `setpriv --pdeathsig KILL`, so it dies with the harness even if the harness
//   is SIGKILLed; on every other exit path (end, timeout, SIGINT/SIGTERM, error) the harness
//   kills it by PID and removes its temp dir (disks, logs).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, readSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { checkHostTools, CHECKOUT, type GuestImage } from './image.js';

export interface RunOptions {
  /** argv run in the guest, in /berth (the built checkout). */
  command: string[];
  /** Hard limit for the whole run (boot, command, power-off), in seconds. */
  timeoutSec: number;
  memoryMiB?: number;
  cpus?: number;
  /** A host directory the guest sees as /results (read-write); default: a temp dir, removed. */
  resultsDir?: string;
  /** Extra environment for the command. */
  env?: Record<string, string>;
  /** Host files copied onto the work disk: `to` is relative to /berth in the guest (e.g. a release tarball). */
  files?: Array<{ from: string; to: string }>;
  /** Where the command's output goes as it arrives (default: process.stdout). */
  output?: (chunk: Buffer) => void;
  /** Keep the run's temp dir (disks, console log) for inspection. */
  keep?: boolean;
  /** Print boot progress (the guest's console) to stderr. */
  verbose?: boolean;
}

export interface RunResult {
  /** The command's exit status; 124 on timeout; 125 when the guest never reported one. */
  status: number;
  timedOut: boolean;
  /** Seconds from qemu's start to the first output byte / to qemu's exit. */
  firstOutputSec?: number;
  totalSec: number;
  /** The tail of the guest console when the run failed without a status. */
  consoleTail?: string;
  /** The guest never got to run the command (its work disk did not show up in time, as
   *  happens under emulation on a badly overloaded host): worth one more boot. */
  bootFailed?: string;
}

const QEMU = 'qemu-system-x86_64';

/** Shell-quotes one word for the guest's bash. */
export function shq(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

interface LockPackage {
  dev?: boolean;
  link?: boolean;
}

/** The top-level directories of node_modules that production needs (package-lock's non-dev entries). */
export function productionModules(): string[] {
  const lock = JSON.parse(readFileSync(join(CHECKOUT, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockPackage> };
  const tops = new Set<string>();
  for (const [path, p] of Object.entries(lock.packages)) {
    if (!path.startsWith('node_modules/') || p.dev) continue;
    // "node_modules/@scope/name/node_modules/x" → "@scope/name": nested ones come with their parent.
    const parts = path.slice('node_modules/'.length).split('/');
    tops.add(parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!);
  }
  return [...tops].sort();
}

/** Hard links where possible (same filesystem: instant), a copy otherwise. */
function linkTree(from: string, to: string): void {
  let r = spawnSync('cp', ['-al', from, to]);
  if (r.status !== 0) r = spawnSync('cp', ['-a', from, to]);
  if (r.status !== 0) throw new Error(`guest: copying ${from} failed: ${r.stderr.toString().trim()}`);
}

/** Stages the built checkout and the command under `stage`, and makes the work disk from it. */
async function makeWorkDisk(stage: string, disk: string, opts: RunOptions): Promise<void> {
  if (!existsSync(join(CHECKOUT, 'dist/server/main.js'))) throw new Error('guest: the checkout is not built (run `npm run build` first)');
  await mkdir(join(stage, 'node_modules'), { recursive: true });
  for (const f of ['package.json', 'package-lock.json']) linkTree(join(CHECKOUT, f), join(stage, f));
  for (const d of ['dist', 'proto']) linkTree(join(CHECKOUT, d), join(stage, d));
  const modules = join(CHECKOUT, 'node_modules');
  for (const m of productionModules()) {
    const src = join(modules, m);
    if (!existsSync(src)) continue; // an optional dependency not installed on this platform
    await mkdir(dirname(join(stage, 'node_modules', m)), { recursive: true });
    linkTree(src, join(stage, 'node_modules', m));
  }
  await mkdir(join(stage, '.guest'));
  for (const f of opts.files ?? []) {
    if (f.to.split('/').includes('..') || f.to.startsWith('/')) throw new Error(`guest: ${f.to} must be a path inside /berth`);
    await mkdir(dirname(join(stage, f.to)), { recursive: true });
    linkTree(f.from, join(stage, f.to));
  }
  const env = Object.entries(opts.env ?? {}).map(([k, v]) => `export ${k}=${shq(v)}\n`).join('');
  await writeFile(join(stage, '.guest/run.sh'), `# written by test/guest/vm.ts\ncd /berth\n${env}exec ${opts.command.map(shq).join(' ')}\n`);
  const du = spawnSync('du', ['-sm', '--apparent-size', stage], { encoding: 'utf8' });
  const usedMiB = Number(du.stdout.split('\t')[0]) || 512;
  // Room for what the command writes there (the disk is sparse: only used blocks cost).
  const sizeMiB = Math.ceil(usedMiB * 1.3) + 1024;
  const r = spawnSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-L', 'berth-work', '-d', stage, disk, `${sizeMiB}M`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`guest: mke2fs of the work disk failed: ${r.stderr.trim()}`);
}

function qemuArgs(img: GuestImage, dir: string, workDisk: string, results: string, opts: RunOptions): string[] {
  const append = [
    'root=/dev/vda',
    'rw',
    'console=ttyS0',
    'systemd.unified_cgroup_hierarchy=1',
    'panic=-1',
    'quiet',
    // A throwaway test VM under emulation: CPU vulnerability mitigations only cost time.
    'mitigations=off',
  ].join(' ');
  return [
    '-nodefaults',
    '-no-user-config',
    '-accel', 'tcg,thread=multi',
    '-cpu', 'max',
    '-smp', String(opts.cpus ?? 2),
    '-m', String(opts.memoryMiB ?? 3072),
    '-display', 'none',
    '-no-reboot',
    '-nic', 'none',
    '-kernel', img.kernel,
    '-initrd', img.initrd,
    '-append', append,
    '-drive', `file=${img.rootfs},if=virtio,format=raw,snapshot=on`,
    '-drive', `file=${workDisk},if=virtio,format=raw`,
    '-virtfs', `local,path=${results},mount_tag=results,security_model=none,id=results`,
    '-serial', `file:${join(dir, 'console.log')}`,
    '-device', 'virtio-serial-pci',
    '-chardev', `file,id=out,path=${join(dir, 'out.log')}`,
    '-device', 'virtserialport,chardev=out,name=berth.out',
    '-chardev', `file,id=status,path=${join(dir, 'status')}`,
    '-device', 'virtserialport,chardev=status,name=berth.status',
  ];
}

/** Follows a file as it grows, handing new bytes to `sink`. */
class FileFollower {
  private fd: number | undefined;
  private pos = 0;
  constructor(
    private readonly path: string,
    private readonly sink: (b: Buffer) => void,
  ) {}
  poll(): number {
    if (this.fd === undefined) {
      if (!existsSync(this.path)) return 0;
      this.fd = openSync(this.path, 'r');
    }
    let total = 0;
    const buf = Buffer.alloc(64 * 1024);
    for (;;) {
      const n = readSync(this.fd, buf, 0, buf.length, this.pos);
      if (n <= 0) break;
      this.pos += n;
      total += n;
      this.sink(Buffer.from(buf.subarray(0, n)));
    }
    return total;
  }
  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

function tail(path: string, lines: number): string {
  try {
    const text = readFileSync(path, 'utf8').trimEnd();
    return text === '' ? '(the guest console is empty)' : text.split('\n').slice(-lines).join('\n');
  } catch {
    return '(no console output)';
  }
}

const RUN_DIR_PREFIX = 'berth-guest-';

/**
 * A harness killed with SIGKILL takes qemu with it (pdeathsig) but cannot remove its temp
 * dir: the next run removes the dirs whose harness.pid names a process that is gone.
 */
async function removeStaleRunDirs(): Promise<void> {
  for (const name of await readdir(tmpdir())) {
    if (!name.startsWith(RUN_DIR_PREFIX)) continue;
    const dir = join(tmpdir(), name);
    let pid: number;
    try {
      pid = Number((await readFile(join(dir, 'harness.pid'), 'utf8')).trim());
    } catch {
      continue; // not ours, or just being created
    }
    if (!Number.isInteger(pid) || pid <= 0 || existsSync(`/proc/${pid}`)) continue;
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Boots the guest, runs `opts.command` in /berth, streams its output, powers off. Never
 * leaves qemu running or its temp dir behind (unless `keep`).
 */
export async function runInGuest(img: GuestImage, opts: RunOptions): Promise<RunResult> {
  checkHostTools([QEMU, 'mke2fs', 'setpriv']);
  await removeStaleRunDirs();
  const dir = await mkdtemp(join(tmpdir(), RUN_DIR_PREFIX));
  await writeFile(join(dir, 'harness.pid'), `${process.pid}\n`);
  let qemu: ChildProcess | undefined;
  const killQemu = () => {
    if (qemu?.pid !== undefined && qemu.exitCode === null && qemu.signalCode === null) {
      try {
        process.kill(qemu.pid, 'SIGKILL');
      } catch {
        /* gone already */
      }
    }
  };
  // Last resort on any exit of the harness (process.exit from a signal handler included).
  process.on('exit', killQemu);
  const onSignal = (sig: NodeJS.Signals) => {
    killQemu();
    if (!opts.keep) spawnSync('rm', ['-rf', dir]);
    process.stderr.write(`\nguest: ${sig}: qemu killed, temp files removed\n`);
    process.exit(sig === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const started = Date.now();
  let firstOutput: number | undefined;
  const sink = opts.output ?? ((b: Buffer) => void process.stdout.write(b));
  const out = new FileFollower(join(dir, 'out.log'), (b) => {
    firstOutput ??= Date.now();
    sink(b);
  });
  // systemd gives up on the work disk after its device timeout and then never starts the
  // command's unit: seen on the console, the boot is over, no need to wait for the timeout.
  let consoleText = '';
  let bootFailed: string | undefined;
  const cons = new FileFollower(join(dir, 'console.log'), (b) => {
    if (opts.verbose) process.stderr.write(b);
    if (bootFailed !== undefined || firstOutput !== undefined) return;
    consoleText = (consoleText + b.toString('latin1')).slice(-8192);
    const plain = consoleText.replace(/\x1b\[[0-9;]*m/g, '');
    const m = /Timed out waiting for device[^\n]*berth-work|Dependency failed for[^\n]*(?:berth\.mount|harness)/.exec(plain);
    if (m) {
      bootFailed = m[0].replace(/\s+/g, ' ').trim();
      killQemu();
    }
  });
  let timer: NodeJS.Timeout | undefined;
  let poller: NodeJS.Timeout | undefined;
  try {
    const stage = join(dir, 'stage');
    const workDisk = join(dir, 'work.img');
    await makeWorkDisk(stage, workDisk, opts);
    await rm(stage, { recursive: true, force: true });
    const results = opts.resultsDir ?? join(dir, 'results');
    await mkdir(results, { recursive: true });
    const args = qemuArgs(img, dir, workDisk, results, opts);
    // TMPDIR: where snapshot=on puts its overlay (deleted by qemu right after it opens it).
    qemu = spawn('setpriv', ['--pdeathsig', 'KILL', '--', QEMU, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, TMPDIR: dir },
    });
    let qemuOut = '';
    qemu.stdout!.on('data', (b: Buffer) => (qemuOut += b.toString()));
    qemu.stderr!.on('data', (b: Buffer) => (qemuOut += b.toString()));
    let timedOut = false;
    const exited = new Promise<void>((resolve, reject) => {
      qemu!.once('error', reject);
      qemu!.once('exit', () => resolve());
    });
    timer = setTimeout(() => {
      timedOut = true;
      killQemu();
    }, opts.timeoutSec * 1000);
    poller = setInterval(() => {
      out.poll();
      cons.poll();
    }, 200);
    await exited;
    clearInterval(poller);
    clearTimeout(timer);
    out.poll();
    cons.poll();
    const totalSec = (Date.now() - started) / 1000;
    const firstOutputSec = firstOutput === undefined ? undefined : (firstOutput - started) / 1000;
    if (bootFailed !== undefined) {
      return { status: 125, timedOut: false, totalSec, bootFailed, consoleTail: `the guest did not start the command: ${bootFailed}\n${tail(join(dir, 'console.log'), 20)}` };
    }
    const statusText = existsSync(join(dir, 'status')) ? readFileSync(join(dir, 'status'), 'utf8') : '';
    const m = /exit (\d+)/.exec(statusText);
    if (timedOut) {
      return { status: 124, timedOut, totalSec, ...(firstOutputSec !== undefined ? { firstOutputSec } : {}), consoleTail: tail(join(dir, 'console.log'), 40) };
    }
    if (!m) {
      const why = qemu.exitCode !== 0 ? `qemu exited ${qemu.exitCode ?? qemu.signalCode}: ${qemuOut.trim()}` : 'the guest powered off without reporting a status';
      return { status: 125, timedOut, totalSec, ...(firstOutputSec !== undefined ? { firstOutputSec } : {}), consoleTail: `${why}\n${tail(join(dir, 'console.log'), 60)}` };
    }
    return { status: Number(m[1]), timedOut, totalSec, ...(firstOutputSec !== undefined ? { firstOutputSec } : {}) };
  } finally {
    clearInterval(poller);
    clearTimeout(timer);
    killQemu();
    if (qemu && qemu.exitCode === null && qemu.signalCode === null) await new Promise((r) => qemu!.once('exit', r));
    out.close();
    cons.close();
    process.removeListener('exit', killQemu);
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    if (opts.keep) process.stderr.write(`guest: kept ${dir}\n`);
    else await rm(dir, { recursive: true, force: true });
  }
}
