// The berth command table: every command, its usage line and how to load it. The
// dispatcher (berth.ts), `berth --help`, `berth CMD --help` and the bash completion
// (completion.ts) are all driven from here, so a command added to this table gets help and
// completion with nothing else to do. The usage line is the contract: every --flag it
// names is offered by completion, and a flag followed by an upper-case placeholder (FILE,
// DIR, REF…) takes a value (FILE and DIR complete as paths).
export type Command = (args: string[]) => Promise<number>;

export interface CommandSpec {
  usage: string;
  load: () => Promise<Command>;
  /** The command prints its own, longer --help (cli/output.ts parseCommand). */
  ownHelp?: boolean;
}

export const COMMANDS: Record<string, CommandSpec> = {
  'cni default': { usage: 'berth cni default                           print the default network config list', load: async () => (await import('./cni.js')).cniDefault },
  'cni ensure-default': { usage: 'berth cni ensure-default [--conf-dir DIR]   write it if DIR has no network config', load: async () => (await import('./cni.js')).cniEnsureDefault },
  'images import': { usage: 'berth images import FILE [--name REF] [--state DIR]   import an OCI or `docker save` archive', load: async () => (await import('./images.js')).imagesImport },
  'images ls': { usage: 'berth images ls [--state DIR]               list images', load: async () => (await import('./images.js')).imagesList },
  'images pull': { usage: 'berth images pull REF [--state DIR] [--progress auto|bars|plain|none] [-o table|json]   pull through berthd with per-layer progress', load: async () => (await import('./images-pull.js')).imagesPull },
  'images rm': { usage: 'berth images rm REF [--state DIR]           remove an image (id, tag or digest)', load: async () => (await import('./images.js')).imagesRemove },
  doctor: { usage: 'berth doctor [--config FILE] [--root DIR] [--state DIR] [--kubelet-config FILE] [--host-root DIR] [-o table|json]   check the node: PASS/WARN/FAIL with remedies (exit 5 on FAIL)', load: async () => (await import('./doctor.js')).doctorCommand },
  'node install': { usage: 'berth node install [--bundle DIR] [--host-root DIR] [--config FILE] [--switch-kubelet] [--force] [--cgroup-driver D] [--ignore-pod NS/NAME] [--no-start] [--dry-run] [--kubernetes-node NAME --node-label KEY [--switch-taint KEY] [--stay] [--poll-seconds N]]', load: async () => (await import('./node/install.js')).installCommand },
  'node status': { usage: 'berth node status [--host-root DIR]           installed here and answering CRI? (exit 0/1)', load: async () => (await import('./node/status.js')).statusCommand },
  'node uninstall-all': { usage: 'berth node uninstall-all --node-label KEY [--timeout 300s] [--poll-seconds N]   the Helm chart pre-delete hook: uninstall on every labelled node', load: async () => (await import('./node/kubernetes.js')).uninstallAllCommand },
  'node uninstall': { usage: 'berth node uninstall [--host-root DIR] [--force] [--dry-run]', load: async () => (await import('./node/uninstall.js')).uninstallCommand },
  leaks: { usage: 'berth leaks [--repair] [--dry-run] [-o table|json] [--config FILE] [--root DIR] [--state DIR] [--socket PATH] [--cni-conf-dir DIR]   what is berth\'s on this host but no known pod\'s or container\'s; --repair removes it (exit 0 none, 5 found or left)', load: async () => (await import('./leaks.js')).leaksCommand },
  bugreport: { usage: 'berth bugreport [--out FILE] [--log-file FILE] [--log-lines N] [--config FILE] [--root DIR] [--state DIR] [--socket PATH]   one tar.gz for an issue: logs, config (secrets redacted), versions, doctor, leaks, ps, store schema', load: async () => (await import('./bugreport.js')).bugreportCommand },
  'metrics-proxy': { usage: 'berth metrics-proxy --listen HOST:PORT --tls-cert FILE --tls-key FILE [--upstream URL] [--path PATH] [--auth-cache-seconds N]', load: async () => (await import('./metrics-proxy-command.js')).metricsProxyCommand },
  completion: { usage: 'berth completion bash                       print the bash completion script (source it, or put it in /etc/bash_completion.d/berth)', load: async () => (await import('./completion.js')).completionCommand },
  ps: { usage: 'berth ps [--pod ID] [--namespace NS] [--status STATE] [--label K=V] [-o table|json] [--root DIR] [--state DIR]   pods and their containers as a tree', load: async () => (await import('./ps.js')).ps, ownHelp: true },
  inspect: { usage: 'berth inspect ID [-o table|json] [--root DIR] [--state DIR]   a pod, container or image: record and host facts', load: async () => (await import('./inspect.js')).inspectCommand, ownHelp: true },
  logs: { usage: 'berth logs ID [--follow] [--since DURATION] [--tail N] [--stream stdout|stderr] [--timestamps] [-o table|json] [--root DIR] [--state DIR]   a container\'s log, decoded, following rotation', load: async () => (await import('./logs.js')).logs, ownHelp: true },
  top: { usage: 'berth top [--sort cpu|mem|io|pids|name] [--once] [--interval SECONDS] [-o table|json] [--root DIR] [--state DIR]   CPU, memory, I/O, pids against limits', load: async () => (await import('./top.js')).top, ownHelp: true },
  version: { usage: 'berth version [--state DIR]                 this CLI\'s and the running berthd\'s release and protocols', load: async () => (await import('./version.js')).version },
};

export interface FlagSpec {
  /** `--state`, `-o`. */
  name: string;
  /** The placeholder of its value (`DIR`, `auto|bars|plain|none`), or undefined for a switch. */
  value?: string;
}

/** The flags a usage line names (the part before its description). */
export function flagsOf(usage: string): FlagSpec[] {
  const out = new Map<string, FlagSpec>();
  const re = /(?:^|[\s[])(--?[a-zA-Z][a-zA-Z0-9-]*)(?:[ =]([A-Z][A-Z0-9/_:.-]*|[a-z0-9]+(?:\|[a-z0-9]+)+))?/g;
  for (const m of usage.matchAll(re)) {
    if (!out.has(m[1]!)) out.set(m[1]!, m[2] ? { name: m[1]!, value: m[2] } : { name: m[1]! });
  }
  return [...out.values()];
}

/** The words of a command and what follows them on its usage line, for `berth CMD --help`. */
export function helpOf(key: string): string {
  return `usage: ${COMMANDS[key]!.usage.replace(/\s{3,}/, '\n  ')}`;
}
