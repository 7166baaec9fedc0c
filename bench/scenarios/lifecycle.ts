// lifecycle: one pod with one container through its whole life, image present:
// RunPodSandbox → CreateContainer → StartContainer → RUNNING (pod-to-running), then
// StopContainer → RemoveContainer → StopPodSandbox → RemovePodSandbox; per-RPC latency.
import { startPod, timed } from '../cri.js';
import { alternate, latencyFigures, requireCaps, type Scenario } from '../scenario.js';

export const lifecycle: Scenario = {
  name: 'lifecycle',
  title: 'pod lifecycle with one container, image present',
  async run(ctx, res) {
    const rounds = ctx.opts.n ?? (ctx.opts.quick ? 3 : 50);
    const warmup = ctx.opts.quick ? 1 : 3;
    res.result.params = { rounds, warmup, image: ctx.images.busybox };
    res.result.notes.push('pod-to-running: RunPodSandbox → CreateContainer → StartContainer → ContainerStatus RUNNING', 'StopContainer with timeout 0 (the workload, `sleep` as PID 1, ignores SIGTERM)');
    requireCaps(ctx, res, ['containers']);
    await alternate(ctx, res, warmup + rounds, async (rt, r) => {
      const pod = await startPod(rt, ctx.runId, `lifecycle-${r}`, ctx.images.busybox);
      const stopC = await timed(rt, 'StopContainer', { container_id: pod.containerId, timeout: 0 });
      const removeC = await timed(rt, 'RemoveContainer', { container_id: pod.containerId });
      const stopP = await timed(rt, 'StopPodSandbox', { pod_sandbox_id: pod.podId });
      const removeP = await timed(rt, 'RemovePodSandbox', { pod_sandbox_id: pod.podId });
      if (r < warmup) return;
      res.sample(rt.name, 'pod-to-running', pod.times.toRunning);
      res.sample(rt.name, 'RunPodSandbox', pod.times.RunPodSandbox);
      res.sample(rt.name, 'CreateContainer', pod.times.CreateContainer!);
      res.sample(rt.name, 'StartContainer', pod.times.StartContainer!);
      res.sample(rt.name, 'StopContainer', stopC.ms);
      res.sample(rt.name, 'RemoveContainer', removeC.ms);
      res.sample(rt.name, 'StopPodSandbox', stopP.ms);
      res.sample(rt.name, 'RemovePodSandbox', removeP.ms);
    });
    latencyFigures(ctx, res, ['pod-to-running', 'RunPodSandbox', 'CreateContainer', 'StartContainer', 'StopContainer', 'RemoveContainer', 'StopPodSandbox', 'RemovePodSandbox']);
  },
};
