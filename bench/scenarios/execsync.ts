// execsync: ExecSync latency in a running container (`echo`, output checked).
import { removeAllPods, startPod, timed } from '../cri.js';
import { alternate, latencyFigures, requireCaps, type Scenario } from '../scenario.js';
import type { RuntimeName } from '../runtimes/types.js';

export const execsync: Scenario = {
  name: 'execsync',
  title: 'ExecSync in a running container',
  async run(ctx, res) {
    const rounds = ctx.opts.n ?? (ctx.opts.quick ? 10 : 100);
    const warmup = 3;
    const cmd = ['/bin/echo', 'berth-bench'];
    res.result.params = { rounds, warmup, cmd };
    requireCaps(ctx, res, ['containers', 'exec']);
    const containers: Partial<Record<RuntimeName, string>> = {};
    await alternate(ctx, res, 1, async (rt) => {
      containers[rt.name] = (await startPod(rt, ctx.runId, 'execsync', ctx.images.busybox)).containerId!;
    });
    await alternate(ctx, res, warmup + rounds, async (rt, r) => {
      const x = await timed(rt, 'ExecSync', { container_id: containers[rt.name], cmd, timeout: 10 });
      const out = Buffer.from(x.res.stdout ?? '').toString();
      if (x.res.exit_code !== 0 || !out.includes('berth-bench')) throw new Error(`${rt.name} ExecSync: exit ${x.res.exit_code}, stdout ${JSON.stringify(out)}`);
      if (r >= warmup) res.sample(rt.name, 'ExecSync', x.ms);
    });
    for (const rt of ctx.runtimes) await removeAllPods(rt, ctx.runId).catch((e: Error) => res.fail(rt.name, e));
    latencyFigures(ctx, res, ['ExecSync']);
  },
};
