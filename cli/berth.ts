#!/usr/bin/env node
// berth: the operator's command line next to berthd. A small dispatcher: each command
// lives in its own file under cli/ and is loaded only when it runs.
import { UsageError } from './args.js';

type Command = (args: string[]) => Promise<number>;

const COMMANDS: Record<string, { usage: string; load: () => Promise<Command> }> = {
  'cni default': { usage: 'berth cni default                           print the default network config list', load: async () => (await import('./cni.js')).cniDefault },
  'cni ensure-default': { usage: 'berth cni ensure-default [--conf-dir DIR]   write it if DIR has no network config', load: async () => (await import('./cni.js')).cniEnsureDefault },
  'images import': { usage: 'berth images import FILE [--name REF]       import an OCI or `docker save` archive', load: async () => (await import('./images.js')).imagesImport },
  'images ls': { usage: 'berth images ls                             list images', load: async () => (await import('./images.js')).imagesList },
  'images rm': { usage: 'berth images rm REF                         remove an image (id, tag or digest)', load: async () => (await import('./images.js')).imagesRemove },
  'node install': { usage: 'berth node install [--bundle DIR] [--host-root DIR] [--config FILE] [--switch-kubelet] [--force] [--cgroup-driver D] [--ignore-pod NS/NAME] [--dry-run]', load: async () => (await import('./node/install.js')).installCommand },
  'node status': { usage: 'berth node status [--host-root DIR]           installed here and answering CRI? (exit 0/1)', load: async () => (await import('./node/status.js')).statusCommand },
  'node uninstall': { usage: 'berth node uninstall [--host-root DIR] [--force] [--dry-run]', load: async () => (await import('./node/uninstall.js')).uninstallCommand },
  'metrics-proxy': { usage: 'berth metrics-proxy --listen HOST:PORT --tls-cert FILE --tls-key FILE [--upstream URL] [--path PATH] [--auth-cache-seconds N]', load: async () => (await import('./metrics-proxy-command.js')).metricsProxyCommand },
  version: { usage: 'berth version                               this CLI\'s and the running berthd\'s release and protocols', load: async () => (await import('./version.js')).version },
};

function usage(): string {
  return 'usage:\n' + Object.values(COMMANDS).map((c) => '  ' + c.usage).join('\n') + '\nImage commands and version reach the running berthd through its admin socket (<state>/admin.sock, --state DIR).';
}

async function main(argv: string[]): Promise<number> {
  const two = argv.slice(0, 2).join(' ');
  const key = COMMANDS[two] ? two : COMMANDS[argv[0] ?? ''] ? argv[0]! : undefined;
  if (!key) {
    process.stderr.write(usage() + '\n');
    return argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' ? 0 : 2;
  }
  const command = await COMMANDS[key]!.load();
  return command(argv.slice(key.split(' ').length));
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`berth: ${(e as Error).message}\n`);
    process.exit(e instanceof UsageError ? 2 : 1);
  },
);
