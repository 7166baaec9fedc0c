// The quick soak (issue 14, item 5; the full one is `bench/run --scenario soak`): 10 pods
// started at once, then 40 full pod lifecycles in a row, each with a container writing 50
// log lines (all checked in its CRI log file), ExecSync and the stats RPCs (bench/soak.ts).
// Asserts zero errors, that every per-pod in-memory table of berthd (admin GET
// /v1/debug/sizes: pods, containers, keyed locks, stats samples, event listeners, shim jobs,
// OOM marks, streaming connections) is back to its size before the first cycle, and that berthd's open
// file descriptors do not grow after the warm-up. Never asserts a timing or a memory size.
import test from 'ava';
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { isRoot } from '../helpers/berthd.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { buildImage, busyboxLayer, pushImage } from '../helpers/image-builder.js';
import { startBenchBerthd } from '../../bench/runtimes/berth.js';
import type { BenchRuntime } from '../../bench/runtimes/types.js';
import { call, removeAllPods } from '../../bench/cri.js';
import { grownTables, runSoak, PER_POD_TABLES } from '../../bench/soak.js';

const CYCLES = Number(process.env.BERTH_SOAK_CYCLES ?? 40);
const WARM = Math.max(1, Math.floor(CYCLES / 6));
/** Slack for descriptors that come and go between cycles (a spare shim's pipes being replaced). */
const FD_SLACK = 6;

const why = !isRoot() ? 'it needs root' : !existsSync('/usr/bin/docker-registry') ? 'docker-registry is not installed' : undefined;
if (why) console.log(`soak skipped: ${why}`);
const maybe = why ? test.skip : test;

maybe('quick soak: pod lifecycles leave no table entries behind and fds flat', async (t) => {
  t.timeout(10 * 60_000);
  let reg: TestRegistry | undefined;
  let rt: BenchRuntime | undefined;
  const runId = randomBytes(4).toString('hex');
  try {
    reg = await startRegistry();
    const image = `${reg.host}/test/busybox:v1`;
    await pushImage(reg.url, 'test/busybox', 'v1', await buildImage({ layers: [busyboxLayer()], config: { Cmd: ['/bin/sh'] } }));
    [rt] = await startBenchBerthd();
    await call(rt, 'PullImage', { image: { image } }, 300_000);
    const out = await runSoak(rt, { cycles: CYCLES, burst: 10, image, runId, sampleEvery: WARM, log: (m) => t.log(m) });
    t.deepEqual([...out.burst.errors, ...out.errors], [], 'no errors');
    t.is(out.cycles, CYCLES);
    // Back to the size before the first cycle (0, except berthd's own event-ring subscriber).
    const base = out.samples[0]!.sizes;
    for (const s of out.samples) for (const k of PER_POD_TABLES) t.is(s.sizes[k], base[k], `${k} holds ${s.sizes[k]} entries after cycle ${s.cycle} with no pod left (${base[k]} before)`);
    t.is(base.sandboxes, 0);
    t.is(base.containers, 0);
    t.deepEqual(grownTables(out.samples), [], 'no table grew');
    const warm = out.samples.find((s) => s.cycle >= WARM)!;
    const maxFds = Math.max(...out.samples.filter((s) => s.cycle >= WARM).map((s) => s.fds));
    t.true(maxFds <= warm.fds + FD_SLACK, `berthd fds: ${out.samples.map((s) => `${s.fds} at ${s.cycle}`).join(', ')}`);
    t.log(`fds ${out.samples.map((s) => `${s.fds}@${s.cycle}`).join(' ')}; RSS MiB ${out.samples.map((s) => `${(s.rssKiB / 1024).toFixed(0)}@${s.cycle}`).join(' ')}`);
  } finally {
    if (rt) await removeAllPods(rt, runId).catch(() => undefined);
    await rt?.stop();
    await reg?.stop();
  }
});
