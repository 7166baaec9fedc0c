// Keeps the benchmark instrument working: runs `bench --quick` (berthd and a private
// containerd side by side) and checks its JSON — every scenario present, containerd
// measured in all of them, berth measured in those it implements and "n/a: <RPC>
// UNIMPLEMENTED" in the others. Never asserts a timing: CI machines are noisy.
import test from 'ava';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isRoot, TEST_PREFIX } from '../helpers/berthd.js';

const BENCH = fileURLToPath(new URL('../../bench/main.js', import.meta.url));
const SCENARIOS = ['sandbox', 'lifecycle', 'burst', 'density', 'execsync', 'pull', 'pull-files', 'scrape'];

const why = !isRoot() ? 'it needs root' : !existsSync('/usr/bin/containerd') ? 'containerd is not installed' : undefined;
if (why) console.log(`bench --quick skipped: ${why}`);
const maybe = why ? test.skip : test;

interface Figure {
  name: string;
  unit: string;
  berth: number | null;
  containerd: number | null;
  ratio: number | null;
}
interface Outcome {
  status: 'ok' | 'n/a' | 'error';
  reason?: string;
}
interface Report {
  tool: string;
  quick: boolean;
  runtimes: Record<string, { version?: string }>;
  scenarios: { name: string; runtimes: Record<'berth' | 'containerd', Outcome>; figures: Figure[] }[];
}

maybe('bench --quick measures berth and containerd and writes valid JSON', async (t) => {
  t.timeout(200_000);
  const dir = mkdtempSync(`${TEST_PREFIX}bench-json-`);
  try {
    const json = join(dir, 'bench.json');
    let out = '';
    const code = await new Promise<number | null>((resolve, reject) => {
      const p = spawn(process.execPath, [BENCH, '--quick', '--json', json], { stdio: ['ignore', 'pipe', 'pipe'] });
      p.stdout.on('data', (b: Buffer) => (out += b.toString()));
      p.stderr.on('data', (b: Buffer) => (out += b.toString()));
      p.on('error', reject);
      p.on('close', resolve);
    });
    t.is(code, 0, out);
    const report = JSON.parse(readFileSync(json, 'utf8')) as Report;
    t.is(report.tool, 'berth-bench');
    t.true(report.quick);
    t.truthy(report.runtimes.berth?.version, 'berth answered Version');
    t.truthy(report.runtimes.containerd?.version, 'containerd answered Version');
    t.deepEqual(report.scenarios.map((s) => s.name), SCENARIOS);
    for (const s of report.scenarios) {
      // containerd implements every RPC the bench uses; only the scrape scenario is berth's alone.
      if (s.name === 'scrape') t.regex(s.runtimes.containerd.reason ?? '', /^n\/a: containerd serves no/);
      else t.is(s.runtimes.containerd.status, 'ok', `${s.name}: containerd ${s.runtimes.containerd.reason ?? ''}`);
      for (const rt of ['berth', 'containerd'] as const) {
        const o = s.runtimes[rt];
        t.not(o.status, 'error', `${s.name}/${rt}: ${o.reason}`);
        if (o.status === 'n/a') {
          t.regex(o.reason ?? '', s.name === 'scrape' && rt === 'containerd' ? /^n\/a: / : /^n\/a: \w+ UNIMPLEMENTED/, `${s.name}/${rt}`);
          t.true(s.figures.every((f) => f[rt] === null), `${s.name}/${rt}: n/a has no figures`);
        } else {
          t.true(s.figures.length > 0, `${s.name}: has figures`);
          for (const f of s.figures) t.true(typeof f[rt] === 'number' && Number.isFinite(f[rt]), `${s.name}/${rt}: ${f.name} = ${f[rt]}`);
        }
      }
      const both = s.runtimes.berth.status === 'ok' && s.runtimes.containerd.status === 'ok';
      for (const f of s.figures) if (both && f.containerd !== 0) t.is(typeof f.ratio, 'number', `${s.name}: ratio of ${f.name}`);
    }
    // berth serves pod sandboxes (and images) already: those are measured, not n/a.
    t.is(report.scenarios.find((s) => s.name === 'sandbox')!.runtimes.berth.status, 'ok');
    t.is(report.scenarios.find((s) => s.name === 'burst')!.runtimes.berth.status, 'ok');
    t.is(report.scenarios.find((s) => s.name === 'density')!.runtimes.berth.status, 'ok');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
