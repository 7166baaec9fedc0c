// Protocol versions between berth's processes: berth-shim refuses a job line of another
// job protocol (or none) with FailedPrecondition and a message saying the two come from
// different releases, and stamps its own results; the admin protocol's mismatch message
// names both releases and the fix.
import test from 'ava';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { SHIM_PROTOCOL } from '../../shim/job.js';
import { adminProtocolMismatch } from '../../server/admin-protocol.js';

const SHIM = fileURLToPath(new URL('../../shim/main.js', import.meta.url));

function shimAnswers(lines: object[]): Promise<Array<{ seq: unknown; protocol: unknown; result: { ok: boolean; kind?: string; message?: string } }>> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [SHIM], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (c: Buffer) => (out += c.toString()));
    p.on('error', reject);
    p.on('exit', () => resolve(out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l))));
    p.stdin.end(lines.map((l) => JSON.stringify(l) + '\n').join(''));
  });
}

test('berth-shim refuses jobs of another protocol, or with none, before touching anything', async (t) => {
  const job = { id: 'x', bundle: '/nonexistent/berth-protocol-test' };
  const out = await shimAnswers([
    { seq: 1, protocol: SHIM_PROTOCOL + 1, job },
    { seq: 2, job },
  ]);
  t.is(out.length, 2);
  for (const [i, r] of out.entries()) {
    t.is(r.seq, i + 1);
    t.is(r.protocol, SHIM_PROTOCOL);
    t.false(r.result.ok);
    t.is(r.result.kind, 'FailedPrecondition');
  }
  t.is(out[0]!.result.message, `berth-shim speaks job protocol ${SHIM_PROTOCOL} but berthd sent ${SHIM_PROTOCOL + 1}: berthd and berth-shim come from different berth releases; restart berthd (systemctl restart berth) so that it runs the berth-shim of its own release`);
  t.regex(out[1]!.result.message!, /but berthd sent none:/);
});

test('the admin protocol mismatch names both releases and what to run', (t) => {
  t.is(
    adminProtocolMismatch({ protocol: '2', version: '0.3.0' }, { protocol: '1', version: '0.2.0' }),
    'the berth command line (release 0.3.0, admin protocol 2) and the running berthd (release 0.2.0, admin protocol 1) do not speak the same admin protocol: use the berth of berthd\'s release (/opt/berth/0.2.0/bin/berth), or restart berthd (systemctl restart berth) if an upgrade installed a newer one',
  );
});
