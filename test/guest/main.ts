// The test guest's command line (npm scripts `guest`, `guest:image`, `test:guest`):
//   main.js image [--print]                         build the cached image if needed; --print its dir
//   main.js run [OPTIONS] [--] COMMAND...           run COMMAND in /berth inside the guest
//   main.js tier [--full] [--release FILE|DIR] [OPTIONS]   the targeted guest tier (dist/test/guest/tier.js);
//                                                   --release: a release tarball (or the newest berth-*.tar.gz
//                                                   in DIR, e.g. out/ after `npm run release`) copied onto the
//                                                   work disk, and the tier then runs test/system/node-install.js
//                                                   on it in the same boot (berth installed under systemd);
//                                                   --full: the long tier (dist/test/guest/long.js, hours)
//   main.js tier --bench [OPTIONS]                  the guest bench: berth+runc, berth+crun, containerd+runc
// Long-tier options, passed on to long.js: --time-scale N, --area A[,A…], --config NAME[,NAME…], --concurrency N.
// OPTIONS: --timeout SEC (hard limit for the guest run: boot, command, power-off), --image-timeout SEC
//          (limit for building the image when it is not cached), --results DIR (the guest's /results),
//          --memory MIB, --cpus N, --keep (keep the run's temp dir), --verbose (guest console on stderr).
// Exit status: the command's; 124 when the run timed out; 125 when the guest reported none.
import { readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { cachedImage, ensureImage, imageKey } from './image.js';
import { runInGuest, type RunOptions } from './vm.js';

/** The guest bench (--quick: small pull images, which these scenarios do not use, and a shorter lifecycle warm-up): pod-to-running and ExecSync, berth+runc and berth+crun next to containerd+runc, and crun vs runc alone. */
const GUEST_BENCH_ARGS = ['--quick', '--scenario', 'lifecycle,execsync', '--n', '10', '--berth-handlers', 'runc,crun', '--oci-reference', '--json', '/results/bench.json'];

interface Parsed {
  opts: Omit<RunOptions, 'command'>;
  rest: string[];
  full: boolean;
  bench: boolean;
  /** Options passed on to the long tier's script. */
  forward: string[];
  print: boolean;
  /** tier --release: the release tarball the tier installs with `berth node install`. */
  release?: string;
  /** Limit for building the image when it is not cached, in seconds. */
  imageTimeoutSec: number;
}

function usage(msg: string): never {
  process.stderr.write(`guest: ${msg}\nusage: main.js image [--print] [--image-timeout SEC] | run [--timeout SEC] [--image-timeout SEC] [--results DIR] [--memory MIB] [--cpus N] [--keep] [--verbose] [--] COMMAND... | tier [--release FILE|DIR] [options] | tier --full [--time-scale N] [--area A,…] [--config NAME,…] [--concurrency N] [options] | tier --bench [options]\n`);
  process.exit(2);
}

function parse(args: string[], defaultTimeout: number): Parsed {
  const p: Parsed = { opts: { timeoutSec: defaultTimeout }, rest: [], full: false, bench: false, forward: [], print: false, imageTimeoutSec: 1200 };
  let timeoutGiven = false;
  let i = 0;
  const value = (name: string): string => {
    const v = args[++i];
    if (v === undefined) usage(`${name} needs a value`);
    return v;
  };
  const positive = (name: string): number => {
    const n = Number(value(name));
    if (!Number.isInteger(n) || n <= 0) usage(`${name} must be a positive integer`);
    return n;
  };
  for (; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') {
      i++;
      break;
    }
    if (!a.startsWith('--')) break;
    if (a === '--timeout') {
      p.opts.timeoutSec = positive(a);
      timeoutGiven = true;
    } else if (['--time-scale', '--area', '--config', '--concurrency'].includes(a)) p.forward.push(a, value(a));
    else if (a === '--image-timeout') p.imageTimeoutSec = positive(a);
    else if (a === '--results') p.opts.resultsDir = value(a);
    else if (a === '--memory') p.opts.memoryMiB = positive(a);
    else if (a === '--cpus') p.opts.cpus = positive(a);
    else if (a === '--keep') p.opts.keep = true;
    else if (a === '--verbose') p.opts.verbose = true;
    else if (a === '--full') p.full = true;
    else if (a === '--bench') p.bench = true;
    else if (a === '--print') p.print = true;
    else if (a === '--release') p.release = value(a);
    else usage(`unknown option ${a}`);
  }
  p.rest = args.slice(i);
  // The long tier takes hours under emulation; the bench about one.
  if (!timeoutGiven && p.full) p.opts.timeoutSec = 12 * 3600;
  else if (!timeoutGiven && p.bench) p.opts.timeoutSec = 3 * 3600;
  return p;
}

/** FILE itself, or the newest berth-*-linux-*.tar.gz in a directory. */
function releaseTarball(path: string): string {
  if (!statSync(path).isDirectory()) return path;
  const newest = readdirSync(path)
    .filter((n) => /^berth-.*-linux-.*\.tar\.gz$/.test(n))
    .map((n) => join(path, n))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
  if (!newest) throw new Error(`guest: no berth-*-linux-*.tar.gz in ${path} (run npm run release first)`);
  return newest;
}

async function main(): Promise<number> {
  const [cmd, ...args] = process.argv.slice(2);
  if (cmd === 'image') {
    const p = parse(args, 0);
    if (p.rest.length > 0) usage('image takes no arguments');
    const before = cachedImage(imageKey());
    const img = await ensureImage({ signal: AbortSignal.timeout(p.imageTimeoutSec * 1000) });
    if (p.print) process.stdout.write(`${img.dir}\n`);
    else process.stderr.write(`guest image: ${before ? 'reused' : 'built'} ${img.dir} (kernel ${img.info.kernel}, node ${img.info.node}, built ${img.info.built} in ${img.info.seconds} s)\n`);
    return 0;
  }
  if (cmd === 'run' || cmd === 'tier') {
    const p = parse(args, cmd === 'tier' ? 1500 : 1800);
    let command: string[];
    if (cmd === 'run') {
      if (p.rest.length === 0) usage('run needs a command');
      if (p.release) usage('--release belongs to tier');
      command = p.rest;
    } else {
      if (p.rest.length > 0) usage('tier takes options only');
      if (p.full && p.bench) usage('--full and --bench are separate runs');
      if (p.release && (p.full || p.bench)) usage('--release belongs to the targeted tier');
      if (p.forward.length > 0 && !p.full) usage(`${p.forward[0]} is an option of the long tier (--full)`);
      if (p.full) command = ['node', 'dist/test/guest/long.js', ...p.forward];
      else if (p.bench) command = ['node', 'dist/bench/main.js', ...GUEST_BENCH_ARGS];
      else {
        command = ['node', 'dist/test/guest/tier.js'];
        if (p.release) {
          const tarball = releaseTarball(p.release);
          const to = `.guest/release/${basename(tarball)}`;
          p.opts.files = [{ from: tarball, to }];
          command.push('--install', to);
        }
      }
    }
    const t0 = Date.now();
    const img = await ensureImage({ signal: AbortSignal.timeout(p.imageTimeoutSec * 1000) });
    const imageSec = (Date.now() - t0) / 1000;
    let r = await runInGuest(img, { ...p.opts, command });
    if (r.bootFailed !== undefined) {
      // A boot that never reached the command (a slow device under emulation) is retried once.
      process.stderr.write(`guest: boot failed (${r.bootFailed}); booting once more\n`);
      r = await runInGuest(img, { ...p.opts, command });
    }
    const first = r.firstOutputSec === undefined ? '' : `, first output after ${r.firstOutputSec.toFixed(0)} s`;
    process.stderr.write(
      `guest: ${command.join(' ')} → ${r.timedOut ? `timed out after ${p.opts.timeoutSec} s` : `exit ${r.status}`} (image ${imageSec.toFixed(0)} s, guest run ${r.totalSec.toFixed(0)} s${first})\n`,
    );
    if (r.consoleTail) process.stderr.write(`guest: console (last lines):\n${r.consoleTail}\n`);
    return r.status;
  }
  usage(cmd === undefined ? 'no command' : `unknown command ${cmd}`);
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`guest: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
