// `berth doctor` against a real berthd and against seeded misconfigurations: a healthy run
// (and berthd's recent warnings on /v1/health, which the berthd check reads)
// (berthd serving, its CNI config valid, a loopback registry mirror reachable: exit 0, no
// FAIL); then, with berthd's config pointing conmon elsewhere, a CNI dir holding only a
// broken conflist, a fake kubelet config whose cgroup driver differs from berth's, a
// mirror nobody listens on (fallback off) and no berthd on the state dir: each reported
// as FAIL with its remedy, exit 5, in the human output and in the JSON; a config berthd
// would refuse; berth images pull with berthd down (exit 4).
import anyTest, { type TestFn } from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startBerthd, isRoot, type TestBerthd } from '../helpers/berthd.js';
import { freePort, startRegistry, type TestRegistry } from '../helpers/registry.js';
import type { DoctorReport } from '../../cli/doctor/checks.js';
import { admin } from '../../cli/admin-client.js';

const test = anyTest as TestFn<{ b: TestBerthd; reg: TestRegistry; dir: string }>;
const rootOnly = isRoot() ? test.serial : test.serial.skip;
const BERTH_CLI = fileURLToPath(new URL('../../cli/berth.js', import.meta.url));

test.before(async (t) => {
  if (!isRoot()) return;
  t.context.dir = mkdtempSync(join(tmpdir(), 'berth-test-doctor-'));
  t.context.reg = await startRegistry();
  t.context.b = await startBerthd();
});
test.after.always(async (t) => {
  await t.context.b?.cleanup();
  await t.context.reg?.stop();
  if (t.context.dir) rmSync(t.context.dir, { recursive: true, force: true });
});

function doctor(args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [BERTH_CLI, 'doctor', ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const check = (r: DoctorReport, id: string) => r.checks.find((c) => c.id === id);

rootOnly('a healthy node: berthd serving, CNI valid, mirror reachable; exit 0', (t) => {
  const { b, reg, dir } = t.context;
  const cfg = join(dir, 'healthy.toml');
  writeFileSync(
    cfg,
    `socket = "${b.socket}"\nroot = "${b.root}"\nstate = "${b.state}"\n[cni]\nconf_dir = "${b.net.confDir}"\n` +
      `[image.registry.mirrors."docker.io"]\nendpoints = ["http://${reg.host}"]\nfallback = true\n`,
  );
  const r = doctor(['--config', cfg, '-o', 'json']);
  const report = JSON.parse(r.out) as DoctorReport;
  const fails = report.checks.filter((c) => c.status === 'FAIL');
  t.deepEqual(fails, [], 'no FAIL on a healthy node');
  t.is(r.code, 0, r.err);
  t.is(report.exitCode, 0);
  t.is(report.mode, 'berthd');
  t.is(report.config.file, cfg);
  t.like(check(report, 'config'), { status: 'PASS' });
  t.like(check(report, 'cni.config'), { status: 'PASS' });
  t.regex(check(report, 'cni.config')!.detail, /plugins bridge, portmap, loopback/);
  t.like(check(report, 'socket.cri'), { status: 'PASS' });
  t.like(check(report, 'socket.admin'), { status: 'PASS', detail: `${join(b.state, 'admin.sock')} mode 0600, owner uid 0` });
  t.regex(check(report, 'berthd')!.detail, /^berthd \S+ pid \d+, up \d+s/);
  t.not(check(report, 'berthd')!.status, 'FAIL');
  t.like(check(report, `registry.mirror.${reg.host}`), { status: 'PASS' });
  t.like(check(report, 'conmon'), { status: 'PASS' });
  t.regex(check(report, 'conmon')!.detail, /conmon version \d/);
  for (const id of ['kernel.overlay', 'kernel.namespaces', 'kernel.seccomp', 'cgroups.mode', 'cgroups.driver', 'cgroups.kubelet', 'catatonit', 'disk.root', 'disk.state', 'clock']) t.truthy(check(report, id), id);
  const human = doctor(['--config', cfg]);
  t.is(human.code, 0);
  t.regex(human.out, /^PASS  berthd +berthd .*; 0 errors, \d+ warnings since start$/m);
  t.regex(human.out, /^berth doctor: berthd is running; config /);
  t.regex(human.out, /^PASS  berthd +berthd /m);
  t.regex(human.out, /\d+ passed, \d+ warnings?, 0 failed, \d+ skipped\n$/);
});

rootOnly("berthd's recent warnings reach /v1/health, which berth doctor reads", async (t) => {
  const { b } = t.context;
  await t.throwsAsync(b.client.call('PullImage', { image: { image: '127.0.0.1:1/nothing/here:v1' } }, { service: 'image' }));
  const h = (await admin(b.state, 'GET', '/v1/health')) as { serving: boolean; totals: { warn: number }; recent: { level: string; message: string; component?: string; error?: string }[] };
  t.true(h.serving);
  t.true(h.totals.warn >= 1);
  const w = h.recent.find((e) => e.message === 'image pull failed');
  t.truthy(w, JSON.stringify(h.recent));
  t.is(w!.level, 'warn');
  t.is(w!.component, 'images');
});

rootOnly('seeded misconfigurations: missing conmon, broken conflist, driver mismatch, dead mirror, berthd down', async (t) => {
  const { dir } = t.context;
  const cni = join(dir, 'cni-broken');
  mkdirSync(cni, { recursive: true });
  writeFileSync(join(cni, '10-broken.conflist'), '{"cniVersion": "1.0.0", "name": "broken", "plugins": [ {"type": "bridge"');
  const kubelet = join(dir, 'kubelet-config.yaml');
  writeFileSync(kubelet, 'apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\ncgroupDriver: systemd\n');
  const deadPort = await freePort();
  const cfg = join(dir, 'broken.toml');
  const state = join(dir, 'state-nobody');
  writeFileSync(
    cfg,
    `socket = "${join(state, 'berth.sock')}"\nroot = "${join(dir, 'root-nobody')}"\nstate = "${state}"\ncgroup_driver = "cgroupfs"\nconmon = "${join(dir, 'not-here/conmon')}"\n` +
      `[cni]\nconf_dir = "${cni}"\n[image.registry.mirrors."registry.k8s.io"]\nendpoints = ["http://127.0.0.1:${deadPort}"]\nfallback = false\n`,
  );
  const r = doctor(['--config', cfg, '--kubelet-config', kubelet, '-o', 'json']);
  t.is(r.code, 5, r.err);
  const report = JSON.parse(r.out) as DoctorReport;
  t.is(report.exitCode, 5);
  t.is(report.mode, 'read-only');
  t.like(check(report, 'conmon'), { status: 'FAIL', detail: `${join(dir, 'not-here/conmon')} is missing or not executable` });
  t.regex(check(report, 'conmon')!.remedy!, /apt-get install conmon/);
  t.like(check(report, 'cni.config'), { status: 'FAIL' });
  t.regex(check(report, 'cni.config')!.detail, /10-broken\.conflist: not valid JSON/);
  t.regex(check(report, 'cni.config')!.remedy!, /fix or remove the broken file/);
  t.like(check(report, 'cgroups.kubelet'), { status: 'FAIL', detail: `kubelet uses cgroupDriver systemd (${kubelet}) but berth uses cgroupfs` });
  t.regex(check(report, 'cgroups.kubelet')!.remedy!, /cgroup_driver = "systemd" in berthd's config .* or cgroupDriver: cgroupfs in /);
  t.like(check(report, `registry.mirror.127.0.0.1:${deadPort}`), { status: 'FAIL' });
  t.regex(check(report, `registry.mirror.127.0.0.1:${deadPort}`)!.detail, /unreachable: .*ECONNREFUSED.*fallback is off/);
  t.like(check(report, 'berthd'), { status: 'FAIL' });
  t.regex(check(report, 'berthd')!.remedy!, /systemctl start berth/);
  t.like(check(report, 'socket.cri'), { status: 'WARN' });
  t.true(report.summary.fail >= 5);

  // The same in the human output: each FAIL line followed by its remedy.
  const human = doctor(['--config', cfg, '--kubelet-config', kubelet]);
  t.is(human.code, 5);
  t.regex(human.out, /^berth doctor: berthd is NOT running \(read-only: node checks only\)/);
  t.regex(human.out, /^FAIL  conmon +\S+ is missing or not executable\n +-> apt-get install conmon/m);
  t.regex(human.out, /^FAIL  cni\.config +.*not valid JSON.*\n +-> fix or remove/m);
  t.regex(human.out, /^FAIL  cgroups\.kubelet +kubelet uses cgroupDriver systemd .*\n +-> make them agree/m);
  t.regex(human.out, /\(exit 5\)\n$/);

  // A config berthd would refuse is itself a FAIL, and the rest still runs on the defaults.
  const bad = join(dir, 'bad.toml');
  writeFileSync(bad, 'no_such_key = 1\n');
  const br = doctor(['--config', bad, '-o', 'json']);
  t.is(br.code, 5);
  const bReport = JSON.parse(br.out) as DoctorReport;
  t.like(check(bReport, 'config'), { status: 'FAIL' });
  t.regex(check(bReport, 'config')!.detail, /unknown key "no_such_key"/);
  t.true(bReport.checks.length > 10);
  t.is(doctor(['-o', 'yaml']).code, 2);
  // Pulls need berthd: exit 4 when it is not running.
  const pull = spawnSync(process.execPath, [BERTH_CLI, 'images', 'pull', 'busybox', '--state', state], { encoding: 'utf8' });
  t.is(pull.status, 4);
  t.regex(pull.stderr, /berthd is not running/);
});
