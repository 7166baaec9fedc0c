// The long guest tier's host-side pieces: the conformance runner's time scale (every spec
// deadline and helper timeout multiplied, bad scales refused), the slice-form cgroup_parent
// the suite sends to a runtime with the systemd driver, containerd's config with
// SystemdCgroup and AppArmor, and the result table area × configuration (cells, verdict,
// text). No guest, no runtime: specs here call no RPC.
import test from 'ava';
import type { CriClient } from '../../conformance/client.js';
import { containerdConfig } from '../../conformance/runtimes/containerd.js';
import type { Report } from '../../conformance/report.js';
import { isSlicePrefix, podCgroupParent, runSpecs, scaleMs, type SpecResult } from '../../conformance/runner.js';
import type { Spec, SuiteEnv } from '../../conformance/spec.js';
import { buildLongTable, cellOf, formatLongTable, type ConfigRun } from '../guest/long-table.js';

test('scaleMs multiplies and refuses a scale that is not a positive number', (t) => {
  t.is(scaleMs(60_000), 60_000);
  t.is(scaleMs(60_000, 30), 1_800_000);
  t.is(scaleMs(10, 1.5), 15);
  for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) t.throws(() => scaleMs(1, bad), { message: /time scale/ });
});

/** Runs specs with no runtime behind them (they call no RPC; the sweep has nothing to remove). */
async function runLocal(specs: Spec[], timeScale: number): Promise<SpecResult[]> {
  const { results } = await runSpecs({
    env: { client: {} as CriClient, images: {} as SuiteEnv['images'], logRoot: '/nonexistent', workDir: '/nonexistent', cgroupParent: '', runtimeHandler: '', runId: 't', runtimeName: 'none', timeScale },
    specs,
    probe: new Map(),
    concurrency: 1,
  });
  return results;
}

const base = { area: 'containers', needs: [] } as const;

test('the spec deadline is scaled', async (t) => {
  const hang: Spec = { ...base, id: 'x/hang', title: 'never ends', timeoutMs: 20, run: () => new Promise(() => undefined) };
  const [r1] = await runLocal([hang], 1);
  t.is(r1!.status, 'failed');
  t.is(r1!.message, 'timed out after 20 ms');
  const [r3] = await runLocal([hang], 3);
  t.is(r3!.message, 'timed out after 60 ms');
});

test('the timeout of eventually is scaled', async (t) => {
  const never: Spec = { ...base, id: 'x/never', title: 'never true', run: (c) => c.eventually(async () => false, 'the thing', 10).then(() => undefined) };
  const [r] = await runLocal([never], 4);
  t.is(r!.status, 'failed');
  t.regex(r!.message ?? '', /the thing \(not within 40 ms\)/);
});

test('cgroup_parent: cgroupfs paths as before, systemd slices with the uid made slice-safe', (t) => {
  t.false(isSlicePrefix(''));
  t.false(isSlicePrefix('/berth-conformance-ab12'));
  t.true(isSlicePrefix('berthconf_ab12'));
  t.is(podCgroupParent('/berth-conformance-ab12', 'ab12-3'), '/berth-conformance-ab12-podab12-3');
  // One level per pod under berthconf_ab12.slice, as kubelet's kubepods-besteffort-pod<uid>.slice.
  t.is(podCgroupParent('berthconf_ab12', 'ab12-3'), 'berthconf_ab12-podab12_3.slice');
  t.is(podCgroupParent('kubepods-besteffort', '1f2e-33'), 'kubepods-besteffort-pod1f2e_33.slice');
  for (const bad of ['a..b', 'x.slice', 'a--b', '-a', 'a b']) t.throws(() => podCgroupParent(bad, '1'), { message: /slice prefix/ });
});

test('containerd config: SystemdCgroup and AppArmor only when asked', (t) => {
  const p = { dir: '/tmp/d', socket: '/tmp/d/c.sock', sandboxImage: '127.0.0.1:5/p:1', runc: '/usr/sbin/runc', cniBinDir: '/usr/lib/cni', logLevel: 'warn' };
  const plain = containerdConfig(p);
  t.regex(plain, /SystemdCgroup = false/);
  t.regex(plain, /disable_apparmor = true/);
  const sd = containerdConfig({ ...p, systemdCgroup: true, apparmor: true });
  t.regex(sd, /SystemdCgroup = true/);
  t.regex(sd, /disable_apparmor = false/);
  // The legacy (shim v1) option stays off: SystemdCgroup is the runc v2 shim's.
  t.regex(sd, /systemd_cgroup = false/);
});

function report(results: Array<Pick<SpecResult, 'id' | 'area' | 'status'>>): Report {
  return { results: results.map((r) => ({ ...r, title: r.id, needs: [], durationMs: 1 })), warnings: [] } as unknown as Report;
}

test('cellOf: failed beats passed, all not supported is not supported, no spec is not run', (t) => {
  const rep = report([
    { id: 'c/1', area: 'containers', status: 'passed' },
    { id: 'c/2', area: 'containers', status: 'failed' },
    { id: 'e/1', area: 'exec', status: 'passed' },
    { id: 'e/2', area: 'exec', status: 'skipped' },
    { id: 'e/3', area: 'exec', status: 'known limitation' },
    { id: 's/1', area: 'stats', status: 'not supported' },
  ]);
  const c = cellOf(rep, 'containers');
  t.is(c.status, 'failed');
  t.deepEqual(c.failures, ['c/2']);
  t.like(cellOf(rep, 'exec'), { status: 'passed', passed: 1, skipped: 1, knownLimitations: 1 });
  t.like(cellOf(rep, 'stats'), { status: 'not supported', notSupported: 1 });
  t.is(cellOf(rep, 'logs').status, 'not run');
  t.is(cellOf(undefined, 'containers').status, 'not run');
});

test('buildLongTable: ok only when every configuration ran, nothing failed and nothing was left', (t) => {
  const good = report([{ id: 'c/1', area: 'containers', status: 'passed' }]);
  const runs: ConfigRun[] = [
    { config: 'berth systemd/runc', report: good, leftovers: [] },
    { config: 'containerd systemd/runc', report: good, leftovers: [] },
  ];
  const ok = buildLongTable(['containers'], runs);
  t.true(ok.ok);
  t.deepEqual(ok.configs, ['berth systemd/runc', 'containerd systemd/runc']);
  t.is(ok.cells.containers!['containerd systemd/runc']!.status, 'passed');
  t.false(buildLongTable(['containers'], [runs[0]!, { ...runs[1]!, leftovers: ['systemd unit berth-x.scope'] }]).ok);
  t.false(buildLongTable(['containers'], [runs[0]!, { config: 'berth systemd/crun', error: 'berthd: no', leftovers: [] }]).ok);
  t.false(buildLongTable(['containers'], [{ ...runs[0]!, report: report([{ id: 'c/1', area: 'containers', status: 'failed' }]) }]).ok);
  t.false(buildLongTable(['containers'], []).ok);
  // An area nobody implements is not a failure.
  t.true(buildLongTable(['stats'], [{ config: 'a', report: report([{ id: 's/1', area: 'stats', status: 'not supported' }]), leftovers: [] }]).ok);
});

test('formatLongTable: a row per area, a column per configuration, then failures, leftovers and errors', (t) => {
  const runs: ConfigRun[] = [
    { config: 'berth systemd/runc', report: report([{ id: 'c/1', area: 'containers', status: 'passed' }, { id: 'c/2', area: 'containers', status: 'failed' }]), leftovers: ['systemd unit berth-abc.scope loaded active running'] },
    { config: 'berth systemd/crun', error: 'berthd did not start', leftovers: [] },
  ];
  const text = formatLongTable(buildLongTable(['containers', 'exec'], runs));
  const lines = text.split('\n');
  t.regex(lines[0]!, /^area +\| berth systemd\/runc +\| berth systemd\/crun$/);
  t.regex(text, /containers +\| FAILED 1 1\/2 +\| not run/);
  t.regex(text, /exec +\| not run +\| not run/);
  t.regex(text, /leftovers +\| 1 LEFT +\| none/);
  t.regex(text, /berth systemd\/runc: failed: c\/2/);
  t.regex(text, /berth systemd\/runc: left behind: systemd unit berth-abc.scope/);
  t.regex(text, /berth systemd\/crun: error: berthd did not start/);
  t.is(lines.at(-1), 'long tier: NOT OK');
});
