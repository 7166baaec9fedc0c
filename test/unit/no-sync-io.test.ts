// Keeps synchronous I/O off berthd's request paths. Every `…Sync(` call of node:fs or
// node:child_process in the code berthd runs (server/, and the hostutil/ and wire/ it shares
// with the suite), through named, aliased, namespace or default imports, must be listed
// below with why it may block (start-up only, or the unpack thread); every listed call must
// still exist, so the list shrinks with the code. The TypeScript sources are parsed.
import test from 'ava';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '../../..');
/** What berthd runs (generated code aside). */
const ROOTS = ['server', 'hostutil', 'wire'];
const GENERATED = new Set([join(REPO, 'server/cri/generated'), join(REPO, 'wire/cri/generated')]);
const SYNC_MODULES = new Set(['fs', 'node:fs', 'child_process', 'node:child_process']);

/**
 * file (relative to the repository) → the sync calls it may make, and why. Nothing here may run
 * while a CRI call is served, except the entries marked PENDING, which are known debts
 * with the helper who removes them.
 */
const ALLOWED: Record<string, { calls: string[]; why: string }> = {
  'server/config.ts': { calls: ['existsSync', 'readFileSync'], why: 'config load, before berthd serves' },
  'server/store/db.ts': { calls: ['mkdirSync', 'rmSync'], why: 'store open at start-up (and the pre-migration backup it takes)' },
  'server/status/version.ts': { calls: ['readFileSync'], why: "package.json's version, read once at module load" },
  'server/container/exits.ts': { calls: ['mkdirSync'], why: 'watchExits, once at start-up' },
  'server/image/unpack-worker.ts': {
    calls: ['chmodSync', 'closeSync', 'lchownSync', 'linkSync', 'lutimesSync', 'mkdirSync', 'openSync', 'rmSync', 'symlinkSync', 'utimesSync', 'writeSync'],
    why: 'the unpack thread: blocks only itself, never the event loop',
  },
};

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (!GENERATED.has(p)) out.push(...tsFiles(p));
    } else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

interface SyncCall {
  file: string;
  line: number;
  name: string;
}

/** The sync calls of node:fs / node:child_process in one source file. */
function syncCalls(file: string, text: string): SyncCall[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true);
  const named = new Map<string, string>(); // local name → imported name
  const namespaces = new Set<string>();
  for (const st of sf.statements) {
    if (!ts.isImportDeclaration(st) || !ts.isStringLiteral(st.moduleSpecifier) || !SYNC_MODULES.has(st.moduleSpecifier.text)) continue;
    const clause = st.importClause;
    if (!clause || clause.isTypeOnly) continue;
    if (clause.name) namespaces.add(clause.name.text);
    const b = clause.namedBindings;
    if (b && ts.isNamespaceImport(b)) namespaces.add(b.name.text);
    if (b && ts.isNamedImports(b)) {
      for (const el of b.elements) if (!el.isTypeOnly) named.set(el.name.text, (el.propertyName ?? el.name).text);
    }
  }
  const out: SyncCall[] = [];
  const visit = (n: ts.Node) => {
    if (ts.isCallExpression(n) || ts.isNewExpression(n)) {
      let name: string | undefined;
      const callee = n.expression;
      if (ts.isIdentifier(callee)) name = named.get(callee.text);
      else if (ts.isPropertyAccessExpression(callee) && ts.isIdentifier(callee.expression) && namespaces.has(callee.expression.text)) name = callee.name.text;
      if (name?.endsWith('Sync')) out.push({ file, line: sf.getLineAndCharacterOfPosition(n.getStart()).line + 1, name });
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

test('the scanner sees named, aliased, namespace and default imports, and nothing else', (t) => {
  const src = `
    import { readFileSync, statSync as st } from 'node:fs';
    import * as fs from 'fs';
    import cp from 'node:child_process';
    import { execSync } from './exec-sync.js';
    import type { Stats } from 'node:fs';
    readFileSync('/a'); st('/b'); fs.readdirSync('/c'); cp.spawnSync('x'); execSync(); fs.promises.readFile('/d');
    const loadSync = () => 1; loadSync();`;
  t.deepEqual(
    syncCalls('x.ts', src).map((c) => c.name),
    ['readFileSync', 'statSync', 'readdirSync', 'spawnSync'],
  );
});

test('berthd makes no synchronous fs or child_process call outside the allowlist', (t) => {
  const found = ROOTS.flatMap((r) => tsFiles(join(REPO, r))).flatMap((f) => syncCalls(relative(REPO, f), readFileSync(f, 'utf8')));
  t.true(found.length > 0, 'the scan found the allowlisted start-up calls (it reads the sources)');
  const unexpected = found.filter((c) => !ALLOWED[c.file]?.calls.includes(c.name)).map((c) => `${c.file}:${c.line} ${c.name}`);
  t.deepEqual(unexpected, [], 'synchronous I/O blocks every CRI call; use fs/promises (or the unpack thread), or list a start-up-only call in ALLOWED with why');
  const stale = Object.entries(ALLOWED).flatMap(([file, a]) => a.calls.filter((name) => !found.some((c) => c.file === file && c.name === name)).map((name) => `${file} ${name}`));
  t.deepEqual(stale, [], 'allowlisted calls that no longer exist: remove them from ALLOWED');
});
