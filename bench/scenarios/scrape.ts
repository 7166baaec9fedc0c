// scrape: the cost of berthd's Prometheus endpoint as pods grow. At 10, 50 and 100 running
// containers (one per pod): scrape latency p50/p95, berthd CPU per scrape (its
// utime+stime from /proc over a run of scrapes, less the sampling rounds in between, divided
// by their number) and CPU per
// sampling round (from berthd's own berth_metrics_sample_cpu_seconds_total and
// berth_metrics_sample_duration_seconds_count), and at the largest count berthd's RSS
// across 1,000 scrapes, twice (the first run includes V8 growing its heap to the load).
// berth only: containerd serves no cAdvisor families.
import { readFileSync } from 'node:fs';
import { removeAllPods, startPod } from '../cri.js';
import { rssKiB } from '../procs.js';
import { sleep, type Scenario } from '../scenario.js';
import { percentile } from '../stats.js';
import type { BenchRuntime } from '../runtimes/types.js';

const TICK_S = 0.01; // USER_HZ = 100 on Linux

/** utime + stime of a process, in seconds. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * TICK_S;
}

function counter(text: string, name: string): number {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

async function scrape(url: string): Promise<{ ms: number; text: string }> {
  const t0 = performance.now();
  const text = await (await fetch(url)).text();
  return { ms: performance.now() - t0, text };
}

/** Waits for `rounds` more sampling rounds; their CPU seconds each, from berthd's own counters. */
async function roundCpu(url: string, rounds: number, timeoutMs: number): Promise<number> {
  const first = (await scrape(url)).text;
  const n0 = counter(first, 'berth_metrics_sample_duration_seconds_count');
  const c0 = counter(first, 'berth_metrics_sample_cpu_seconds_total');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await sleep(1000);
    const text = (await scrape(url)).text;
    const n = counter(text, 'berth_metrics_sample_duration_seconds_count');
    if (n - n0 >= rounds) return (counter(text, 'berth_metrics_sample_cpu_seconds_total') - c0) / (n - n0);
    if (Date.now() > deadline) throw new Error(`fewer than ${rounds} sampling rounds in ${timeoutMs} ms`);
  }
}

export const scrape_: Scenario = {
  name: 'scrape',
  title: 'Prometheus scrape of berthd: latency and CPU per scrape and per sampling round',
  async run(ctx, res) {
    const levels = ctx.opts.quick ? [5] : ctx.opts.n ? [ctx.opts.n] : [10, 50, 100];
    const scrapes = ctx.opts.quick ? 20 : 100;
    const rssScrapes = ctx.opts.quick ? 100 : 1000;
    res.result.params = { containers: levels, scrapesPerLevel: scrapes, rssScrapes };
    res.fail('containerd', 'n/a: containerd serves no per-container cAdvisor families');
    const rt = ctx.runtimes.find((r) => r.name === 'berth') as (BenchRuntime & { metricsUrl?: () => string | undefined }) | undefined;
    if (!rt || !res.ok('berth')) return;
    try {
      const url = rt.metricsUrl?.();
      if (!url) throw new Error('berthd under test serves no metrics endpoint');
      await removeAllPods(rt, ctx.runId);
      let running = 0;
      for (const n of levels) {
        while (running < n) await startPod(rt, ctx.runId, `scrape-${running++}`, ctx.images.busybox);
        // Sampling rounds run every interval (10 s by default). The average of six with all
        // containers (one with --quick): a round reads the limits of one target in six and
        // walks the writable layers whose minute is up, so six rounds are one full cycle of
        // both, as in steady state; fewer would weigh the rounds right after the containers
        // started (all limits and all layers at once) as if every round were one.
        const perRound = await roundCpu(url, ctx.opts.quick ? 1 : 6, 150_000);
        const pid = rt.pid();
        const c0 = cpuSeconds(pid);
        const times: number[] = [];
        let first = '';
        let last = '';
        for (let i = 0; i < scrapes; i++) {
          const s = await scrape(url);
          times.push(s.ms);
          if (i === 0) first = s.text;
          last = s.text;
        }
        // berthd's CPU over the scrapes, less what its sampling rounds took meanwhile.
        const sampling = counter(last, 'berth_metrics_sample_cpu_seconds_total') - counter(first, 'berth_metrics_sample_cpu_seconds_total');
        const cpuPerScrape = ((cpuSeconds(pid) - c0 - sampling) / scrapes) * 1000;
        const series = last.split('\n').filter((l) => l.startsWith('container_')).length;
        res.figure(`scrape p50 at ${n} containers`, 'ms', 'berth', percentile(times, 0.5));
        res.figure(`scrape p95 at ${n} containers`, 'ms', 'berth', percentile(times, 0.95));
        res.figure(`berthd CPU per scrape at ${n} containers`, 'ms', 'berth', cpuPerScrape);
        res.figure(`berthd CPU per sampling round at ${n} containers`, 'ms', 'berth', perRound * 1000);
        res.result.runtimes.berth.details[`${n} containers`] = { containerSeries: series };
        ctx.log(`scrape: ${n} containers, ${series} container series, p50 ${percentile(times, 0.5).toFixed(1)} ms, CPU ${cpuPerScrape.toFixed(1)} ms/scrape, ${(perRound * 1000).toFixed(1)} ms/round`);
      }
      // RSS across two runs of scrapes: the first also holds V8 sizing its heap for the new
      // load (old space grows to a level and stays: garbage, not a leak); the second, at that
      // level, is where a leak would show.
      const pid = rt.pid();
      const r0 = rssKiB(pid);
      for (let i = 0; i < rssScrapes; i++) await scrape(url);
      const r1 = rssKiB(pid);
      for (let i = 0; i < rssScrapes; i++) await scrape(url);
      const r2 = rssKiB(pid);
      res.figure(`berthd RSS growth over the first ${rssScrapes} scrapes at ${running} containers`, 'MiB', 'berth', (r1 - r0) / 1024);
      res.figure(`berthd RSS growth over the next ${rssScrapes} scrapes at ${running} containers`, 'MiB', 'berth', (r2 - r1) / 1024);
      ctx.log(`scrape: RSS ${(r0 / 1024).toFixed(1)} → ${(r1 / 1024).toFixed(1)} → ${(r2 / 1024).toFixed(1)} MiB over 2 × ${rssScrapes} scrapes`);
      await removeAllPods(rt, ctx.runId);
    } catch (e) {
      res.fail('berth', e);
      await removeAllPods(rt, ctx.runId).catch(() => undefined);
    }
  },
};
