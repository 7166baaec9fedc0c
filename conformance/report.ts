// Reports: a human table (per area, then failures with their reasons), the JSON report
// (the README table is generated from these), and JUnit XML for CI dashboards.
import type { ProbeResult, SpecResult } from './runner.js';
import { AREAS } from './spec.js';

export interface Report {
  suite: 'berth-conformance';
  schema: 1;
  endpoint: string;
  runtime: { name: string; version: string; apiVersion: string };
  startedAt: string;
  durationMs: number;
  summary: { total: number; passed: number; failed: number; knownLimitations: number; notSupported: number; skipped: number };
  /** Per RPC: implemented or not (from the probe), with what the probe saw. */
  rpcs: Record<string, { supported: boolean; detail: string }>;
  results: SpecResult[];
  /** Things the suite noticed while cleaning up (e.g. a cgroup the runtime left). */
  warnings: string[];
}

export function summarize(results: readonly SpecResult[]): Report['summary'] {
  const count = (s: SpecResult['status']) => results.filter((r) => r.status === s).length;
  return {
    total: results.length,
    passed: count('passed'),
    failed: count('failed'),
    knownLimitations: count('known limitation'),
    notSupported: count('not supported'),
    skipped: count('skipped'),
  };
}

export function buildReport(p: {
  endpoint: string;
  runtime: Report['runtime'];
  startedAt: Date;
  durationMs: number;
  probe: ProbeResult;
  results: SpecResult[];
  warnings: string[];
}): Report {
  const rpcs: Report['rpcs'] = {};
  for (const [rpc, v] of [...p.probe].sort(([a], [b]) => a.localeCompare(b))) rpcs[rpc] = v;
  return {
    suite: 'berth-conformance',
    schema: 1,
    endpoint: p.endpoint,
    runtime: p.runtime,
    startedAt: p.startedAt.toISOString(),
    durationMs: p.durationMs,
    summary: summarize(p.results),
    rpcs,
    results: p.results,
    warnings: p.warnings,
  };
}

const MARK: Record<SpecResult['status'], string> = { passed: 'ok', failed: 'FAIL', 'known limitation': 'lim', 'not supported': 'n/s', skipped: 'skip' };

/** One line per finished spec, for progress output. */
export function progressLine(r: SpecResult): string {
  return `${MARK[r.status].padEnd(4)} ${r.id} (${r.durationMs} ms)${r.status === 'passed' ? '' : ` — ${r.message ?? ''}`}`;
}

function pad(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')).join('\n');
}

/** The human table: counts per area, then every spec that did not pass, with why. */
export function humanReport(rep: Report): string {
  const out: string[] = [];
  out.push(`CRI conformance: ${rep.runtime.name} ${rep.runtime.version} (CRI ${rep.runtime.apiVersion}) at ${rep.endpoint}`);
  const rows = [['area', 'passed', 'failed', 'known limitation', 'not supported', 'skipped']];
  for (const area of AREAS) {
    const rs = rep.results.filter((r) => r.area === area);
    if (!rs.length) continue;
    const c = (s: SpecResult['status']) => String(rs.filter((r) => r.status === s).length);
    rows.push([area, c('passed'), c('failed'), c('known limitation'), c('not supported'), c('skipped')]);
  }
  const s = rep.summary;
  rows.push(['total', String(s.passed), String(s.failed), String(s.knownLimitations), String(s.notSupported), String(s.skipped)]);
  out.push('', pad(rows));
  const unsupported = Object.entries(rep.rpcs)
    .filter(([, v]) => !v.supported)
    .map(([k]) => k);
  if (unsupported.length) out.push('', `RPCs answering UNIMPLEMENTED: ${unsupported.join(', ')}`);
  for (const status of ['failed', 'known limitation', 'not supported', 'skipped'] as const) {
    const rs = rep.results.filter((r) => r.status === status);
    if (!rs.length) continue;
    out.push('', `${status}:`);
    for (const r of rs) out.push(`  ${r.id}: ${r.title}`, `      ${r.message ?? ''}`);
  }
  for (const w of rep.warnings) out.push('', `warning: ${w}`);
  out.push(
    '',
    `${s.total} specs in ${(rep.durationMs / 1000).toFixed(1)} s: ${s.passed} passed, ${s.failed} failed, ${s.knownLimitations} known limitations, ${s.notSupported} not supported, ${s.skipped} skipped`,
  );
  return out.join('\n');
}

const xml = (s: string) =>
  s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!).replace(/[\x00-\x08\x0b\x0c\x0e-\x1f]/g, '');

/** JUnit XML: one testsuite per area; not supported and skipped are <skipped> with the reason. */
export function junitReport(rep: Report): string {
  const suites: string[] = [];
  for (const area of AREAS) {
    const rs = rep.results.filter((r) => r.area === area);
    if (!rs.length) continue;
    const failures = rs.filter((r) => r.status === 'failed').length;
    const skipped = rs.filter((r) => r.status !== 'passed' && r.status !== 'failed').length;
    const time = rs.reduce((a, r) => a + r.durationMs, 0) / 1000;
    const cases = rs.map((r) => {
      const head = `    <testcase classname="${xml(`conformance.${area}`)}" name="${xml(`${r.id}: ${r.title}`)}" time="${(r.durationMs / 1000).toFixed(3)}"`;
      if (r.status === 'passed') return `${head}/>`;
      if (r.status === 'failed') return `${head}>\n      <failure message="${xml(r.message ?? 'failed')}">${xml(r.message ?? '')}</failure>\n    </testcase>`;
      return `${head}>\n      <skipped message="${xml(`${r.status}: ${r.message ?? ''}`)}"/>\n    </testcase>`;
    });
    suites.push(`  <testsuite name="${xml(area)}" tests="${rs.length}" failures="${failures}" errors="0" skipped="${skipped}" time="${time.toFixed(3)}">\n${cases.join('\n')}\n  </testsuite>`);
  }
  const s = rep.summary;
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="${xml(`CRI conformance: ${rep.runtime.name} ${rep.runtime.version}`)}" tests="${s.total}" failures="${s.failed}" errors="0" skipped="${s.notSupported + s.skipped + s.knownLimitations}" time="${(rep.durationMs / 1000).toFixed(3)}">\n${suites.join('\n')}\n</testsuites>\n`;
}
