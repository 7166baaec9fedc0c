// The report: a table per scenario (berth, containerd, berth/containerd) and the JSON
// document `--json` writes.
import type { ScenarioResult, Figure } from './scenario.js';
import type { OciReference } from './oci.js';

export interface BenchReport {
  tool: 'berth-bench';
  schema: 1;
  startedAt: string;
  durationMs: number;
  quick: boolean;
  argv: string[];
  host: { kernel: string; cpus: number; memoryMiB: number; node: string };
  runtimes: Record<string, { endpoint: string; version?: string; starter?: string; capabilities: Record<string, string | undefined> }>;
  scenarios: ScenarioResult[];
  /** With --oci-reference: runc and crun alone (bench/oci.ts). */
  oci?: OciReference;
}

function fmt(v: number | null, unit: string): string {
  if (v === null) return 'n/a';
  if (unit === 'count') return v.toFixed(2);
  const a = Math.abs(v);
  return a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : v.toFixed(2);
}

function row(cols: string[], widths: number[]): string {
  return cols.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
}

export function formatScenario(s: ScenarioResult): string {
  const lines: string[] = [];
  const params = Object.entries(s.params)
    .filter(([k]) => !['image', 'cmd'].includes(k))
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  lines.push(`== ${s.name}: ${s.title}${params ? ` (${params})` : ''}`);
  const ratioText = (r: number | null | undefined, f: Figure) => (r === null || r === undefined ? '-' : `${r.toFixed(2)}${f.better === 'higher' ? ' (higher is better)' : ''}`);
  // With berth variants (--berth-handlers): a column per runtime and per ratio.
  const names = Object.keys(s.figures.find((f) => f.values)?.values ?? {});
  const ratios = Object.keys(s.figures.find((f) => f.ratios)?.ratios ?? {});
  const head = names.length ? ['figure', ...names, ...ratios] : ['figure', 'berth', 'containerd', 'ratio'];
  const body = s.figures.map((f: Figure) =>
    names.length
      ? [`${f.name} (${f.unit})`, ...names.map((n) => fmt(f.values?.[n] ?? null, f.unit)), ...ratios.map((r) => ratioText(f.ratios?.[r], f))]
      : [`${f.name} (${f.unit})`, fmt(f.berth, f.unit), fmt(f.containerd, f.unit), ratioText(f.ratio, f)],
  );
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  if (body.length) {
    lines.push(row(head, widths));
    for (const b of body) lines.push(row(b, widths));
  }
  for (const [name, o] of Object.entries(s.runtimes)) if (o.status !== 'ok') lines.push(`   ${name}: ${o.status === 'error' ? 'ERROR: ' : ''}${o.reason}`);
  for (const n of s.notes) lines.push(`   note: ${n}`);
  return lines.join('\n');
}
