// pull: PullImage of a ~150 MB image of 5 random (incompressible) layers from the local
// registry, pull + unpack; time, throughput, and the runtime's peak RSS during the pull
// (the daemon's VmHWM, reset right before, plus the sampled RSS of any helper process
// it starts). The image is removed between rounds on both runtimes.
import { call, timed } from '../cri.js';
import { isWorkload } from '../images.js';
import { instanceProcesses, peakRssKiB, resetPeakRss, rssKiB } from '../procs.js';
import { alternate, requireCaps, sleep, type Scenario } from '../scenario.js';
import { diskBytes } from '../disk.js';
import type { BenchRuntime } from '../runtimes/types.js';
import { max, p50, p95 } from '../stats.js';

/** Samples the summed RSS of the instance's processes other than the daemon; returns the peak. */
function helperSampler(rt: BenchRuntime): { stop(): number } {
  let peak = 0;
  const tick = () => {
    const procs = instanceProcesses(rt.dir, isWorkload).filter((p) => p.pid !== rt.pid());
    peak = Math.max(peak, procs.reduce((n, p) => n + rssKiB(p.pid), 0));
  };
  const timer = setInterval(tick, 100);
  return {
    stop() {
      clearInterval(timer);
      tick();
      return peak;
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

export const pull: Scenario = {
  name: 'pull',
  title: 'image pull + unpack from a registry on 127.0.0.1',
  async run(ctx, res) {
    const rounds = ctx.opts.n ?? (ctx.opts.quick ? 2 : 5);
    const warmup = ctx.opts.quick ? 0 : 1;
    const { big, bigBytes, bigLayers } = ctx.images;
    res.result.params = { rounds, warmup, image: big, bytes: bigBytes, layers: bigLayers };
    requireCaps(ctx, res, ['pull', 'removeImage']);
    const baseline = new Map<string, number>();
    const warned = new Set<string>();
    const clear = async (rt: BenchRuntime) => {
      const base = baseline.get(rt.name);
      const bytes = await ensureAbsent(rt, big, bigBytes, base);
      if (base === undefined) baseline.set(rt.name, bytes);
      else if (bytes > base + bigBytes / 10 && !warned.has(rt.name)) {
        warned.add(rt.name);
        res.result.notes.push(`${rt.name}: ${((bytes - base) / 1e6).toFixed(1)} MB of the image still on disk 10 s after RemoveImage; later rounds may reuse it`);
      }
    };
    await alternate(ctx, res, 1, clear);
    await alternate(ctx, res, warmup + rounds, async (rt, r) => {
      const before = rssKiB(rt.pid());
      resetPeakRss(rt.pid());
      const sampler = helperSampler(rt);
      let ms: number;
      try {
        ms = (await timed(rt, 'PullImage', { image: { image: big } }, 600_000)).ms;
      } finally {
        const helpers = sampler.stop();
        if (r >= warmup) {
          res.sample(rt.name, 'peak RSS KiB', peakRssKiB(rt.pid()) + helpers);
          res.sample(rt.name, 'RSS before KiB', before);
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
      res.figure('peak RSS during pull', 'MiB', rt.name, max(res.samples(rt.name, 'peak RSS KiB')) / 1024);
      res.figure('RSS before pull', 'MiB', rt.name, max(res.samples(rt.name, 'RSS before KiB')) / 1024);
    }
  },
};
