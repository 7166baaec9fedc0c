// The shim pool (server/runtime/shim-pool.ts) and the check of the shim's answers
// (shim-reply.ts), with a fake shim: a Node script that speaks the job protocol
// (shim/job.ts) and answers by the job's id, including answers that break the protocol and
// a shim that dies mid-job. No root, no conmon.
import test from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ShimPool, ShimDiedError } from '../../server/runtime/shim-pool.js';
import { parseShimLine, shimResultProblem } from '../../server/runtime/shim-reply.js';
import { BerthError } from '../../server/errors.js';
import type { ShimJob } from '../../shim/job.js';

test('answers are checked against the protocol, kinds against its list', (t) => {
  t.deepEqual(parseShimLine('{"protocol":1,"seq":3,"result":{"ok":true,"pid":10,"conmonPid":9,"timings":{"mount":1.5}}}'), {
    kind: 'result',
    seq: 3,
    result: { ok: true, pid: 10, conmonPid: 9, timings: { mount: 1.5 } },
  });
  t.deepEqual(parseShimLine('{"protocol":1,"seq":4,"result":{"ok":false,"kind":"InvalidArgument","message":"m","runtimeError":"w","extra":1}}'), {
    kind: 'result',
    seq: 4,
    result: { ok: false, kind: 'InvalidArgument', message: 'm', runtimeError: 'w' },
  });
  t.deepEqual(parseShimLine('{"protocol":1,"seq":5,"result":{"ok":false,"kind":"Unknown","message":"m"}}'), {
    kind: 'invalid',
    seq: 5,
    problem: 'error kind "Unknown" is not one of InvalidArgument, FailedPrecondition, Internal, NotFound, ResourceExhausted',
  });
  t.regex(shimResultProblem({ ok: true, pid: '12', conmonPid: 1 }), /pid "12" is not a process id/);
  t.regex(shimResultProblem({ ok: true, pid: 0, conmonPid: 1 }), /pid 0/);
  t.regex(shimResultProblem({ ok: true, pid: 1, conmonPid: 1, timings: { a: 'x' } }), /timings/);
  t.regex(shimResultProblem({ ok: false, kind: 'Internal' }), /no message/);
  t.regex(shimResultProblem({ ok: 'yes' }), /ok is "yes"/);
  t.regex(shimResultProblem(null), /not an object/);
  // Lines that name no job are not answers.
  t.deepEqual(parseShimLine('{"seq":6,"protocol":2,"result":{"ok":true,"pid":10,"conmonPid":9}}'), { kind: 'mismatch', seq: 6, protocol: 2 }, 'a shim of another release');
  t.deepEqual(parseShimLine('{"seq":7,"result":{"ok":true,"pid":10,"conmonPid":9}}'), { kind: 'mismatch', seq: 7, protocol: undefined });
  for (const stray of ['not json', '[]', '{"result":{"ok":true}}', '{"seq":"1","result":{}}', '{"seq":1.5,"result":{}}']) t.deepEqual(parseShimLine(stray), { kind: 'stray' }, stray);
});

// Answers by job id; `conmonPid` carries the fake shim's own pid, so a test sees which shim ran a job.
const FAKE_SHIM = `
let buf = '';
const answer = (seq, result) => process.stdout.write(JSON.stringify({ seq, protocol: 1, result }) + '\\n');
process.stdin.setEncoding('utf8');
process.stdin.on('data', (d) => {
  buf += d;
  let nl;
  while ((nl = buf.indexOf('\\n')) >= 0) {
    const { seq, job } = JSON.parse(buf.slice(0, nl));
    buf = buf.slice(nl + 1);
    process.stdout.write('a stray line\\n');
    const ok = { ok: true, pid: 4242, conmonPid: process.pid };
    switch (job.id) {
      case 'ok': answer(seq, ok); break;
      case 'slow': setTimeout(() => answer(seq, ok), 300); break;
      case 'fail': answer(seq, { ok: false, kind: 'Internal', message: 'runtime create failed: w', runtimeError: 'w' }); break;
      case 'badkind': answer(seq, { ok: false, kind: 'Bogus', message: 'x' }); break;
      case 'die': process.stderr.write('dying on purpose'); process.exit(3);
    }
  }
});
process.stdin.on('end', () => setTimeout(() => process.exit(0), 350));
`;

const job = (id: string): ShimJob => ({
  id,
  rootfs: { layersDir: '/l', lower: ['a'], upper: '/u', work: '/w', target: '/t' },
  bundle: '/b',
  spec: {},
  dirs: [],
  conmon: { path: '/usr/bin/conmon', args: [], pidFile: '/b/conmon.pid' },
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function withPool(t: { teardown: (fn: () => Promise<void> | void) => void }, opts: ConstructorParameters<typeof ShimPool>[0] = {}): Promise<ShimPool> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-unit-shim-'));
  const script = join(dir, 'fake-shim.mjs');
  await writeFile(script, FAKE_SHIM);
  const pool = new ShimPool({ command: [process.execPath, script], ...opts });
  t.teardown(async () => {
    pool.stop();
    for (let i = 0; i < 100 && pool.pids().length > 0; i++) await sleep(20);
    await rm(dir, { recursive: true, force: true });
  });
  return pool;
}

test('a burst runs side by side in the started shim; answers come back checked', async (t) => {
  const pool = await withPool(t);
  pool.prestart(1);
  const [spare] = pool.pids();
  t.truthy(spare);
  const results = await Promise.all(Array.from({ length: 6 }, () => pool.run(job('ok'))));
  t.deepEqual(new Set(results.map((r) => (r.ok ? r.conmonPid : 0))), new Set([spare]), 'every job ran in the spare');
  t.deepEqual(await pool.run(job('fail')), { ok: false, kind: 'Internal', message: 'runtime create failed: w', runtimeError: 'w' });
  const bad = await t.throwsAsync(pool.run(job('badkind')), { instanceOf: BerthError });
  t.is(bad.kind, 'Internal');
  t.regex(bad.message, /outside the protocol: error kind "Bogus"/);
  t.deepEqual(pool.pids(), [spare!], 'answers outside the protocol fail their job, not the shim');
});

test('a shim that dies fails its jobs with ShimDiedError and the spare is replaced', async (t) => {
  const pool = await withPool(t, { respawnAfterMs: 0 });
  pool.prestart(1);
  const [first] = pool.pids();
  const beside = pool.run(job('slow'));
  const e = await t.throwsAsync(pool.run(job('die')), { instanceOf: ShimDiedError });
  t.regex(e.message, /berth-shim ended \(3\) without a result: dying on purpose/);
  await t.throwsAsync(beside, { instanceOf: ShimDiedError }, 'the job beside it fails too');
  let now: number[] = [];
  for (let i = 0; i < 100; i++) {
    now = pool.pids();
    if (now.length === 1 && now[0] !== first) break;
    await sleep(20);
  }
  t.is(now.length, 1);
  t.not(now[0], first, 'a new spare');
  t.true((await pool.run(job('ok'))).ok);
});

test('a full shim sends the next job to another; stop kills idle shims', async (t) => {
  const pool = await withPool(t, { maxJobsPerShim: 2, lingerMs: 50 });
  const results = await Promise.all([pool.run(job('slow')), pool.run(job('slow')), pool.run(job('slow'))]);
  const shims = new Set(results.map((r) => (r.ok ? r.conmonPid : 0)));
  t.is(shims.size, 2, 'two jobs per shim');
  // No spares wanted: idle shims close after lingering.
  for (let i = 0; i < 100 && pool.pids().length > 0; i++) await sleep(20);
  t.deepEqual(pool.pids(), []);
  pool.prestart(1);
  t.is(pool.pids().length, 1);
  pool.stop();
  for (let i = 0; i < 100 && pool.pids().length > 0; i++) await sleep(20);
  t.deepEqual(pool.pids(), [], 'stop killed the idle spare');
});
