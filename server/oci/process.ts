// The container's process line: argv from the CRI command/args and the image's
// Entrypoint/Cmd, its environment and working directory, and the stop signal.
import { invalidArgument } from '../errors.js';
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
    if (e.key === '' || e.key.includes('=')) throw invalidArgument(`invalid environment variable name ${JSON.stringify(e.key)}`);
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
  if (!cwd.startsWith('/')) throw invalidArgument(`working directory ${JSON.stringify(cwd)} is not an absolute path`);
  return cwd;
}

// CRI Signal enum names are "SIGNAL_" + the POSIX name.
const CRI_SIGNAL_PREFIX = 'SIGNAL_';

/**
 * The signal StopContainer sends first: the CRI config's stop_signal, else the image's
 * StopSignal (a name such as "SIGQUIT", "QUIT" or a number), else SIGTERM. Returned as the
 * canonical "SIGXXX" name or, for a numeric image value, the number as text.
 */
export function stopSignal(criStopSignal: string | undefined, image: Pick<OciImageConfig, 'StopSignal'>): string {
  if (criStopSignal && criStopSignal !== 'SIGNAL_RUNTIME_DEFAULT') {
    return criStopSignal.startsWith(CRI_SIGNAL_PREFIX) ? criStopSignal.slice(CRI_SIGNAL_PREFIX.length) : criStopSignal;
  }
  const fromImage = image.StopSignal?.trim();
  if (!fromImage) return 'SIGTERM';
  if (/^\d+$/.test(fromImage)) return fromImage;
  const upper = fromImage.toUpperCase();
  return upper.startsWith('SIG') ? upper : `SIG${upper}`;
}
