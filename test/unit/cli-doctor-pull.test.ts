// The pure parts of berth doctor, berth images pull and berth completion: the human doctor
// report (golden), the JSON report's schema (a live run with berthd down), the pull progress
// rendering in plain and bar modes (golden, with a fixed clock), berthd's recent-warnings
// ring behind /v1/health, and the bash completion generated from the command table (every
// command and its flags complete, flag values and paths, the script parses).
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatDoctor } from '../../cli/doctor.js';
import { runDoctor, type DoctorReport } from '../../cli/doctor/checks.js';
import { PullRenderer } from '../../cli/images-pull.js';
import { bashCompletion } from '../../cli/completion.js';
import { COMMANDS, flagsOf } from '../../cli/commands.js';
import { RecentLog } from '../../server/recent-log.js';

const fixed: DoctorReport = {
  schemaVersion: 1,
  kind: 'DoctorReport',
  mode: 'read-only',
  berthVersion: '0.1.0',
  time: '2026-12-03T12:00:00.000Z',
  config: { file: '/etc/berth/config.toml', socket: '/run/berth/berth.sock', root: '/var/lib/berth', state: '/run/berth' },
  checks: [
    { id: 'config', status: 'PASS', detail: '/etc/berth/config.toml is valid' },
    { id: 'cgroups.kubelet', status: 'FAIL', detail: 'kubelet uses cgroupDriver systemd (/var/lib/kubelet/config.yaml) but berth uses cgroupfs', remedy: 'make them agree' },
    { id: 'socket.cri', status: 'WARN', detail: '/run/berth/berth.sock does not exist (berthd not running?)', remedy: 'start berthd (systemctl start berth)' },
    { id: 'registry.mirrors', status: 'SKIP', detail: 'no registry mirrors configured' },
  ],
  summary: { pass: 1, warn: 1, fail: 1, skip: 1 },
  exitCode: 5,
};

test('doctor human output (golden)', (t) => {
  t.is(
    formatDoctor(fixed),
    `berth doctor: berthd is NOT running (read-only: node checks only); config /etc/berth/config.toml
PASS  config            /etc/berth/config.toml is valid
FAIL  cgroups.kubelet   kubelet uses cgroupDriver systemd (/var/lib/kubelet/config.yaml) but berth uses cgroupfs
                        -> make them agree
WARN  socket.cri        /run/berth/berth.sock does not exist (berthd not running?)
                        -> start berthd (systemctl start berth)
SKIP  registry.mirrors  no registry mirrors configured
1 passed, 1 warning, 1 failed, 1 skipped (exit 5)
`,
  );
});

test('doctor JSON report schema (kind DoctorReport, schemaVersion 1), from a live run with berthd down', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-test-doctor-unit-'));
  try {
    const cfg = join(dir, 'config.toml');
    writeFileSync(cfg, `socket = "${dir}/berth.sock"\nroot = "${dir}/root"\nstate = "${dir}/state"\n[cni]\nconf_dir = "${dir}/cni"\n`);
    const r = await runDoctor({ configFile: cfg, timeoutMs: 1000 });
    const json = JSON.parse(JSON.stringify(r)) as Record<string, unknown>;
    t.deepEqual(Object.keys(json).sort(), ['berthVersion', 'checks', 'config', 'exitCode', 'kind', 'mode', 'schemaVersion', 'summary', 'time']);
    t.is(json.schemaVersion, 1);
    t.is(json.kind, 'DoctorReport');
    t.is(typeof json.berthVersion, 'string');
    t.false(Number.isNaN(Date.parse(json.time as string)));
    t.is(json.mode, 'read-only');
    t.deepEqual(json.config, { file: cfg, socket: `${dir}/berth.sock`, root: `${dir}/root`, state: `${dir}/state` });
    const ids = new Set<string>();
    for (const c of r.checks) {
      t.regex(c.id, /^[a-z]+(\.[a-zA-Z0-9:._-]+)?$/);
      t.false(ids.has(c.id), `unique id ${c.id}`);
      ids.add(c.id);
      t.true(['PASS', 'WARN', 'FAIL', 'SKIP'].includes(c.status));
      t.is(typeof c.detail, 'string');
      t.true(c.detail.length > 0 && !c.detail.includes('\n'), c.id);
      const keys = Object.keys(c).sort();
      if (c.status === 'WARN' || c.status === 'FAIL') {
        t.deepEqual(keys, ['detail', 'id', 'remedy', 'status'], c.id);
        t.true(c.remedy!.length > 0 && !c.remedy!.includes('\n'));
      } else t.deepEqual(keys, ['detail', 'id', 'status'], c.id);
    }
    for (const id of ['config', 'kernel.overlay', 'kernel.namespaces', 'kernel.seccomp', 'kernel.apparmor', 'cgroups.mode', 'cgroups.driver', 'cgroups.kubelet', 'runtime.runc', 'runtime.crun', 'conmon', 'catatonit', 'cni.config', 'socket.cri', 'socket.admin', 'disk.root', 'disk.state', 'clock', 'berthd', 'registry.mirrors']) {
      t.true(ids.has(id), `check ${id} is always there`);
    }
    const count = (s: string) => r.checks.filter((c) => c.status === s).length;
    t.deepEqual(r.summary, { pass: count('PASS'), warn: count('WARN'), fail: count('FAIL'), skip: count('SKIP') });
    t.is(r.exitCode, r.summary.fail > 0 ? 5 : 0);
    // No CNI config in the temp dir and no berthd: both FAIL.
    t.is(r.checks.find((c) => c.id === 'cni.config')!.status, 'FAIL');
    t.is(r.checks.find((c) => c.id === 'berthd')!.status, 'FAIL');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const D1 = 'sha256:' + 'a1'.repeat(32);
const D2 = 'sha256:' + 'b2'.repeat(32);

function render(mode: 'plain' | 'bars') {
  let now = 1_000_000;
  let out = '';
  const r = new PullRenderer(mode, (s) => (out += s), () => now);
  r.event({ type: 'resolved', reference: 'example.test/app:v1', id: 'sha256:cc', layers: [{ digest: D1, size: 4 << 20 }, { digest: D2, size: 1000 }] });
  r.event({ type: 'layer', digest: D2, status: 'present', done: 1000, total: 1000 });
  now += 1000;
  r.event({ type: 'layer', digest: D1, status: 'downloading', done: 1 << 20, total: 4 << 20 });
  now += 200;
  r.event({ type: 'layer', digest: D1, status: 'downloading', done: (1 << 20) + 100, total: 4 << 20 });
  now += 1000;
  r.event({ type: 'layer', digest: D1, status: 'downloading', done: 3 << 20, total: 4 << 20 });
  r.event({ type: 'layer', digest: D1, status: 'done', done: 4 << 20, total: 4 << 20 });
  r.event({ type: 'pulled', id: 'sha256:cc', reference: 'example.test/app:v1', repoTags: [], repoDigests: [], bytesDownloaded: 4 << 20, seconds: 2.5 });
  return out;
}

test('pull progress, plain lines (golden): state changes, download progress at most once a second per layer', (t) => {
  t.is(
    render('plain'),
    `pulling example.test/app:v1 (2 layers, 4.0 MiB)
b2b2b2b2b2b2  present      1000 B/1000 B
a1a1a1a1a1a1  downloading  1.0 MiB/4.0 MiB (25%)  1.0 MiB/s  3s left
a1a1a1a1a1a1  downloading  3.0 MiB/4.0 MiB (75%)  1.4 MiB/s  1s left
a1a1a1a1a1a1  done         4.0 MiB/4.0 MiB
pulled example.test/app:v1 sha256:cc (4.0 MiB downloaded in 2.5s)
`,
  );
});

test('pull progress, terminal bars (golden): redrawn in place', (t) => {
  const out = render('bars');
  const frames = out.split('\x1b[2A');
  t.is(frames.length, 7, 'six redraws after the first frame');
  t.is(
    frames[3],
    '\x1b[2K' + 'a1a1a1a1a1a1  [======>                 ]  25%  1.0 MiB/4.0 MiB  853.4 KiB/s  4s left\n' + '\x1b[2K' + 'b2b2b2b2b2b2  present      1000 B/1000 B\n',
  );
  t.true(out.endsWith('pulled example.test/app:v1 sha256:cc (4.0 MiB downloaded in 2.5s)\n'));
});

test('recent log ring: warn and error lines only, bounded, across split writes', (t) => {
  const r = new RecentLog(2);
  r.observe('{"level":"info","message":"a"}\n{"level":"warn","message":"b","component":"images"}\n{"level":"er');
  r.observe('ror","message":"c","error":"boom","timestamp":"T"}\nnot json\n{"level":"error","message":"d"}\n');
  t.deepEqual(
    r.entries().map((e) => [e.level, e.message]),
    [
      ['error', 'c'],
      ['error', 'd'],
    ],
  );
  t.like(r.entries()[0], { time: 'T', error: 'boom' });
  t.deepEqual(r.totals(), { warn: 1, error: 2 });
});

function complete(line: string): string[] {
  const words = line.split(' ');
  const script = `${bashCompletion()}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _berth; printf '%s\\n' "\${COMPREPLY[@]}"`;
  const r = spawnSync('bash', ['-c', script], { encoding: 'utf8', cwd: tmpdir() });
  if (r.status !== 0) throw new Error(r.stderr);
  return r.stdout.split('\n').filter(Boolean);
}

test('bash completion: generated from the command table, every command and flag completes', (t) => {
  t.is(spawnSync('bash', ['-n'], { input: bashCompletion() }).status, 0, 'the script parses');
  const firsts = [...new Set(Object.keys(COMMANDS).map((k) => k.split(' ')[0]!))];
  t.deepEqual(complete('berth ').sort(), firsts.sort());
  t.deepEqual(complete('berth ima'), ['images']);
  t.deepEqual(complete('berth images ').sort(), ['import', 'ls', 'pull', 'rm']);
  for (const key of Object.keys(COMMANDS)) {
    const flags = flagsOf(COMMANDS[key]!.usage).map((f) => f.name);
    t.deepEqual(complete(`berth ${key} -`).sort(), [...flags, '--help'].sort(), key);
  }
  t.deepEqual(complete('berth images pull x --progress '), ['auto', 'bars', 'plain', 'none']);
  t.deepEqual(complete('berth doctor -o j'), ['json']);
  t.deepEqual(complete('berth completion '), ['bash']);
  t.true(complete('berth doctor --config /et').includes('/etc'));
  t.deepEqual(flagsOf(COMMANDS['doctor']!.usage), [{ name: '--config', value: 'FILE' }, { name: '--root', value: 'DIR' }, { name: '--state', value: 'DIR' }, { name: '--kubelet-config', value: 'FILE' }, { name: '--host-root', value: 'DIR' }, { name: '-o', value: 'table|json' }]);
});
