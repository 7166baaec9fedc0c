// The long guest tier's result table: conformance area × configuration (berth systemd/runc,
// berth systemd/crun, containerd SystemdCgroup) → passed / failed / not supported, from the
// suite's reports, plus each configuration's leftovers. Pure: built and printed here, run
// by test/guest/long.ts inside the guest, unit-tested on the host.
import type { Report } from '../../conformance/report.js';

export type CellStatus = 'passed' | 'failed' | 'not supported' | 'not run';

export interface Cell {
  status: CellStatus;
  passed: number;
  failed: number;
  /** Known limitations of this runtime (the suite's `limitations`): not counted as failures. */
  knownLimitations: number;
  notSupported: number;
  skipped: number;
  /** Ids of the failed specs. */
  failures: string[];
}

export interface ConfigRun {
  /** "berth systemd/runc", … */
  config: string;
  /** Missing when the configuration could not start (see `error`). */
  report?: Report;
  /** Why the configuration did not run, or what went wrong around the suite. */
  error?: string;
  /** systemd units, scopes, slices or processes left behind after the run. */
  leftovers: string[];
}

export interface LongTable {
  areas: string[];
  configs: string[];
  /** cells[area][config] */
  cells: Record<string, Record<string, Cell>>;
  leftovers: Record<string, string[]>;
  errors: Record<string, string>;
  /** Every cell passed or not supported, every configuration ran, and nothing was left behind. */
  ok: boolean;
}

/**
 * A cell is failed when any spec of the area failed, not supported when every spec that ran
 * was not supported, passed when at least one passed and none failed (skipped specs and known
 * limitations are counted, not judged), not run when the configuration has no report or
 * the area no spec.
 */
export function cellOf(report: Report | undefined, area: string): Cell {
  const cell: Cell = { status: 'not run', passed: 0, failed: 0, knownLimitations: 0, notSupported: 0, skipped: 0, failures: [] };
  if (!report) return cell;
  for (const r of report.results) {
    if (r.area !== area) continue;
    if (r.status === 'passed') cell.passed++;
    else if (r.status === 'failed') {
      cell.failed++;
      cell.failures.push(r.id);
    } else if (r.status === 'known limitation') cell.knownLimitations++;
    else if (r.status === 'not supported') cell.notSupported++;
    else cell.skipped++;
  }
  if (cell.failed > 0) cell.status = 'failed';
  else if (cell.passed > 0 || cell.knownLimitations > 0) cell.status = 'passed';
  else if (cell.notSupported > 0) cell.status = 'not supported';
  return cell;
}

export function buildLongTable(areas: readonly string[], runs: readonly ConfigRun[]): LongTable {
  const cells: LongTable['cells'] = {};
  for (const a of areas) {
    cells[a] = {};
    for (const r of runs) cells[a]![r.config] = cellOf(r.report, a);
  }
  const leftovers = Object.fromEntries(runs.map((r) => [r.config, r.leftovers]));
  const errors = Object.fromEntries(runs.filter((r) => r.error !== undefined).map((r) => [r.config, r.error!]));
  const ok =
    runs.length > 0 &&
    runs.every((r) => r.report !== undefined && r.error === undefined && r.leftovers.length === 0) &&
    areas.every((a) => runs.every((r) => cells[a]![r.config]!.status !== 'failed'));
  return { areas: [...areas], configs: runs.map((r) => r.config), cells, leftovers, errors, ok };
}

function cellText(c: Cell): string {
  const n = c.passed + c.failed + c.knownLimitations + c.notSupported + c.skipped;
  if (c.status === 'not run') return 'not run';
  if (c.status === 'not supported') return 'not supported';
  const extra = [c.knownLimitations ? `${c.knownLimitations} lim` : '', c.notSupported ? `${c.notSupported} n/s` : '', c.skipped ? `${c.skipped} skip` : ''].filter(Boolean).join(', ');
  return `${c.status === 'failed' ? `FAILED ${c.failed}` : 'passed'} ${c.passed}/${n}${extra ? ` (${extra})` : ''}`;
}

/** The table as text: one row per area, one column per configuration, then failures, leftovers, errors. */
export function formatLongTable(t: LongTable): string {
  const head = ['area', ...t.configs];
  const rows = t.areas.map((a) => [a, ...t.configs.map((c) => cellText(t.cells[a]![c]!))]);
  rows.push(['leftovers', ...t.configs.map((c) => (t.leftovers[c]?.length ? `${t.leftovers[c]!.length} LEFT` : 'none'))]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((x, i) => x.padEnd(widths[i]!)).join(' | ').trimEnd();
  const out = [line(head), widths.map((w) => '-'.repeat(w)).join('-|-'), ...rows.map(line)];
  for (const c of t.configs) {
    const failures = t.areas.flatMap((a) => t.cells[a]![c]!.failures);
    if (failures.length) out.push(`${c}: failed: ${failures.join(', ')}`);
    for (const l of t.leftovers[c] ?? []) out.push(`${c}: left behind: ${l}`);
    if (t.errors[c]) out.push(`${c}: error: ${t.errors[c]}`);
  }
  out.push(t.ok ? 'long tier: OK' : 'long tier: NOT OK');
  return out.join('\n');
}
