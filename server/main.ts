#!/usr/bin/env -S GLIBC_TUNABLES=glibc.malloc.mmap_threshold=131072 node --max-semi-space-size=1 --initial-old-space-size=64
// berthd: the berth CRI daemon. Flags and config → logger → daemon; SIGTERM/SIGINT stop
// it gracefully (pods and containers keep running). Under systemd (Type=notify) it reports
// READY=1 once the CRI socket serves and STOPPING=1 when a signal arrives (sd-notify.ts).
// The `#!` line carries the environment and node flags of server/node-flags.ts (BERTHD_ENV,
// BERTHD_NODE_FLAGS); keep them equal (test/unit/node-flags.test.ts checks).
import { loadConfig, printConfig, USAGE } from './config.js';
import { createLogger } from './logger.js';
import { RecentLog } from './recent-log.js';
import { startDaemon } from './daemon.js';
import { detectCgroupHost } from './cgroups/detect.js';
import { resolveCgroupDriver } from './cgroups/config.js';
import { defaultRuntimeOnHost } from './runtime/handlers.js';
import { BerthError } from './errors.js';
import { BERTHD_NODE_FLAGS, berthdEnvWords, missingBerthdEnv, missingNodeFlags } from './node-flags.js';
import { createNotifier, type NotifyFields } from './sd-notify.js';

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const { config, flags, file } = loadConfig(argv);
  if (flags.printConfig) {
    const host = await detectCgroupHost();
    const why = `cgroup ${host.layout.mode}, systemd ${host.systemd ? 'is' : 'is not'} PID 1`;
    let driver: string;
    try {
      driver = resolveCgroupDriver(config.cgroup_driver, host);
    } catch (e) {
      driver = `none: ${(e as Error).message}`;
    }
    const def = await defaultRuntimeOnHost(config, host.layout.mode);
    process.stdout.write(printConfig(config, { cgroupDriver: driver, why, defaultRuntime: def.name, runtimeWhy: def.why }));
    return 0;
  }
  // The last warnings and errors stay readable through the admin socket (berth doctor).
  const recent = new RecentLog();
  const log = createLogger(config.log_level, recent.tee(process.stderr));
  if (process.getuid && process.getuid() !== 0) log.warn('berthd is not running as root: namespaces, mounts and cgroups will fail');
  const missing = [...missingBerthdEnv(), ...missingNodeFlags()];
  if (missing.length > 0) {
    log.warn('berthd runs without its node flags or environment: image pulls will take more memory and CPU', {
      missing,
      hint: `start it as berthd (its #! line has them) or as env ${berthdEnvWords().join(' ')} node ${BERTHD_NODE_FLAGS.join(' ')} ${process.argv[1] ?? 'main.js'}`,
    });
  }
  // Read (and drop) NOTIFY_SOCKET before anything is spawned: children must not inherit it.
  const notifier = await createNotifier();
  const notify = (fields: NotifyFields) =>
    notifier.notify(fields).catch((e: unknown) => log.warn('could not notify the service manager', { error: (e as Error).message }));
  await notify({ STATUS: 'starting: opening the store and recovering pods' });
  const daemon = await startDaemon(config, log.child({ component: 'berthd' }), { recent });
  log.info('configuration', { file: file ?? '(embedded defaults)' });
  // startDaemon resolves only once the CRI socket listens: now kubelet may call.
  await notify({ READY: '1', STATUS: `serving CRI on ${daemon.socket}` });
  await new Promise<void>((resolve) => {
    const onSignal = (sig: NodeJS.Signals) => {
      log.info('signal received', { signal: sig });
      void notify({ STOPPING: '1', STATUS: `stopping (${sig}): finishing in-flight calls; containers keep running` });
      daemon.stop().then(resolve, (e: unknown) => {
        log.error('shutdown failed', { error: (e as Error).message });
        resolve();
      });
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  });
  notifier.close();
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
