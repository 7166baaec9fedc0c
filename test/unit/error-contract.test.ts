// The README's "Errors and request limits" table and the error contract's rows
// (test/helpers/error-contract.ts, which test/integration/error-contract.test.ts runs) are
// the same rows in the same order, and no row promises INTERNAL or UNKNOWN.
import test from 'ava';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { CONTRACT, contractTable } from '../helpers/error-contract.js';

const README = fileURLToPath(new URL('../../../README.md', import.meta.url));

async function readmeRows(): Promise<string[][]> {
  const text = await readFile(README, 'utf8');
  const m = /<!-- error-contract:begin -->\n([\s\S]*?)<!-- error-contract:end -->/.exec(text);
  if (!m) throw new Error('README.md has no error-contract table');
  const lines = m[1]!.trim().split('\n');
  return lines.slice(2).map((l) => l.replace(/^\|\s*|\s*\|$/g, '').split(/\s*\|\s*/));
}

test('the README table lists exactly the contract rows', async (t) => {
  const rows = await readmeRows();
  // To update the README after changing the rows, paste contractTable()'s output between the markers.
  t.deepEqual(rows, CONTRACT.map((r) => [r.rpc, r.condition, r.code]), contractTable());
});

test('rows are distinct and promise only codes a request may cause', (t) => {
  const keys = CONTRACT.map((r) => `${r.rpc} × ${r.condition}`);
  t.is(new Set(keys).size, keys.length);
  for (const r of CONTRACT) t.false(['INTERNAL', 'UNKNOWN'].includes(r.code), `${r.rpc}: ${r.condition}`);
});
