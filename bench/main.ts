#!/usr/bin/env node
// berth-bench: berth and containerd side by side. Starts a registry on 127.0.0.1, a
// berthd and a private containerd (each with its own socket, state, CNI bridge and
// subnet), drives both through CRI with the same client and requests, alternating which
// goes first each round, and prints berth, containerd and berth/containerd per figure.
// Everything it started is stopped and removed at the end (also on SIGINT/SIGTERM).
import { randomBytes } from 'node:crypto';
import { cpus, release, totalmem } from 'node:os';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { prepareImages, type BenchImages } from './images.js';
import { startBenchBerthd } from './runtimes/berth.js';
import { startBenchContainerd, containerdStarter } from './runtimes/containerd.js';
import type { BenchRuntime, RuntimeName } from './runtimes/types.js';
import { call, probe, removeAllPods, type Capabilities } from './cri.js';
import { ScenarioRecorder, type BenchContext, type BenchOptions, type Scenario, type ScenarioResult } from './scenario.js';
import { formatScenario, type BenchReport } from './report.js';
import { formatOciReference, ociReference, type OciReference } from './oci.js';
import { sandbox } from './scenarios/sandbox.js';
import { lifecycle } from './scenarios/lifecycle.js';
import { burst } from './scenarios/burst.js';
import { density } from './scenarios/density.js';
import { execsync } from './scenarios/execsync.js';
import { pull, pullFiles } from './scenarios/pull.js';
import { scrape_ } from './scenarios/scrape.js';
import { soak } from './scenarios/soak.js';

export const SCENARIOS: Scenario[] = [sandbox, lifecycle, burst, density, execsync, pull, pullFiles, scrape_];
/** Run only when named (`--scenario soak`): long, and berth only. */
export const EXTRA_SCENARIOS: Scenario[] = [soak];

const USAGE = `usage: bench/run [--scenario NAME[,NAME…]]… [--n N] [--rounds R] [--quick] [--json FILE]
  scenarios: ${SCENARIOS.map((s) => s.name).join(', ')} (default: all of these);
             ${EXTRA_SCENARIOS.map((s) => s.name).join(', ')} (only when named)
  --n N       rounds (sandbox, lifecycle, execsync, pull, pull-files) or pods (burst: per burst, density: running)
  --rounds R  rounds of burst and density
  --quick     few rounds and pods, a small pull image (CI keeps the instrument working with it)
  --pull-layers N --pull-layer-mb M
              the pull image's shape (default 5 layers of 30 MB; e.g. 1 × 1000 for the
              peak-memory check with one 1 GB layer)
  --berth-handlers H[,H…]
              berth once per runtime handler (one berthd, pods with runtime_handler H), named
              berth+H, each next to containerd+runc, and berth+crun / berth+runc (e.g. runc,crun)
  --berth-config FILE
              TOML appended to the bench berthd's config (after its cgroupfs driver line), to
              compare settings run against run, e.g. a [metrics] table with interval_seconds = 0
  --oci-reference
              also time the OCI runtimes alone: runc and crun \`run --detach\` of a bundle
  --json FILE also write the results as JSON
Needs root. Starts its own registry, berthd and containerd; leaves nothing behind.`;

interface Args extends BenchOptions {
  scenarios: Scenario[];
  json?: string;
  berthHandlers?: string[];
  berthConfig?: string;
  ociReference?: boolean;
  pullLayers?: number;
  pullLayerMb?: number;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { quick: false, scenarios: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value\n${USAGE}`);
      return v;
    };
    const int = () => {
      const n = Number(value());
      if (!Number.isInteger(n) || n < 1) throw new Error(`${arg} needs a positive integer`);
      return n;
    };
    if (arg === '--help' || arg === '-h') {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    } else if (arg === '--quick') a.quick = true;
    else if (arg === '--n') a.n = int();
    else if (arg === '--rounds') a.rounds = int();
    else if (arg === '--json') a.json = value();
    else if (arg === '--berth-handlers') {
      a.berthHandlers = value().split(',').map((h) => h.trim());
      if (a.berthHandlers.some((h) => !/^[a-z0-9][a-z0-9_.-]*$/.test(h)) || new Set(a.berthHandlers).size !== a.berthHandlers.length) throw new Error(`--berth-handlers: distinct handler names, comma-separated\n${USAGE}`);
    } else if (arg === '--berth-config') a.berthConfig = readFileSync(value(), 'utf8');
    else if (arg === '--oci-reference') a.ociReference = true;
    else if (arg === '--pull-layers') a.pullLayers = int();
    else if (arg === '--pull-layer-mb') a.pullLayerMb = int();
    else if (arg === '--scenario') {
      for (const name of value().split(',')) {
        const s = [...SCENARIOS, ...EXTRA_SCENARIOS].find((x) => x.name === name.trim());
        if (!s) throw new Error(`unknown scenario ${name}\n${USAGE}`);
        if (!a.scenarios.includes(s)) a.scenarios.push(s);
      }
    } else throw new Error(`unknown argument ${arg}\n${USAGE}`);
  }
  if (a.scenarios.length === 0) a.scenarios = [...SCENARIOS];
  return a;
}

const log = (msg: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 23)}] ${msg}\n`);

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  if (process.getuid?.() !== 0) throw new Error('the bench needs root (namespaces, mounts, cgroups, CNI)');
  for (const bin of ['/usr/bin/containerd', '/usr/sbin/runc', '/usr/bin/docker-registry', '/usr/bin/catatonit', '/bin/busybox'])
    if (!existsSync(bin)) throw new Error(`${bin} is missing (scripts/install-deps.sh installs it)`);

  const started = Date.now();
  const runId = randomBytes(4).toString('hex');
  const runtimes: BenchRuntime[] = [];
  let images: BenchImages | undefined;
  let cleaning: Promise<void> | undefined;
  const cleanup = () =>
    (cleaning ??= (async () => {
      for (const rt of runtimes) await removeAllPods(rt, runId).catch(() => undefined);
      for (const rt of runtimes) await rt.stop().catch((e: Error) => log(`cleanup of ${rt.name}: ${e.message}`));
      await images?.stop().catch((e: Error) => log(`cleanup of the registry: ${e.message}`));
    })());
  const onSignal = (sig: NodeJS.Signals) => {
    log(`${sig}: cleaning up`);
    cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    const bigLayers = args.pullLayers ?? 5;
    const bigLayerBytes = args.pullLayerMb ? args.pullLayerMb * 1_000_000 : args.quick ? 2 * 2 ** 20 : 30 * 1_000_000;
    images = await prepareImages({ bigLayers, bigLayerBytes, filesPerLayer: args.quick ? 300 : 3000, log });
    log(`registry ${images.registry.host}`);
    const berths = await startBenchBerthd({ handlers: args.berthHandlers, ...(args.berthConfig !== undefined ? { configToml: args.berthConfig } : {}) });
    runtimes.push(...berths);
    const berth = berths[0]!;
    log(`berthd pid ${berth.pid()} on ${berth.endpoint} (bridge ${berth.bridge}, ${berth.subnet})${args.berthHandlers ? `; variants ${berths.map((b) => b.name).join(', ')}` : ''}`);
    const ctrd = await startBenchContainerd({ sandboxImage: images.pause, registry: images.registry.host });
    runtimes.push(ctrd);
    log(`containerd pid ${ctrd.pid()} on ${ctrd.endpoint} (bridge ${ctrd.bridge}, ${ctrd.subnet}; ${containerdStarter})`);

    const caps = {} as Record<RuntimeName, Capabilities>;
    const info: BenchReport['runtimes'] = {};
    for (const rt of runtimes) {
      caps[rt.name] = await probe(rt);
      const v = await call(rt, 'Version', {}).catch(() => undefined);
      info[rt.name] = {
        endpoint: rt.endpoint,
        version: v ? `${v.runtime_name} ${v.runtime_version}` : undefined,
        ...(rt.name === 'containerd' ? { starter: containerdStarter } : {}),
        capabilities: { ...caps[rt.name] },
      };
      // Images every scenario with containers needs, pulled before anything is timed.
      if (!caps[rt.name].pull) {
        // Variants share one berthd: the first pulled for all.
        if (rt.handler !== undefined && rt !== berth) {
          log(`${rt.name}: images pulled by ${berth.name}`);
          continue;
        }
        const want = [images.busybox, ...(rt.name === 'containerd' ? [images.pause] : [])];
        for (const image of want) {
          try {
            await call(rt, 'PullImage', { image: { image } }, 300_000);
          } catch (e) {
            log(`${rt.name}: cannot pull ${image}: ${(e as Error).message}`);
            caps[rt.name].containers ??= `error: cannot pull ${image}: ${(e as Error).message}`;
          }
        }
      }
      log(`${rt.name}: ${info[rt.name]!.version}; ${Object.entries(caps[rt.name]).filter(([, v]) => v).map(([k, v]) => `${k} ${v}`).join(', ') || 'all RPCs the bench uses are implemented'}`);
    }

    const ctx: BenchContext = { runtimes, images, caps, runId, opts: args, log };
    const results: ScenarioResult[] = [];
    for (const s of args.scenarios) {
      log(`scenario ${s.name}`);
      const rec = new ScenarioRecorder(s.name, s.title, runtimes.map((r) => r.name));
      const t0 = Date.now();
      try {
        await s.run(ctx, rec);
      } catch (e) {
        for (const rt of runtimes) rec.fail(rt.name, e);
      }
      for (const rt of runtimes) await removeAllPods(rt, runId).catch((e: Error) => rec.fail(rt.name, e));
      const r = rec.finish(Date.now() - t0);
      results.push(r);
      process.stdout.write(`${formatScenario(r)}\n\n`);
    }

    let oci: OciReference | undefined;
    if (args.ociReference) {
      log('oci reference: runc and crun run --detach');
      const n = args.n ?? (args.quick ? 3 : 30);
      oci = await ociReference({ rounds: n, warmup: args.quick ? 1 : 3, log });
      process.stdout.write(`${formatOciReference(oci)}\n\n`);
    }

    const report: BenchReport = {
      tool: 'berth-bench',
      schema: 1,
      startedAt: new Date(started).toISOString(),
      durationMs: 0,
      quick: args.quick,
      argv: process.argv.slice(2),
      host: { kernel: release(), cpus: cpus().length, memoryMiB: Math.round(totalmem() / 2 ** 20), node: process.version },
      runtimes: info,
      scenarios: results,
      ...(oci ? { oci } : {}),
    };
    await cleanup();
    report.durationMs = Date.now() - started;
    if (args.json) writeFileSync(args.json, `${JSON.stringify(report, null, 2)}\n`);
    log(`done in ${(report.durationMs / 1000).toFixed(1)} s${args.json ? `; JSON in ${args.json}` : ''}`);
    const errors = results.flatMap((r) => Object.entries(r.runtimes).filter(([, o]) => o.status === 'error').map(([n, o]) => `${r.name}/${n}: ${o.reason}`));
    for (const [n, o] of Object.entries(oci?.runtimes ?? {})) if (o.status === 'error') errors.push(`oci/${n}: ${o.reason}`);
    if (errors.length) {
      log(`errors:\n  ${errors.join('\n  ')}`);
      return 1;
    }
    return 0;
  } finally {
    await cleanup();
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`bench: ${(e as Error).message ?? e}\n`);
    process.exit(2);
  },
);
