// burst: N pods (default 10) started at once; wall time until all are running.
import { removeAllPods, startPod, now } from '../cri.js';
import { alternate, sleep, type Scenario } from '../scenario.js';
import { max, p50, p95 } from '../stats.js';
import { podMode } from './mode.js';

export const burst: Scenario = {
  name: 'burst',
  title: 'pods started concurrently: wall time until all are running',
  async run(ctx, res) {
    const pods = ctx.opts.n ?? (ctx.opts.quick ? 5 : 10);
    const rounds = ctx.opts.rounds ?? (ctx.opts.quick ? 1 : 5);
    const warmup = ctx.opts.quick ? 0 : 1;
    const mode = podMode(ctx, res);
    res.result.params = { pods, rounds, warmup, mode: mode.label };
    await alternate(ctx, res, warmup + rounds, async (rt, r) => {
      const t0 = now();
      const settled = await Promise.allSettled(Array.from({ length: pods }, (_, i) => startPod(rt, ctx.runId, `burst-${r}-${i}`, mode.image)));
      const wall = now() - t0;
      const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
      await removeAllPods(rt, ctx.runId);
      if (failed) throw failed.reason;
      await sleep(ctx.opts.quick ? 200 : 1000);
      if (r < warmup) return;
      res.sample(rt.name, 'wall', wall);
      for (const s of settled) if (s.status === 'fulfilled') res.sample(rt.name, 'pod-to-running in burst', s.value.times.toRunning);
    });
    const suffix = mode.image ? '' : ' (sandbox-only)';
    for (const rt of ctx.runtimes) {
      const wall = res.samples(rt.name, 'wall');
      const each = res.samples(rt.name, 'pod-to-running in burst');
      res.figure(`${pods} pods wall p50${suffix}`, 'ms', rt.name, p50(wall));
      res.figure(`${pods} pods wall max${suffix}`, 'ms', rt.name, max(wall));
      res.figure(`per pod to running p50${suffix}`, 'ms', rt.name, p50(each));
      res.figure(`per pod to running p95${suffix}`, 'ms', rt.name, p95(each));
    }
  },
};
