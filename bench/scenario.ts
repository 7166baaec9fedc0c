// What every scenario shares: the context it runs in, its result (per-runtime outcome,
// figures side by side with the ratio berth/containerd), and the round loop that
// alternates which runtime goes first so machine noise hits both alike.
import type { BenchRuntime, RuntimeName } from './runtimes/types.js';
import type { BenchImages } from './images.js';
import { NotAvailable, removeAllPods, type Capabilities } from './cri.js';
import { percentile as percentileOf, round } from './stats.js';

export interface BenchOptions {
  quick: boolean;
  /** Scenario-specific count: rounds (sandbox, lifecycle, execsync, pull) or pods (burst, density). */
  n?: number;
  /** Rounds for burst and density. */
  rounds?: number;
}

export interface BenchContext {
  runtimes: BenchRuntime[];
  images: BenchImages;
  caps: Record<RuntimeName, Capabilities>;
  /** Labels every pod of this run (`berth-bench=<runId>`). */
  runId: string;
  opts: BenchOptions;
  log(msg: string): void;
}

export type Better = 'lower' | 'higher';

export interface Figure {
  name: string;
  unit: string;
  better: Better;
  berth: number | null;
  containerd: number | null;
  /** berth / containerd */
  ratio: number | null;
  /**
   * Only with berth variants (--berth-handlers): every runtime's value by name ('berth' and
   * 'ratio' above are then the first variant's), and the ratios 'berth+<h> / containerd' and,
   * with both, 'berth+crun / berth+runc'.
   */
  values?: Record<RuntimeName, number | null>;
  ratios?: Record<string, number | null>;
}

const ratioOf = (a: number | null, b: number | null): number | null => (a !== null && b !== null && b !== 0 ? round(a / b, 3) : null);

export interface RuntimeOutcome {
  status: 'ok' | 'n/a' | 'error';
  reason?: string;
  /** Raw samples by series name (ms, KiB, …), for anyone who wants more than the figures. */
  samples: Record<string, number[]>;
  details: Record<string, unknown>;
}

export interface ScenarioResult {
  name: string;
  title: string;
  params: Record<string, unknown>;
  notes: string[];
  runtimes: Record<RuntimeName, RuntimeOutcome>;
  figures: Figure[];
  durationMs: number;
}

export interface Scenario {
  name: string;
  title: string;
  run(ctx: BenchContext, res: ScenarioRecorder): Promise<void>;
}

export class ScenarioRecorder {
  readonly result: ScenarioResult;
  private readonly order: string[] = [];
  private readonly meta = new Map<string, { unit: string; better: Better }>();
  private readonly values = new Map<string, Partial<Record<RuntimeName, number>>>();

  constructor(name: string, title: string, runtimeNames: readonly RuntimeName[] = ['berth', 'containerd']) {
    const blank = (): RuntimeOutcome => ({ status: 'ok', samples: {}, details: {} });
    this.result = { name, title, params: {}, notes: [], runtimes: Object.fromEntries(runtimeNames.map((n) => [n, blank()])), figures: [], durationMs: 0 };
  }

  ok(rt: RuntimeName): boolean {
    return this.result.runtimes[rt]?.status === 'ok';
  }

  /** Marks a runtime n/a (UNIMPLEMENTED) or failed; keeps the first reason. */
  fail(rt: RuntimeName, e: unknown): void {
    const o = (this.result.runtimes[rt] ??= { status: 'ok', samples: {}, details: {} });
    if (o.status !== 'ok') return;
    if (e instanceof NotAvailable) {
      o.status = 'n/a';
      o.reason = e.message;
    } else if (typeof e === 'string' && e.startsWith('n/a:')) {
      o.status = 'n/a';
      o.reason = e;
    } else {
      o.status = 'error';
      o.reason = (e as Error)?.message ?? String(e);
    }
  }

  sample(rt: RuntimeName, series: string, v: number): void {
    ((this.result.runtimes[rt] ??= { status: 'ok', samples: {}, details: {} }).samples[series] ??= []).push(round(v, 3));
  }

  samples(rt: RuntimeName, series: string): number[] {
    return this.result.runtimes[rt]?.samples[series] ?? [];
  }

  figure(name: string, unit: string, rt: RuntimeName, v: number, better: Better = 'lower'): void {
    if (!this.meta.has(name)) {
      this.meta.set(name, { unit, better });
      this.order.push(name);
      this.values.set(name, {});
    }
    if (Number.isFinite(v)) this.values.get(name)![rt] = v;
  }

  finish(durationMs: number): ScenarioResult {
    this.result.durationMs = Math.round(durationMs);
    const names = Object.keys(this.result.runtimes);
    const variants = names.filter((n) => n.startsWith('berth+'));
    this.result.figures = this.order.map((name) => {
      const m = this.meta.get(name)!;
      const v = this.values.get(name)!;
      const val = (rt: RuntimeName): number | null => (this.ok(rt) && v[rt] !== undefined ? round(v[rt]!, 3) : null);
      const b = val(variants[0] ?? 'berth');
      const c = val('containerd');
      const fig: Figure = { name, unit: m.unit, better: m.better, berth: b, containerd: c, ratio: ratioOf(b, c) };
      if (variants.length) {
        fig.values = Object.fromEntries(names.map((n) => [n, val(n)]));
        fig.ratios = Object.fromEntries(variants.map((n) => [`${n} / containerd`, ratioOf(val(n), c)]));
        if (variants.includes('berth+crun') && variants.includes('berth+runc')) fig.ratios['berth+crun / berth+runc'] = ratioOf(val('berth+crun'), val('berth+runc'));
      }
      return fig;
    });
    return this.result;
  }
}

/** Runtimes in this round's order: berth first on even rounds, containerd first on odd ones. */
export function roundOrder(runtimes: BenchRuntime[], round: number): BenchRuntime[] {
  return round % 2 === 0 ? [...runtimes] : [...runtimes].reverse();
}

/**
 * Runs `rounds` rounds; in each, `fn` once per runtime still ok, alternating who goes
 * first. A runtime that fails (or answers UNIMPLEMENTED) is marked and skipped from then
 * on; its pods are removed.
 */
export async function alternate(
  ctx: BenchContext,
  res: ScenarioRecorder,
  rounds: number,
  fn: (rt: BenchRuntime, round: number) => Promise<void>,
): Promise<void> {
  for (let r = 0; r < rounds; r++) {
    for (const rt of roundOrder(ctx.runtimes, r)) {
      if (!res.ok(rt.name)) continue;
      try {
        await fn(rt, r);
      } catch (e) {
        res.fail(rt.name, e);
        await removeAllPods(rt, ctx.runId).catch(() => undefined);
      }
    }
  }
}

/** Marks runtimes that lack a capability n/a before anything runs. */
export function requireCaps(ctx: BenchContext, res: ScenarioRecorder, need: (keyof Capabilities)[]): void {
  for (const rt of ctx.runtimes) {
    const why = [...new Set(need.map((k) => ctx.caps[rt.name][k]).filter((w): w is string => !!w))];
    const broken = why.filter((w) => !w.startsWith('n/a: '));
    if (broken.length) res.fail(rt.name, new Error(broken.join('; ')));
    else if (why.length) res.fail(rt.name, `n/a: ${why.map((w) => w.slice('n/a: '.length)).join(', ')}`);
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `<series> p50` and `<series> p95` in ms for every runtime still ok. */
export function latencyFigures(ctx: BenchContext, res: ScenarioRecorder, series: string[], percentiles: readonly ['p50' | 'p95', number][] = [['p50', 0.5], ['p95', 0.95]]): void {
  for (const s of series) {
    for (const [label, q] of percentiles) {
      for (const rt of ctx.runtimes) {
        const xs = res.samples(rt.name, s);
        res.figure(`${s} ${label}`, 'ms', rt.name, xs.length ? percentileOf(xs, q) : NaN);
      }
    }
  }
}
