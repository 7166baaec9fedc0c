#!/usr/bin/env -S node --max-semi-space-size=1 --initial-old-space-size=64
// berthd: the berth CRI daemon. Flags and config → logger → daemon; SIGTERM/SIGINT stop
// it gracefully (pods and containers keep running). The `#!` line carries the node flags
// of server/node-flags.ts (BERTHD_NODE_FLAGS); keep the two equal.
import { loadConfig, printConfig, USAGE } from './config.js';
import { createLogger } from './logger.js';
import { startDaemon } from './daemon.js';
import { BerthError } from './errors.js';
import { BERTHD_NODE_FLAGS, missingNodeFlags } from './node-flags.js';

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const { config, flags, file } = loadConfig(argv);
  if (flags.printConfig) {
    process.stdout.write(printConfig(config));
    return 0;
  }
  const log = createLogger(config.log_level);
  if (process.getuid && process.getuid() !== 0) log.warn('berthd is not running as root: namespaces, mounts and cgroups will fail');
  const missing = missingNodeFlags();
  if (missing.length > 0) {
    log.warn('berthd runs without its node flags: image pulls will take more memory and CPU', {
      missing,
      hint: `start it as berthd (its #! line has them) or as node ${BERTHD_NODE_FLAGS.join(' ')} ${process.argv[1] ?? 'main.js'}`,
    });
  }
  const daemon = await startDaemon(config, log.child({ component: 'berthd' }));
  log.info('configuration', { file: file ?? '(embedded defaults)' });
  await new Promise<void>((resolve) => {
    const onSignal = (sig: NodeJS.Signals) => {
      log.info('signal received', { signal: sig });
      daemon.stop().then(resolve, (e: unknown) => {
        log.error('shutdown failed', { error: (e as Error).message });
        resolve();
      });
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  });
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    const msg = e instanceof BerthError ? e.message : (e as Error).stack ?? String(e);
    process.stderr.write(`berthd: ${msg}\n`);
    process.exit(1);
  },
);
