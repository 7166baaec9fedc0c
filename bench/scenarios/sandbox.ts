// sandbox: RunPodSandbox → StopPodSandbox → RemovePodSandbox, per-RPC latency.
import { podConfig, timed } from '../cri.js';
import { alternate, latencyFigures, type Scenario } from '../scenario.js';

export const sandbox: Scenario = {
  name: 'sandbox',
  title: 'pod sandbox: RunPodSandbox → StopPodSandbox → RemovePodSandbox',
  async run(ctx, res) {
    const rounds = ctx.opts.n ?? (ctx.opts.quick ? 3 : 50);
    const warmup = ctx.opts.quick ? 1 : 3;
    res.result.params = { rounds, warmup };
    await alternate(ctx, res, warmup + rounds, async (rt, r) => {
      const config = await podConfig(rt, ctx.runId, `sandbox-${r}`);
      const run = await timed(rt, 'RunPodSandbox', { config, runtime_handler: '' });
      const id = run.res.pod_sandbox_id as string;
      const stop = await timed(rt, 'StopPodSandbox', { pod_sandbox_id: id });
      const remove = await timed(rt, 'RemovePodSandbox', { pod_sandbox_id: id });
      if (r < warmup) return;
      res.sample(rt.name, 'RunPodSandbox', run.ms);
      res.sample(rt.name, 'StopPodSandbox', stop.ms);
      res.sample(rt.name, 'RemovePodSandbox', remove.ms);
      res.sample(rt.name, 'whole cycle', run.ms + stop.ms + remove.ms);
    });
    latencyFigures(ctx, res, ['RunPodSandbox', 'StopPodSandbox', 'RemovePodSandbox', 'whole cycle']);
  },
};
