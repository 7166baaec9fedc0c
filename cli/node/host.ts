// The one way `berth node install/uninstall` runs commands on the host (systemctl,
// apt-get, ip): plain exec when the host root is /, and `nsenter` into PID 1's mount, UTS,
// IPC, network and PID namespaces when it is not (the chart's installer pod runs with
// hostPID and the host's / mounted at /host). Tests inject their own runner.
import { run, type RunResult } from '../../hostutil/exec.js';

export interface HostRunOptions {
  allowFailure?: boolean;
  timeoutMs?: number;
}

export interface HostRunner {
  /** What the runner is, for messages. */
  readonly description: string;
  run(argv: readonly string[], opts?: HostRunOptions): Promise<RunResult>;
}

/** A clean environment: the host's tools, no prompts, untranslated messages. */
export const HOST_ENV: Readonly<Record<string, string>> = {
  PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  LANG: 'C.UTF-8',
  DEBIAN_FRONTEND: 'noninteractive',
};

/** `target`: the process whose namespaces are the host's (PID 1 with hostPID; tests give their own). */
export function hostRunner(hostRoot: string, target = 1): HostRunner {
  const direct = hostRoot === '/';
  return {
    description: direct ? 'this host' : `the host (nsenter into PID ${target}'s namespaces; files under ${hostRoot})`,
    run(argv, opts = {}) {
      const [file, args] = direct
        ? [argv[0]!, argv.slice(1)]
        : ['nsenter', ['--target', String(target), '--mount', '--uts', '--ipc', '--net', '--pid', '--', '/usr/bin/env', '-i', ...Object.entries(HOST_ENV).map(([k, v]) => `${k}=${v}`), ...argv]];
      return run(file, args, { env: { ...HOST_ENV }, timeoutMs: opts.timeoutMs ?? 10 * 60_000, allowFailure: opts.allowFailure });
    },
  };
}
