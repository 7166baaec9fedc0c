// The long guest tier (`npm run test:guest -- --full`), run INSIDE the test guest (Debian 12,
// systemd as PID 1, pure cgroup v2, AppArmor on): the conformance areas the cgroup layer, the
// OCI runtime and AppArmor touch (containers, resources, stats, security context, pod
// namespaces, exec, logs) against
//   - berth systemd/runc and berth systemd/crun: one test berthd with its default
//     configuration (cgroup_driver auto must be systemd here: RuntimeConfig says SYSTEMD, and
//     the suite then sends slice-form cgroup_parents, berthconf_<run>-pod<uid>.slice), pods
//     with runtime_handler runc, then crun;
//   - containerd (Debian's 1.6, runc with SystemdCgroup = true, AppArmor on) as the reference,
//     given slice-form parents explicitly (containerd 1.6 has no RuntimeConfig);
// with every deadline of the suite scaled for emulation (--time-scale, default 30). After
// each configuration the leftover check: no berth-*/berthconf*/cri-containerd-* systemd unit
// (scope or slice) active or failed, no process under the berthd's directory, and for berth
// no pod slice left for the suite to stop (berth removes the slices it created; containerd
// leaves pod slices to kubelet, so the suite stops them and that is not counted).
// Prints the table area × configuration and writes it, with the full reports, to
// /results/long-tier.json. Exit status 1 when a cell failed, a configuration did not run or
// something was left behind. Hours under emulation: never in CI.
//
//   node dist/test/guest/long.js [--time-scale N] [--concurrency N] [--area A[,A…]] [--config NAME[,NAME…]]
import { existsSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { runConformance, type ConformanceOptions } from '../../conformance/main.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { progressLine, type Report } from '../../conformance/report.js';
import { scaleMs } from '../../conformance/runner.js';
import { AREAS } from '../../conformance/spec.js';
import { startContainerd } from '../../conformance/runtimes/containerd.js';
import { run } from '../../server/exec.js';
import { startBerthd, TEST_PREFIX, type TestBerthd } from '../helpers/berthd.js';
import { buildLongTable, formatLongTable, type ConfigRun } from './long-table.js';

export const LONG_AREAS = ['containers', 'resources', 'stats', 'security context', 'pod namespaces', 'exec', 'logs'] as const;
export const LONG_CONFIGS = ['berth systemd/runc', 'berth systemd/crun', 'containerd systemd/runc'] as const;

interface Args {
  timeScale: number;
  concurrency: number;
  areas: string[];
  configs: string[];
}

function parseArgs(argv: string[]): Args {
  const a: Args = { timeScale: 30, concurrency: 2, areas: [...LONG_AREAS], configs: [...LONG_CONFIGS] };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    const v = argv[++i];
    if (v === undefined) throw new Error(`${k} needs a value`);
    if (k === '--time-scale') a.timeScale = Number(v);
    else if (k === '--concurrency') a.concurrency = Number(v);
    else if (k === '--area') a.areas = v.split(',').map((x) => x.trim());
    else if (k === '--config') a.configs = v.split(',').map((x) => x.trim());
    else throw new Error(`unknown option ${k}`);
  }
  scaleMs(1, a.timeScale);
  if (!Number.isInteger(a.concurrency) || a.concurrency < 1) throw new Error('--concurrency must be a positive integer');
  for (const x of a.areas) if (!(AREAS as readonly string[]).includes(x)) throw new Error(`unknown area ${x} (areas: ${AREAS.join(', ')})`);
  for (const x of a.configs) if (!(LONG_CONFIGS as readonly string[]).includes(x)) throw new Error(`unknown configuration ${x} (${LONG_CONFIGS.join(', ')})`);
  return a;
}

const t0 = Date.now();
const log = (msg: string) => process.stdout.write(`# [${((Date.now() - t0) / 1000).toFixed(0)}s] ${msg}\n`);

/** systemd units of berth (scopes berth-*, conmon scopes), the suite's slices and containerd's scopes still active or failed (not berth-guest.service, the harness's unit). */
async function unitLeftovers(): Promise<string[]> {
  const r = await run('systemctl', ['list-units', '--plain', '--no-legend', '--full', 'berth-*', 'berthconf*', 'cri-containerd-*'], { allowFailure: true });
  return r.stdout
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    // The harness's own unit (it runs this very command) is not the suite's.
    .filter((l) => !l.startsWith('berth-guest.service'))
    .map((l) => `systemd unit ${l.split(/\s+/).slice(0, 4).join(' ')}`);
}

/** Processes whose command line names a path under `dir` (conmon, runc, crun, shims of that runtime). */
async function processesUnder(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    const cmd = await readFile(`/proc/${pid}/cmdline`, 'latin1').catch(() => '');
    if (cmd.includes(dir)) found.push(`process ${pid}: ${cmd.split('\0').join(' ').slice(0, 160)}`);
  }
  return found;
}

/** Warnings of the suite's sweep about pod slices: for berth a leftover, for containerd only one with tasks in it. */
function sliceLeftovers(report: Report, runtimeRemovesSlices: boolean): string[] {
  return report.warnings.filter((w) => w.startsWith('slice ') && (runtimeRemovesSlices || w.includes(' tasks in it'))).map((w) => `pod ${w}`);
}

async function main(): Promise<number> {
  if (process.env.BERTH_GUEST !== '1') {
    process.stderr.write('long tier: this runs inside the test guest: use `npm run test:guest -- --full`\n');
    return 2;
  }
  const args = parseArgs(process.argv.slice(2));
  const scaled = (ms: number) => scaleMs(ms, args.timeScale);
  log(`areas: ${args.areas.join(', ')}; configurations: ${args.configs.join(', ')}; deadlines × ${args.timeScale}, ${args.concurrency} specs at once`);
  const runs: ConfigRun[] = [];
  let reg: TestRegistry | undefined;
  try {
    // One plain registry: the guest has no htpasswd, and the spec that needs a registry with
    // basic auth is in the images area, not in the long tier's.
    reg = await startRegistry();
    const registry = reg.host;
    const common = (): Omit<ConformanceOptions, 'endpoint' | 'logRoot'> => ({
      registry,
      areas: args.areas,
      timeScale: args.timeScale,
      concurrency: args.concurrency,
      tmpPrefix: `${TEST_PREFIX}conformance-`,
      onResult: (r) => process.stdout.write(`${progressLine(r)}\n`),
      log,
    });

    const berthConfigs = args.configs.filter((c) => c.startsWith('berth '));
    if (berthConfigs.length) {
      let b: TestBerthd | undefined;
      const berthRuns: ConfigRun[] = [];
      try {
        // The default configuration: cgroup_driver auto must pick systemd in the guest.
        b = await startBerthd({ startTimeoutMs: scaled(20_000) });
        const rc = await b.client.call('RuntimeConfig', {}, { timeoutMs: scaled(10_000) });
        const driver = rc.linux?.cgroup_driver as string | undefined;
        for (const config of berthConfigs) {
          const handler = config.split('/')[1]!;
          log(`== ${config} (berthd ${b.socket}, RuntimeConfig cgroup_driver ${driver}) ==`);
          if (driver !== 'SYSTEMD') {
            berthRuns.push({ config, error: `berthd's default configuration reports cgroup_driver ${driver}, not SYSTEMD`, leftovers: [] });
            continue;
          }
          try {
            // No cgroupParent: the suite must pick slices itself from RuntimeConfig.
            const report = await runConformance({ ...common(), endpoint: `unix://${b.socket}`, logRoot: b.logRoot, runtimeHandler: handler });
            berthRuns.push({ config, report, leftovers: [...sliceLeftovers(report, true), ...(await unitLeftovers())] });
          } catch (e) {
            berthRuns.push({ config, error: (e as Error).message, leftovers: await unitLeftovers() });
          }
        }
      } catch (e) {
        for (const config of berthConfigs) if (!berthRuns.some((r) => r.config === config)) berthRuns.push({ config, error: `berthd: ${(e as Error).message}`, leftovers: [] });
      } finally {
        if (b) {
          const code = await b.stop();
          if (code !== 0) log(`berthd exited ${code}; its stderr (last 60 lines):\n${b.stderr().split('\n').slice(-60).join('\n')}`);
          const procs = await processesUnder(b.dir);
          await b.cleanup().catch((e: Error) => procs.push(`berthd cleanup: ${e.message}`));
          // Processes still running after berthd stopped belong to every berth configuration.
          for (const r of berthRuns) r.leftovers.push(...procs);
        }
      }
      runs.push(...berthRuns);
    }

    for (const config of args.configs.filter((c) => c.startsWith('containerd '))) {
      log(`== ${config} ==`);
      const cr: ConfigRun = { config, leftovers: [] };
      try {
        const ctd = await startContainerd({ registry, dirPrefix: `${TEST_PREFIX}containerd-`, systemdCgroup: true, apparmor: true, startTimeoutMs: scaled(30_000) });
        try {
          // containerd 1.6 has no RuntimeConfig: slice-form parents given explicitly.
          cr.report = await runConformance({ ...common(), endpoint: ctd.endpoint, logRoot: join(ctd.dir, 'pod-logs'), cgroupParent: `berthconf_ctd${randomBytes(3).toString('hex')}` });
          cr.leftovers.push(...sliceLeftovers(cr.report, false));
        } finally {
          await ctd.cleanup().catch((e: Error) => cr.leftovers.push(e.message));
        }
      } catch (e) {
        cr.error = (e as Error).message;
      }
      cr.leftovers.push(...(await unitLeftovers()));
      runs.push(cr);
    }
  } finally {
    await reg?.stop().catch(() => undefined);
  }

  const table = buildLongTable(args.areas, runs);
  process.stdout.write(`\n${formatLongTable(table)}\n`);
  if (existsSync('/results')) {
    const doc = { tier: 'long', timeScale: args.timeScale, durationMs: Date.now() - t0, table, reports: Object.fromEntries(runs.map((r) => [r.config, r.report ?? null])) };
    await writeFile('/results/long-tier.json', `${JSON.stringify(doc, null, 2)}\n`);
    log('written to /results/long-tier.json');
  }
  return table.ok ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stdout.write(`long tier: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  },
);
