// The reference run: the suite against a private containerd (Debian's containerd 1.6,
// conformance/runtimes/containerd.ts) and against a test berthd (test/helpers/berthd.ts),
// each on its own socket, directories and CNI bridge, sharing one registry pair on
// 127.0.0.1. Writes both JSON reports (the README table is generated from them).
//
//   npm run conformance:reports [-- --out DIR] [--focus REGEX] [--runtime containerd|berth]     (root; default DIR conformance/reports)
//
// The integration test test/integration/conformance.test.ts uses the same functions.
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runConformance, type ConformanceOptions } from './main.js';
import { humanReport, progressLine, type Report } from './report.js';
import { startContainerd } from './runtimes/containerd.js';
import { startRegistry, type TestRegistry } from '../test/helpers/registry.js';
import { startBerthd, TEST_PREFIX } from '../test/helpers/berthd.js';

export interface Registries {
  registry: TestRegistry;
  auth: TestRegistry;
  authUser: { username: string; password: string };
  stop(): Promise<void>;
}

/** An open registry and one behind basic auth, both on 127.0.0.1. */
export async function startRegistries(): Promise<Registries> {
  const password = randomBytes(8).toString('hex');
  const registry = await startRegistry();
  let auth: TestRegistry;
  try {
    auth = await startRegistry({ users: { conformance: password } });
  } catch (e) {
    await registry.stop();
    throw e;
  }
  return {
    registry,
    auth,
    authUser: { username: 'conformance', password },
    async stop() {
      await registry.stop();
      await auth.stop();
    },
  };
}

type Common = Pick<ConformanceOptions, 'focus' | 'skip' | 'concurrency' | 'onResult' | 'log'>;

function suiteOptions(regs: Registries, common: Common): Omit<ConformanceOptions, 'endpoint' | 'logRoot'> {
  return {
    ...common,
    registry: regs.registry.host,
    authRegistry: { host: regs.auth.host, ...regs.authUser },
    // Names the leftover check (test/leftovers.ts) knows: cgroups and scratch dirs.
    cgroupParent: `/berth-test-conformance-${randomBytes(3).toString('hex')}`,
    tmpPrefix: `${TEST_PREFIX}conformance-`,
  };
}

/** The suite against a private containerd; everything it made is gone afterwards. */
export async function runAgainstContainerd(regs: Registries, common: Common = {}): Promise<Report> {
  const ctd = await startContainerd({ registry: regs.registry.host, dirPrefix: `${TEST_PREFIX}containerd-` });
  try {
    return await runConformance({ ...suiteOptions(regs, common), endpoint: ctd.endpoint, logRoot: join(ctd.dir, 'pod-logs') });
  } finally {
    await ctd.cleanup();
  }
}

/** The suite against a test berthd (the built dist/server/main.js). */
export async function runAgainstBerthd(regs: Registries, common: Common = {}): Promise<Report> {
  const b = await startBerthd();
  try {
    return await runConformance({ ...suiteOptions(regs, common), endpoint: `unix://${b.socket}`, logRoot: b.logRoot });
  } finally {
    await b.cleanup();
  }
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const opt = (k: string) => {
    const i = args.indexOf(`--${k}`);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const out = opt('out') ?? 'conformance/reports';
  const focus = opt('focus') ? new RegExp(opt('focus')!) : undefined;
  const common: Common = { focus, onResult: (r) => console.log(progressLine(r)), log: (m) => console.log(m) };
  const regs = await startRegistries();
  try {
    await mkdir(out, { recursive: true });
    let failed = 0;
    const only = opt('runtime');
    for (const [name, fn] of [
      ['containerd', runAgainstContainerd],
      ['berth', runAgainstBerthd],
    ] as const) {
      if (only && only !== name) continue;
      console.log(`\n== ${name} ==`);
      const rep = await fn(regs, common);
      console.log(`\n${humanReport(rep)}`);
      await writeFile(join(out, `${name}.json`), `${JSON.stringify(rep, null, 2)}\n`);
      failed += rep.summary.failed;
    }
    console.log(`\nreports written to ${out}/containerd.json and ${out}/berth.json; regenerate the README table with npm run conformance:table`);
    return failed ? 1 : 0;
  } finally {
    await regs.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.exitCode = await main();
}
