// soak (berth only): 100 pods started at once, then 1,000 full pod lifecycles in a row with
// ExecSync and log traffic (bench/soak.ts). Figures: errors, berthd's RSS and open fds at the
// 100th cycle (the warm point) and at the last, and any growth of berthd's in-memory tables.
// Not part of the default run (`--scenario soak`); it takes tens of minutes at full size.
import { runSoak, grownTables, PER_POD_TABLES } from '../soak.js';
import { requireCaps, type Scenario } from '../scenario.js';

export const soak: Scenario = {
  name: 'soak',
  title: 'soak: a burst of pods, then pod lifecycles in a row; berthd RSS, fds and tables',
  async run(ctx, res) {
    const cycles = ctx.opts.n ?? (ctx.opts.quick ? 20 : 1000);
    const burst = ctx.opts.quick ? 10 : 100;
    const warm = Math.min(100, Math.floor(cycles / 5));
    const sampleEvery = ctx.opts.quick ? 5 : 10;
    res.result.params = { cycles, burst, warmCycle: warm, sampleEvery, image: ctx.images.busybox, tables: PER_POD_TABLES };
    res.result.notes.push(
      'berth only: the table sizes come from berthd\'s admin socket (GET /v1/debug/sizes)',
      'a cycle: RunPodSandbox, a container writing 50 log lines (all checked in its log file), 3 ExecSync, ContainerStats, PodSandboxStats, ListContainerStats, StopContainer, RemoveContainer, StopPodSandbox, RemovePodSandbox',
      `RSS is VmRSS, fds the entries of /proc/PID/fd, heap V8's heapUsed, sampled every ${sampleEvery} cycles between cycles; V8 collects garbage when it likes, so RSS growth compares the highest RSS of the ${warm} cycles after cycle ${warm} with the highest of the last ${warm} cycles`,
    );
    requireCaps(ctx, res, ['containers', 'exec']);
    res.fail('containerd', 'n/a: the soak runs berth only');
    const rt = ctx.runtimes.find((r) => r.name === 'berth');
    if (!rt || !res.ok('berth')) return;
    const out = await runSoak(rt, { cycles, burst, image: ctx.images.busybox, runId: ctx.runId, sampleEvery, log: (m) => ctx.log(`soak ${m}`) });
    const at = out.samples.find((s) => s.cycle >= warm) ?? out.samples[0]!;
    const last = out.samples[out.samples.length - 1]!;
    const r = res.result.runtimes.berth;
    r.details = { samples: out.samples, errors: out.errors.slice(0, 50), burst: out.burst };
    for (const s of out.samples) {
      res.sample('berth', 'rss KiB', s.rssKiB);
      res.sample('berth', 'fds', s.fds);
    }
    const grown = grownTables(out.samples);
    // Peaks of two equal windows: the one after the warm point and the last one.
    const peak = (xs: typeof out.samples, f: (s: (typeof out.samples)[number]) => number) => Math.max(...xs.map(f));
    const early = out.samples.filter((s) => s.cycle >= warm && s.cycle <= 2 * warm);
    const late = out.samples.filter((s) => s.cycle > last.cycle - warm);
    res.figure(`${burst} pods started at once: wall`, 'ms', 'berth', out.burst.wallMs);
    res.figure(`${burst} pods at once: errors`, 'count', 'berth', out.burst.errors.length);
    res.figure('cycles', 'count', 'berth', out.cycles);
    res.figure('errors', 'count', 'berth', out.errors.length);
    res.figure(`RSS at cycle ${at.cycle}`, 'MiB', 'berth', at.rssKiB / 1024);
    res.figure(`RSS at cycle ${last.cycle}`, 'MiB', 'berth', last.rssKiB / 1024);
    res.figure(`RSS peak, cycles ${warm}-${2 * warm}`, 'MiB', 'berth', peak(early, (s) => s.rssKiB) / 1024);
    res.figure(`RSS peak, last ${warm} cycles`, 'MiB', 'berth', peak(late, (s) => s.rssKiB) / 1024);
    res.figure('RSS growth (peak to peak)', 'MiB', 'berth', (peak(late, (s) => s.rssKiB) - peak(early, (s) => s.rssKiB)) / 1024);
    res.figure(`heap used peak, cycles ${warm}-${2 * warm}`, 'MiB', 'berth', peak(early, (s) => s.sizes.heapUsedKiB ?? 0) / 1024);
    res.figure(`heap used peak, last ${warm} cycles`, 'MiB', 'berth', peak(late, (s) => s.sizes.heapUsedKiB ?? 0) / 1024);
    res.figure(`fds max after cycle ${at.cycle}`, 'count', 'berth', peak(out.samples.filter((s) => s.cycle >= at.cycle), (s) => s.fds));
    res.figure(`fds at cycle ${at.cycle}`, 'count', 'berth', at.fds);
    res.figure(`fds at cycle ${last.cycle}`, 'count', 'berth', last.fds);
    res.figure('tables that grew', 'count', 'berth', grown.length);
    for (const g of grown) res.result.notes.push(`table grew: ${g}`);
    const problems = [...out.burst.errors, ...out.errors].slice(0, 5);
    if (problems.length) res.fail('berth', new Error(`${out.burst.errors.length + out.errors.length} error(s): ${problems.join('; ')}`));
    else if (grown.length) res.fail('berth', new Error(`tables grew: ${grown.join('; ')}`));
  },
};
