// density: N pods (default 50) running; memory per pod as the PSS (from
// /proc/PID/smaps_rollup) of every process of the runtime — berthd and its
// shims/monitors/inits, or containerd and its shims and pause processes — with N pods,
// minus the same with no pod (the idle baseline), divided by N. The pods' workload
// processes are the same on both sides and left out.
// The idle figure is read twice: 5 s after the pods of the earlier scenarios are gone (the
// baseline of the per-pod figure), and as the floor of the runtime's PSS read every second
// for 30 s once this scenario's pods are gone. Right after a load, what a runtime holds
// depends on when its garbage collector last ran (V8's memory reducer runs after some
// seconds without allocation, Go's scavenger returns pages in the background): single
// readings of the same tree 5 s after the load were seen 35 MiB apart. The floor is what it
// comes back to.
import { removeAllPods, startPod } from '../cri.js';
import { isWorkload } from '../images.js';
import { instanceProcesses, processKind, pssKiB } from '../procs.js';
import { roundOrder, sleep, type Scenario } from '../scenario.js';
import type { BenchRuntime } from '../runtimes/types.js';
import { mean } from '../stats.js';
import { podMode } from './mode.js';

interface Measure {
  totalKiB: number;
  daemonKiB: number;
  processes: number;
  byKind: Record<string, { count: number; pssKiB: number }>;
}

function measure(rt: BenchRuntime): Measure {
  const procs = instanceProcesses(rt.dir, isWorkload);
  const m: Measure = { totalKiB: 0, daemonKiB: 0, processes: procs.length, byKind: {} };
  for (const p of procs) {
    const pss = pssKiB(p.pid);
    m.totalKiB += pss;
    if (p.pid === rt.pid()) m.daemonKiB += pss;
    const k = (m.byKind[p.pid === rt.pid() ? `${rt.name} daemon` : processKind(p)] ??= { count: 0, pssKiB: 0 });
    k.count++;
    k.pssKiB += pss;
  }
  return m;
}

const MiB = 1024;

export const density: Scenario = {
  name: 'density',
  title: 'memory per running pod (PSS of the runtime’s processes, minus idle)',
  async run(ctx, res) {
    const pods = ctx.opts.n ?? (ctx.opts.quick ? 5 : 50);
    const rounds = ctx.opts.rounds ?? 1;
    const settleMs = ctx.opts.quick ? 1000 : 5000;
    const floorMs = ctx.opts.quick ? 3000 : 30_000;
    const mode = podMode(ctx, res);
    res.result.params = { pods, rounds, settleMs, floorMs, mode: mode.label };
    res.result.notes.push('PSS splits pages shared with other processes (e.g. the node binary with the bench itself); the idle baseline takes the constant part out');
    const suffix = mode.image ? '' : ' (sandbox-only)';
    for (let r = 0; r < rounds; r++) {
      for (const rt of roundOrder(ctx.runtimes, r)) {
        if (!res.ok(rt.name)) continue;
        try {
          await removeAllPods(rt, ctx.runId);
          await sleep(settleMs);
          const idle = measure(rt);
          for (let i = 0; i < pods; i++) await startPod(rt, ctx.runId, `density-${r}-${i}`, mode.image);
          await sleep(settleMs);
          const full = measure(rt);
          await removeAllPods(rt, ctx.runId);
          const readings = [measure(rt)];
          for (const end = Date.now() + floorMs; Date.now() < end; ) {
            await sleep(1000);
            readings.push(measure(rt));
          }
          // The lowest among readings of the processes the runtime settled on (the last
          // reading's count): a pod's shim still exiting, or a spare shim being replaced, is
          // neither the floor nor a dip below it.
          const settled = readings[readings.length - 1]!.processes;
          const floor = readings.filter((m) => m.processes === settled).reduce((a, b) => (b.totalKiB < a.totalKiB ? b : a));
          res.sample(rt.name, 'idle floor KiB', floor.totalKiB);
          res.sample(rt.name, 'PSS per pod KiB', (full.totalKiB - idle.totalKiB) / pods);
          res.sample(rt.name, 'daemon growth per pod KiB', (full.daemonKiB - idle.daemonKiB) / pods);
          res.sample(rt.name, 'per-pod processes KiB', (full.totalKiB - full.daemonKiB - (idle.totalKiB - idle.daemonKiB)) / pods);
          res.sample(rt.name, 'processes per pod', (full.processes - idle.processes) / pods);
          res.sample(rt.name, 'idle KiB', idle.totalKiB);
          res.result.runtimes[rt.name].details[`round ${r}`] = { idle, full, floor };
        } catch (e) {
          res.fail(rt.name, e);
          await removeAllPods(rt, ctx.runId).catch(() => undefined);
        }
      }
    }
    for (const rt of ctx.runtimes) {
      const f = (series: string) => mean(res.samples(rt.name, series));
      res.figure(`PSS per pod at ${pods} pods${suffix}`, 'MiB', rt.name, f('PSS per pod KiB') / MiB);
      res.figure(`PSS per pod: daemon growth${suffix}`, 'MiB', rt.name, f('daemon growth per pod KiB') / MiB);
      res.figure(`PSS per pod: per-pod processes${suffix}`, 'MiB', rt.name, f('per-pod processes KiB') / MiB);
      res.figure(`runtime processes per pod${suffix}`, 'count', rt.name, f('processes per pod'));
      res.figure('idle runtime PSS', 'MiB', rt.name, f('idle KiB') / MiB);
      res.figure(`idle runtime PSS, floor over ${floorMs / 1000} s`, 'MiB', rt.name, f('idle floor KiB') / MiB);
    }
  },
};
