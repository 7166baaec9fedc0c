// Who may import whom, read from the TypeScript sources (no root needed): the conformance
// suite and the bench see berthd only through its socket (nothing they reach, directly or
// through test/helpers, is under server/); shim/ never reaches server/; the shared modules
// wire/ and hostutil/ depend on nothing of berth's; berthd never reaches the SPDY client
// dialer (wire/spdy/dial.ts), which is for the suite and the tests.
import test from 'ava';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: this file runs as dist/test/unit/imports.test.js. */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

function sourcesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) {
        if (e.name !== 'generated' && e.name !== 'node_modules') walk(p);
      } else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(relative(ROOT, p));
    }
  };
  if (existsSync(join(ROOT, dir))) walk(join(ROOT, dir));
  return out;
}

// Static `import … from '…'`, `export … from '…'`, side-effect `import '…'` and dynamic `import('…')`.
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"]([^'"]+)['"]/gm;

/** Repository-relative .ts files a source file imports by relative path (packages are skipped). */
export function relativeImports(file: string, text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(SPECIFIER)) {
    const spec = m[1]!;
    if (!spec.startsWith('.')) continue;
    const target = relative(ROOT, resolve(ROOT, dirname(file), spec)).replace(/\.js$/, '.ts');
    out.push(target);
  }
  return out;
}

const importCache = new Map<string, string[]>();
function importsOf(file: string): string[] {
  let list = importCache.get(file);
  if (!list) {
    const path = join(ROOT, file);
    list = existsSync(path) ? relativeImports(file, readFileSync(path, 'utf8')) : [];
    importCache.set(file, list);
  }
  return list;
}

/** Every file reached from `start` through relative imports, each with the chain that reached it. */
function reachable(start: string): Map<string, string[]> {
  const seen = new Map<string, string[]>([[start, [start]]]);
  const queue = [start];
  while (queue.length) {
    const f = queue.shift()!;
    for (const g of importsOf(f)) {
      if (seen.has(g)) continue;
      seen.set(g, [...seen.get(f)!, g]);
      queue.push(g);
    }
  }
  return seen;
}

/** Chains from files under `dirs` to any file for which `forbidden` holds. */
function violations(dirs: readonly string[], forbidden: (f: string) => boolean): string[] {
  const out: string[] = [];
  for (const dir of dirs) {
    for (const file of sourcesUnder(dir)) {
      for (const [target, chain] of reachable(file)) {
        if (forbidden(target)) out.push(chain.join(' → '));
      }
    }
  }
  return out;
}

const under = (dir: string) => (f: string) => f === dir || f.startsWith(`${dir}/`);

test('the import reader sees the imports this test relies on', (t) => {
  // Guards the rules below against passing because nothing was parsed.
  t.true(importsOf('conformance/client.ts').includes('wire/cri/proto.ts'));
  t.true(importsOf('server/streaming/spdy-upgrade.ts').includes('wire/spdy/connection.ts'));
  t.true(reachable('bench/main.ts').size > 10);
  t.deepEqual(
    relativeImports('server/x/a.ts', "import { a } from '../b.js';\nexport { c } from './c.js';\nimport './d.js';\nconst e = await import('../../hostutil/e.js');\nimport x from 'node:fs';"),
    ['server/b.ts', 'server/x/c.ts', 'server/x/d.ts', 'hostutil/e.ts'],
  );
});

test('nothing under conformance/ or bench/ reaches server/, directly or through test helpers', (t) => {
  t.deepEqual(violations(['conformance', 'bench'], under('server')), []);
});

test('nothing under shim/ reaches server/', (t) => {
  t.deepEqual(violations(['shim'], under('server')), []);
});

test('wire/ and hostutil/ depend only on each other and packages', (t) => {
  t.deepEqual(violations(['wire', 'hostutil'], (f) => !under('wire')(f) && !under('hostutil')(f)), []);
});

test("berthd never reaches the SPDY client dialer (it is the suite's and the tests')", (t) => {
  t.deepEqual(violations(['server', 'shim', 'cli'], (f) => f === 'wire/spdy/dial.ts'), []);
});

test('metrics/ reaches the cgroup readers (server/cgroups) and no handler: server reads the sampler, not the other way round', (t) => {
  // The CRI, admin and streaming handlers and berthd's wiring; server/cgroups and the small
  // modules it uses (errors, exec, keyed-mutex, oci types) are what metrics/ may read.
  const handler = (f: string) =>
    ['server/container', 'server/sandbox', 'server/image', 'server/cri', 'server/streaming', 'server/status', 'server/runtime', 'server/store'].some((d) => under(d)(f)) ||
    ['server/daemon.ts', 'server/admin.ts', 'server/metrics-wiring.ts'].includes(f);
  t.true([...reachable('metrics/cgroup-source.ts').keys()].some(under('server/cgroups')), 'the sampler reads the cgroup manager');
  t.true(handler('server/container/stats.ts') && !handler('server/cgroups/manager.ts'));
  t.deepEqual(violations(['metrics'], handler), []);
});
