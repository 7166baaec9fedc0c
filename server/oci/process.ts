// The container's process line: argv from the CRI command/args and the image's
// Entrypoint/Cmd, its environment and working directory, and the stop signal.
import { invalidArgument } from '../errors.js';
import { shown } from '../validate/text.js';
import type { OciImageConfig } from './types.js';

/** The PATH a process gets when neither the image nor the CRI config sets one (containerd's and Docker's). */
export const DEFAULT_PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * argv as Kubernetes defines it (and containerd/Docker implement it):
 *
 * | command | args | result             |
 * |---------|------|--------------------|
 * | –       | –    | Entrypoint + Cmd   |
 * | –       | set  | Entrypoint + args  |
 * | set     | –    | command            |
 * | set     | set  | command + args     |
 *
 * A given command replaces Entrypoint and drops Cmd; args alone replace only Cmd.
 * An Entrypoint of exactly [""] is Docker's spelling of "no entrypoint".
 */
export function processArgs(
  command: readonly string[],
  args: readonly string[],
  image: Pick<OciImageConfig, 'Entrypoint' | 'Cmd'>,
): string[] {
  let head: readonly string[] = command;
  let tail: readonly string[] = args;
  if (command.length === 0) {
    const entrypoint = image.Entrypoint ?? [];
    head = entrypoint.length === 1 && entrypoint[0] === '' ? [] : entrypoint;
    if (args.length === 0) tail = image.Cmd ?? [];
  }
  const argv = [...head, ...tail];
  if (argv.length === 0) {
    throw invalidArgument('no command specified: the container config has no command or args and the image has no Entrypoint or Cmd');
  }
  if (argv[0] === '') throw invalidArgument('the command to run is empty: its first element (the program) must name one');
  return argv;
}

/** One CRI env entry; the value arrives as bytes from the wire. */
export interface EnvEntry {
  key: string;
  value: Buffer | Uint8Array | string;
}

function envKey(entry: string): string {
  const eq = entry.indexOf('=');
  return eq < 0 ? entry : entry.slice(0, eq);
}

/**
 * Later entries override earlier ones with the same key, in the earlier one's place, so that
 * `env` keeps the image's order; an entry without `=` removes the key (containerd's
 * replaceOrAppendEnvValues).
 */
export function mergeEnv(base: readonly string[], overrides: readonly string[]): string[] {
  const out = [...base];
  for (const entry of overrides) {
    const key = envKey(entry);
    const at = out.findIndex((e) => envKey(e) === key);
    if (!entry.includes('=')) {
      if (at >= 0) out.splice(at, 1);
      continue;
    }
    if (at >= 0) out[at] = entry;
    else out.push(entry);
  }
  return out;
}

/**
 * The environment: a default PATH and HOSTNAME first (as containerd does), then the image's
 * Env, then the CRI envs, each later layer overriding the earlier.
 */
export function processEnv(hostname: string, imageEnv: readonly string[] | null | undefined, criEnvs: readonly EnvEntry[]): string[] {
  const cri = criEnvs.map((e) => {
    if (e.key === '' || e.key.includes('=')) throw invalidArgument(`invalid environment variable name ${shown(e.key)}`);
    const value = typeof e.value === 'string' ? e.value : Buffer.from(e.value).toString('utf8');
    return `${e.key}=${value}`;
  });
  let env = mergeEnv([DEFAULT_PATH_ENV], hostname ? [`HOSTNAME=${hostname}`] : []);
  env = mergeEnv(env, imageEnv ?? []);
  return mergeEnv(env, cri);
}

/** CRI working_dir, else the image's WorkingDir, else "/". */
export function processCwd(criWorkingDir: string, image: Pick<OciImageConfig, 'WorkingDir'>): string {
  const cwd = criWorkingDir || image.WorkingDir || '/';
  if (!cwd.startsWith('/')) throw invalidArgument(`working directory ${shown(cwd)} is not an absolute path`);
  return cwd;
}

// CRI Signal enum names are "SIGNAL_" + the POSIX name.
const CRI_SIGNAL_PREFIX = 'SIGNAL_';

/** Signal names every OCI runtime knows (golang.org/x/sys/unix's list, which runc parses with). */
const STANDARD_SIGNALS = new Set([
  'SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGILL', 'SIGTRAP', 'SIGABRT', 'SIGBUS', 'SIGFPE', 'SIGKILL', 'SIGUSR1', 'SIGSEGV', 'SIGUSR2',
  'SIGPIPE', 'SIGALRM', 'SIGTERM', 'SIGSTKFLT', 'SIGCHLD', 'SIGCONT', 'SIGSTOP', 'SIGTSTP', 'SIGTTIN', 'SIGTTOU', 'SIGURG',
  'SIGXCPU', 'SIGXFSZ', 'SIGVTALRM', 'SIGPROF', 'SIGWINCH', 'SIGIO', 'SIGPWR', 'SIGSYS',
]);
/** Other spellings of the same signals. */
const SIGNAL_ALIASES: Readonly<Record<string, string>> = { SIGCLD: 'SIGCHLD', SIGPOLL: 'SIGIO', SIGIOT: 'SIGABRT' };
/** Real-time signals as Linux's C library numbers them (SIGRTMIN 34 … SIGRTMAX 64). */
const SIGRTMIN = 34;
const SIGRTMAX = 64;

/**
 * A signal name or number in the form the OCI runtime's kill takes: a standard "SIGXXX"
 * name, or the number for real-time signals (which runtimes spell differently). Anything
 * else, or a number outside 1..64, is INVALID_ARGUMENT saying what is allowed.
 */
export function canonicalSignal(raw: string, what: string): string {
  const text = raw.trim();
  if (/^\d+$/.test(text)) {
    const n = Number(text);
    if (n >= 1 && n <= SIGRTMAX) return String(n);
    throw invalidArgument(`${what} ${text.length > 12 ? `${text.slice(0, 12)}…` : text} is out of range: signals are 1 to ${SIGRTMAX}`);
  }
  let name = text.toUpperCase().replace(/^SIGNAL_/, '');
  if (!name.startsWith('SIG')) name = `SIG${name}`;
  name = SIGNAL_ALIASES[name] ?? name;
  if (STANDARD_SIGNALS.has(name)) return name;
  const rt = /^SIGRT(MIN|MAX)(?:(?:PLUS|\+)(\d+)|(?:MINUS|-)(\d+))?$/.exec(name);
  if (rt) {
    const n = rt[1] === 'MIN' ? SIGRTMIN + Number(rt[2] ?? 0) - Number(rt[3] ?? 0) : SIGRTMAX + Number(rt[2] ?? 0) - Number(rt[3] ?? 0);
    if (n >= SIGRTMIN && n <= SIGRTMAX) return String(n);
  }
  throw invalidArgument(`${what} ${JSON.stringify(text.slice(0, 24))} is not a signal (a name such as SIGTERM, SIGRTMIN+n, or a number from 1 to ${SIGRTMAX})`);
}

/**
 * The signal StopContainer sends first: the CRI config's stop_signal, else the image's
 * StopSignal (a name such as "SIGQUIT", "QUIT" or a number), else SIGTERM. Returned as the
 * canonical "SIGXXX" name or, for a number or a real-time signal, the number as text.
 * Checked here, at create, so a bad one is refused then and not when the pod stops.
 */
export function stopSignal(criStopSignal: string | undefined, image: Pick<OciImageConfig, 'StopSignal'>): string {
  if (criStopSignal && criStopSignal !== 'SIGNAL_RUNTIME_DEFAULT') {
    return canonicalSignal(criStopSignal.startsWith(CRI_SIGNAL_PREFIX) ? criStopSignal.slice(CRI_SIGNAL_PREFIX.length) : criStopSignal, 'stop_signal');
  }
  const fromImage = image.StopSignal?.trim();
  if (!fromImage) return 'SIGTERM';
  return canonicalSignal(fromImage, "the image's StopSignal");
}
