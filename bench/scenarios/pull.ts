// pull: PullImage of a ~150 MB image of 5 random (incompressible) layers from the local
// registry, pull + unpack; time, throughput, and memory during the pull: the daemon's own
// peak RSS (its VmHWM, reset right before the pull: exact, not sampled) and, sampled,
// the private memory of the other processes of the runtime (berth's spare shims, `sync`,
// a zstd decompressor; containerd's unpigz), so work moved out of the daemon still counts.
// The image is removed between rounds on both runtimes.
// pull-files: the same with an image of 3 layers of many small text files (9,000 in all;
// 900 in quick mode), where the time goes into creating files, not into bytes.
import { run } from '../../hostutil/exec.js';
import { call, timed } from '../cri.js';
import { isWorkload } from '../images.js';
import { instanceProcesses, peakRssKiB, privateKiB, resetPeakRss, rssKiB } from '../procs.js';
import { alternate, requireCaps, sleep, type Scenario } from '../scenario.js';
import { diskBytes } from '../disk.js';
import type { BenchRuntime } from '../runtimes/types.js';
import { max, p50, p95 } from '../stats.js';

/**
 * Samples (every 50 ms) the summed private memory of the instance's processes other than
 * the daemon; returns the peak and what ran then. Private, not RSS: a node helper (the
 * spare berth-shim) has ~40 MiB of RSS that is the node binary and libraries, the same
 * pages the daemon's RSS already counts.
 */
function helperSampler(rt: BenchRuntime): { stop(): { kib: number; procs: string } } {
  let peak = 0;
  let procs = '';
  const tick = () => {
    const list = instanceProcesses(rt.dir, isWorkload).filter((p) => p.pid !== rt.pid());
    const sizes = list.map((p) => ({ name: p.comm, kib: privateKiB(p.pid) }));
    const total = sizes.reduce((n, x) => n + x.kib, 0);
    if (total > peak) {
      peak = total;
      procs = sizes.map((x) => `${x.name} ${(x.kib / 1024).toFixed(1)} MiB`).join(', ');
    }
  };
  const timer = setInterval(tick, 50);
  return {
      stop() {
        clearInterval(timer);
        tick();
        return { kib: peak, procs };
      },
    };
  }

  /**
   * Removes the image and waits (up to 10 s) until the runtime's image store is back to
   * `baseline` bytes (what it holds without this image, give or take a tenth of the image),
   * so the next round pulls into a cold store; returns the bytes on disk.
   */
  async function ensureAbsent(rt: BenchRuntime, image: string, imageBytes: number, baseline = Infinity): Promise<number> {
    await call(rt, 'RemoveImage', { image: { image } }).catch((e: Error) => {
      if (!/not found|NOT_FOUND/i.test(e.message)) throw e;
    });
    const st = await call(rt, 'ImageStatus', { image: { image } });
    if (st.image) throw new Error(`${rt.name}: ${image} still present after RemoveImage`);
    const deadline = Date.now() + 10_000;
    for (;;) {
      const bytes = await diskBytes(rt.imageStoreDirs);
      if (bytes <= baseline + imageBytes / 10 || Date.now() > deadline) return bytes;
      await sleep(100);
    }
  }

  function pullScenario(
    name: string,
    title: string,
    image: (ctx: Parameters<Scenario['run']>[0]) => { ref: string; bytes: number; layers: number; files?: number },
  ): Scenario {
    return {
    name,
    title,
    async run(ctx, res) {
      const rounds = ctx.opts.n ?? (ctx.opts.quick ? 2 : 5);
      const warmup = ctx.opts.quick ? 0 : 1;
      const { ref: big, bytes: bigBytes, layers: bigLayers, files } = image(ctx);
      res.result.params = { rounds, warmup, image: big, bytes: bigBytes, layers: bigLayers, ...(files ? { files } : {}) };
      requireCaps(ctx, res, ['pull', 'removeImage']);
      const baseline = new Map<string, number>();
      const warned = new Set<string>();
      const seenHelpers = new Set<string>();
      const clear = async (rt: BenchRuntime) => {
        const base = baseline.get(rt.name);
        const bytes = await ensureAbsent(rt, big, bigBytes, base);
        if (base === undefined) baseline.set(rt.name, bytes);
        else if (bytes > base + bigBytes / 10 && !warned.has(rt.name)) {
          warned.add(rt.name);
          res.result.notes.push(`${rt.name}: ${((bytes - base) / 1e6).toFixed(1)} MB of the image still on disk 10 s after RemoveImage; later rounds may reuse it`);
        }
        // Flush what the removal left for the disk (journal, discards of the freed
        // blocks) now, so it does not slow whichever runtime pulls next.
        await run('sync', []);
      };
      await alternate(ctx, res, 1, clear);
      await alternate(ctx, res, warmup + rounds, async (rt, r) => {
        const before = rssKiB(rt.pid());
        if (!resetPeakRss(rt.pid())) throw new Error(`${rt.name}: cannot reset the peak RSS of pid ${rt.pid()} (/proc/PID/clear_refs)`);
        const sampler = helperSampler(rt);
        let ms: number;
        try {
          ms = (await timed(rt, 'PullImage', { image: { image: big } }, 600_000)).ms;
        } finally {
          const helpers = sampler.stop();
          const daemon = peakRssKiB(rt.pid());
          if (r >= warmup) {
            res.sample(rt.name, 'daemon peak RSS KiB', daemon);
            res.sample(rt.name, 'helpers peak private KiB', helpers.kib);
            res.sample(rt.name, 'peak total KiB', daemon + helpers.kib);
            res.sample(rt.name, 'RSS before KiB', before);
            if (helpers.procs && !seenHelpers.has(rt.name)) {
              seenHelpers.add(rt.name);
              res.result.notes.push(`${rt.name}: helper processes at their peak: ${helpers.procs}`);
            }
          }
        }
        const st = await call(rt, 'ImageStatus', { image: { image: big } });
        if (!st.image) throw new Error(`${rt.name}: ImageStatus does not show ${big} after PullImage`);
        await clear(rt);
        if (r >= warmup) res.sample(rt.name, 'PullImage', ms);
      });
      for (const rt of ctx.runtimes) {
        const t = res.samples(rt.name, 'PullImage');
        res.figure('pull time p50', 'ms', rt.name, p50(t));
        res.figure('pull time p95', 'ms', rt.name, p95(t));
        res.figure('throughput at p50', 'MB/s', rt.name, bigBytes / 1e6 / (p50(t) / 1000), 'higher');
        res.figure('daemon peak RSS during pull', 'MiB', rt.name, max(res.samples(rt.name, 'daemon peak RSS KiB')) / 1024);
        res.figure('helpers peak private memory', 'MiB', rt.name, max(res.samples(rt.name, 'helpers peak private KiB')) / 1024);
        res.figure('peak memory (daemon RSS + helpers)', 'MiB', rt.name, max(res.samples(rt.name, 'peak total KiB')) / 1024);
        res.figure('RSS before pull', 'MiB', rt.name, max(res.samples(rt.name, 'RSS before KiB')) / 1024);
      }
    },
  };
}

export const pull = pullScenario('pull', 'image pull + unpack from a registry on 127.0.0.1', (ctx) => ({
  ref: ctx.images.big,
  bytes: ctx.images.bigBytes,
  layers: ctx.images.bigLayers,
}));

export const pullFiles = pullScenario('pull-files', 'pull + unpack of an image of many small files', (ctx) => ({
  ref: ctx.images.files,
  bytes: ctx.images.filesBytes,
  layers: ctx.images.filesLayers,
  files: ctx.images.filesCount,
}));
