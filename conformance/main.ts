// berth-conformance: a CRI conformance suite for any runtime, driven only through its
// CRI socket.
//
//   npm run conformance -- --endpoint unix:///run/containerd/containerd.sock \
//       [--registry 127.0.0.1:5000] [--json out.json] [--junit out.xml] [--focus REGEX]
//
// Builds its test images (busybox-static, catatonit) and pushes them to a registry it
// starts on 127.0.0.1 (or to --registry), probes which RPCs the runtime implements, runs
// every spec, and reports passed / failed / not supported / skipped. Exit status 1 when
// any spec failed, 2 on a usage or setup error.
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { criClient } from './client.js';
import { pushSuiteImages } from './images.js';
import { buildReport, humanReport, junitReport, progressLine, type Report } from './report.js';
import { isSlicePrefix, probeRpcs, runSpecs, scaleMs, type SpecResult } from './runner.js';
import { AREAS } from './spec.js';
import { allSpecs } from './specs/index.js';
import { startRegistry, type TestRegistry } from '../test/helpers/registry.js';

export interface ConformanceOptions {
  /** unix:///path/to.sock */
  endpoint: string;
  /** `host:port` of a plain-HTTP registry the suite may push to; default: one it starts. */
  registry?: string;
  /** A registry behind basic auth for the auth spec; default: one it starts (if it starts registries). */
  authRegistry?: { host: string; username: string; password: string };
  /** Only specs whose id or title matches. */
  focus?: RegExp;
  /** Leave out specs whose id or title matches. */
  skip?: RegExp;
  /** Specs run at once (default 3). */
  concurrency?: number;
  /** Where pod log directories go (the runtime must allow it; kubelet's is /var/log/pods). */
  logRoot?: string;
  /**
   * cgroup_parent prefix for pods: a cgroupfs path (each pod gets `<prefix>-pod<uid>`), a
   * systemd slice prefix without '/' (each pod gets `<prefix>-pod<uid>.slice`), or 'none'.
   * Default: /berth-conformance-<run>, or berthconf_<run> when RuntimeConfig says SYSTEMD.
   */
  cgroupParent?: string;
  /** Only specs of these areas (spec.ts AREAS). */
  areas?: readonly string[];
  /** Multiplies every deadline and timeout of the runner (emulated guests). Default 1. */
  timeScale?: number;
  runtimeHandler?: string;
  /** mkdtemp prefix of the suite's scratch directory (default /tmp/berth-conformance-). */
  tmpPrefix?: string;
  onResult?: (r: SpecResult) => void;
  log?: (msg: string) => void;
}

export async function runConformance(opts: ConformanceOptions): Promise<Report> {
  const log = opts.log ?? (() => undefined);
  const started = new Date();
  const runId = randomBytes(3).toString('hex');
  const client = criClient(opts.endpoint);
  const registries: TestRegistry[] = [];
  const workDir = await mkdtemp(opts.tmpPrefix ?? '/tmp/berth-conformance-');
  try {
    scaleMs(1, opts.timeScale); // a bad scale fails here, before anything starts
    const unknown = (opts.areas ?? []).filter((a) => !(AREAS as readonly string[]).includes(a));
    if (unknown.length) throw new Error(`unknown area ${unknown.join(', ')} (areas: ${AREAS.join(', ')})`);
    const v = await client.call('Version', { version: 'v1' }, { timeoutMs: scaleMs(10_000, opts.timeScale) }).catch((e: Error) => {
      throw new Error(`the endpoint ${opts.endpoint} does not answer Version: ${e.message}`);
    });
    log(`runtime: ${v.runtime_name} ${v.runtime_version} (CRI ${v.runtime_api_version})`);

    let registry = opts.registry;
    let auth = opts.authRegistry;
    if (!registry) {
      const r = await startRegistry();
      registries.push(r);
      registry = r.host;
      if (!auth && spawnSync('htpasswd', ['-h']).error === undefined) {
        const password = randomBytes(8).toString('hex');
        const ar = await startRegistry({ users: { conformance: password } });
        registries.push(ar);
        auth = { host: ar.host, username: 'conformance', password };
      }
      log(`registry: ${registry}${auth ? `, with basic auth: ${auth.host}` : ''}`);
    }
    const t0 = Date.now();
    const images = await pushSuiteImages(`http://${registry}`, auth ? { url: `http://${auth.host}`, username: auth.username, password: auth.password } : undefined);
    log(`images built and pushed in ${Date.now() - t0} ms`);

    const probe = await probeRpcs(client, opts.timeScale);
    const unsupported = [...probe].filter(([, p]) => !p.supported).map(([r]) => r);
    log(`RPCs answering UNIMPLEMENTED: ${unsupported.length ? unsupported.join(', ') : 'none'}`);

    let cgroupParent = opts.cgroupParent ?? `/berth-conformance-${runId}`;
    if (!opts.cgroupParent && probe.get('RuntimeConfig')?.supported) {
      // cgroupfs paths mean nothing to a runtime with the systemd driver: slices, as kubelet sends them.
      const rc = await client.call('RuntimeConfig', {}).catch(() => undefined);
      if (rc?.linux?.cgroup_driver === 'SYSTEMD') cgroupParent = `berthconf_${runId}`;
    }
    if (cgroupParent === 'none') cgroupParent = '';
    log(`cgroup_parent: ${cgroupParent === '' ? 'none' : isSlicePrefix(cgroupParent) ? `slices ${cgroupParent}-pod<uid>.slice` : `${cgroupParent}-pod<uid>`}${opts.timeScale && opts.timeScale !== 1 ? `; deadlines × ${opts.timeScale}` : ''}`);
    const specs = allSpecs.filter((s) => (!opts.areas || opts.areas.includes(s.area)) && (!opts.focus || opts.focus.test(s.id) || opts.focus.test(s.title)) && !(opts.skip && (opts.skip.test(s.id) || opts.skip.test(s.title))));
    const { results, warnings } = await runSpecs({
      env: {
        client,
        images,
        logRoot: opts.logRoot ?? '/var/log/pods',
        workDir,
        cgroupParent,
        timeScale: opts.timeScale ?? 1,
        runtimeHandler: opts.runtimeHandler ?? '',
        runId,
        runtimeName: v.runtime_name,
        ...(auth ? { auth: { username: auth.username, password: auth.password, serverAddress: auth.host } } : {}),
      },
      specs,
      probe,
      concurrency: opts.concurrency ?? 3,
      available: new Set(auth ? ['authRegistry'] : []),
      onResult: opts.onResult,
    });
    return buildReport({
      endpoint: opts.endpoint,
      runtime: { name: v.runtime_name, version: v.runtime_version, apiVersion: v.runtime_api_version },
      startedAt: started,
      durationMs: Date.now() - started.getTime(),
      probe,
      results,
      warnings,
    });
  } finally {
    client.close();
    for (const r of registries) await r.stop().catch(() => undefined);
    await rm(workDir, { recursive: true, force: true });
  }
}

const USAGE = `usage: npm run conformance -- --endpoint unix:///path.sock [options]

  --endpoint URL         CRI socket of the runtime under test (required)
  --registry HOST:PORT   plain-HTTP registry to push test images to (default: start one on 127.0.0.1)
  --auth-registry HOST:PORT --auth-user USER:PASSWORD
                         a registry with basic auth for the auth spec (default: start one)
  --json FILE            write the JSON report
  --junit FILE           write JUnit XML
  --focus REGEX          run only specs whose id or title matches
  --skip REGEX           leave out specs whose id or title matches
  --concurrency N        specs at once (default 3)
  --log-root DIR         parent of pod log directories (default /var/log/pods)
  --cgroup-parent PATH   cgroup_parent prefix for pods: a cgroupfs path, a systemd slice prefix (no '/'),
                         or "none" (default /berth-conformance-<run>; berthconf_<run> under SYSTEMD)
  --area A[,A…]          run only specs of these areas (e.g. "containers,security context")
  --time-scale N         multiply every deadline and timeout by N (emulated guests: 10-40; default 1)
  --runtime-handler NAME runtime handler for every pod (default: the runtime's default)
  --list                 list the specs and the RPCs each needs, and exit
  --quiet                no progress lines

Exit status: 0 when no spec failed, 1 when one did, 2 on a usage or setup error.`;

function parseArgs(argv: string[]): Record<string, string | true> {
  const out: Record<string, string | true> = {};
  const flags = new Set(['list', 'quiet', 'help']);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const [k, inline] = a.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
    if (flags.has(k)) out[k] = true;
    else {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`--${k} needs a value`);
      out[k] = v;
    }
  }
  return out;
}

async function main(): Promise<number> {
  let args: Record<string, string | true>;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error(`${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const str = (k: string) => (typeof args[k] === 'string' ? (args[k] as string) : undefined);
  if (args.help) {
    console.log(USAGE);
    return 0;
  }
  if (args.list) {
    for (const s of allSpecs) console.log(`${s.id}\t${s.area}\t${s.title}\n\tneeds: ${s.needs.join(', ')}`);
    return 0;
  }
  const endpoint = str('endpoint');
  if (!endpoint) {
    console.error(`--endpoint is required\n\n${USAGE}`);
    return 2;
  }
  let authRegistry: ConformanceOptions['authRegistry'];
  if (str('auth-registry')) {
    const [username, ...rest] = (str('auth-user') ?? '').split(':');
    if (!username || !rest.length) {
      console.error('--auth-registry needs --auth-user USER:PASSWORD');
      return 2;
    }
    authRegistry = { host: str('auth-registry')!, username, password: rest.join(':') };
  }
  const quiet = !!args.quiet;
  let report: Report;
  try {
    report = await runConformance({
      endpoint,
      registry: str('registry'),
      authRegistry,
      focus: str('focus') ? new RegExp(str('focus')!) : undefined,
      skip: str('skip') ? new RegExp(str('skip')!) : undefined,
      concurrency: str('concurrency') ? Number(str('concurrency')) : undefined,
      logRoot: str('log-root'),
      cgroupParent: str('cgroup-parent'),
      areas: str('area')?.split(',').map((a) => a.trim()),
      timeScale: str('time-scale') ? Number(str('time-scale')) : undefined,
      runtimeHandler: str('runtime-handler'),
      onResult: quiet ? undefined : (r) => console.log(progressLine(r)),
      log: quiet ? undefined : (m) => console.log(m),
    });
  } catch (e) {
    console.error(`conformance: ${(e as Error).message}`);
    return 2;
  }
  console.log(`\n${humanReport(report)}`);
  if (str('json')) await writeFile(str('json')!, `${JSON.stringify(report, null, 2)}\n`);
  if (str('junit')) await writeFile(str('junit')!, junitReport(report));
  return report.summary.failed > 0 ? 1 : 0;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.exitCode = await main();
}
