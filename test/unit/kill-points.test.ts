// The kill-point facility (server/kill-points.ts): inert without BERTH_KILL_POINTS; with it,
// points are traced per call and the armed point kills the process with SIGKILL on the
// armed hit of the armed RPC only (other RPCs, other hits and calls outside any RPC pass).
// Each case runs in a child process, since a hit ends the process that reaches it.
import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const MODULE = fileURLToPath(new URL('../../server/kill-points.js', import.meta.url));

/** Runs a script against the module in a child; returns its exit, signal and stderr. */
function child(script: string, env: Record<string, string>): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; stdout: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--input-type=module', '-e', `const k = await import(${JSON.stringify(MODULE)});\n${script}`], {
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    let stdout = '';
    p.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    p.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    p.on('close', (code, signal) => resolve({ code, signal, stderr, stdout }));
  });
}

const CALLS = `
for (const rpc of ['StopPodSandbox', 'RunPodSandbox']) {
  await k.withKillPointScope(rpc, async () => {
    k.killPoint('a'); k.killPoint('b'); k.killPoint('a'); k.killPoint('a');
  });
  console.log('after ' + rpc);
}
k.killPoint('a');
console.log('done');
`;

test('without BERTH_KILL_POINTS the facility is off and points do nothing', async (t) => {
  const r = await child(`console.log(k.killPointsEnabled); k.killPoint('a'); console.log('alive');`, {});
  t.is(r.stdout, 'false\nalive\n');
  t.is(r.signal, null);
});

test('an armed point kills the process on the armed hit of the armed RPC only', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'kill-points-'));
  try {
    const file = join(dir, 'arm.json');
    await writeFile(file, JSON.stringify({ rpc: 'RunPodSandbox', point: 'a', hit: 3 }));
    const r = await child(CALLS, { BERTH_KILL_POINTS: file });
    t.is(r.signal, 'SIGKILL');
    t.is(r.stdout, 'after StopPodSandbox\n', 'the same point in another RPC passes');
    t.regex(r.stderr, /"kill point: berthd kills itself","rpc":"RunPodSandbox","point":"a","hit":3/);
    // A hit that is never reached: the process lives.
    await writeFile(file, JSON.stringify({ rpc: 'RunPodSandbox', point: 'b', hit: 2 }));
    const r2 = await child(CALLS, { BERTH_KILL_POINTS: file });
    t.is(r2.signal, null);
    t.is(r2.stdout, 'after StopPodSandbox\nafter RunPodSandbox\ndone\n');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('trace mode lists every point reached with its hit count per call, and disarmed runs pass', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'kill-points-'));
  try {
    const file = join(dir, 'arm.json');
    await writeFile(file, JSON.stringify({ trace: true }));
    const r = await child(CALLS, { BERTH_KILL_POINTS: file });
    t.is(r.signal, null);
    const lines = r.stderr.trim().split('\n').map((l) => JSON.parse(l) as { rpc: string; point: string; hit: number });
    t.deepEqual(
      lines.map((l) => `${l.rpc}:${l.point}#${l.hit}`),
      ['StopPodSandbox:a#1', 'StopPodSandbox:b#1', 'StopPodSandbox:a#2', 'StopPodSandbox:a#3', 'RunPodSandbox:a#1', 'RunPodSandbox:b#1', 'RunPodSandbox:a#2', 'RunPodSandbox:a#3'],
    );
    await writeFile(file, '');
    const r2 = await child(CALLS, { BERTH_KILL_POINTS: file });
    t.is(r2.stdout, 'after StopPodSandbox\nafter RunPodSandbox\ndone\n');
    t.is(r2.stderr, '');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
