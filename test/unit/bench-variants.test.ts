// The bench's berth variants (--berth-handlers runc,crun) and its OCI reference, without
// runtimes: the recorder's figures and ratios with variants (each variant / containerd and
// berth+crun / berth+runc), the report keeping the two-runtime table unchanged without them
// and adding a column per variant and ratio with them, and the OCI bundle's runtime spec.
import test from 'ava';
import { ScenarioRecorder } from '../../bench/scenario.js';
import { formatScenario } from '../../bench/report.js';
import { bundleConfig } from '../../bench/oci.js';

test('without variants: berth, containerd and berth/containerd as before', (t) => {
  const rec = new ScenarioRecorder('lifecycle', 'pod lifecycle');
  rec.figure('pod-to-running p50', 'ms', 'berth', 100);
  rec.figure('pod-to-running p50', 'ms', 'containerd', 200);
  const r = rec.finish(1);
  t.deepEqual(Object.keys(r.runtimes), ['berth', 'containerd']);
  t.deepEqual(r.figures, [{ name: 'pod-to-running p50', unit: 'ms', better: 'lower', berth: 100, containerd: 200, ratio: 0.5 }]);
  const lines = formatScenario(r).split('\n');
  t.regex(lines[1]!, /^figure +berth +containerd +ratio$/);
  t.regex(lines[2]!, /^pod-to-running p50 \(ms\) +100 +200 +0\.50$/);
});

test('with variants: a value per runtime, each variant against containerd, crun against runc', (t) => {
  const rec = new ScenarioRecorder('execsync', 'ExecSync', ['berth+runc', 'berth+crun', 'containerd']);
  rec.figure('ExecSync p50', 'ms', 'berth+runc', 40);
  rec.figure('ExecSync p50', 'ms', 'berth+crun', 30);
  rec.figure('ExecSync p50', 'ms', 'containerd', 20);
  const [f] = rec.finish(1).figures;
  // The two-runtime fields carry the first variant, for readers of the old JSON.
  t.like(f, { berth: 40, containerd: 20, ratio: 2 });
  t.deepEqual(f!.values, { 'berth+runc': 40, 'berth+crun': 30, containerd: 20 });
  t.deepEqual(f!.ratios, { 'berth+runc / containerd': 2, 'berth+crun / containerd': 1.5, 'berth+crun / berth+runc': 0.75 });
  const text = formatScenario(rec.result);
  t.regex(text, /figure +berth\+runc +berth\+crun +containerd +berth\+runc \/ containerd +berth\+crun \/ containerd +berth\+crun \/ berth\+runc/);
  t.regex(text, /ExecSync p50 \(ms\) +40\.0 +30\.0 +20\.0 +2\.00 +1\.50 +0\.75/);
});

test('a failed variant has no value and no ratio; the others keep theirs', (t) => {
  const rec = new ScenarioRecorder('lifecycle', 'pod lifecycle', ['berth+runc', 'berth+crun', 'containerd']);
  rec.figure('pod-to-running p50', 'ms', 'berth+runc', 50);
  rec.figure('pod-to-running p50', 'ms', 'berth+crun', 45);
  rec.figure('pod-to-running p50', 'ms', 'containerd', 25);
  rec.fail('berth+crun', new Error('handler crun not ready'));
  const r = rec.finish(1);
  t.is(r.runtimes['berth+crun']!.status, 'error');
  t.deepEqual(r.figures[0]!.ratios, { 'berth+runc / containerd': 2, 'berth+crun / containerd': null, 'berth+crun / berth+runc': null });
  t.regex(formatScenario(r), /berth\+crun: ERROR: handler crun not ready/);
});

test('the OCI bundle runs busybox sleep without a terminal, read-only, in the given cgroup', (t) => {
  const spec = { ociVersion: '1.0.2', process: { terminal: true, args: ['sh'], cwd: '/' }, root: { path: 'rootfs', readonly: true }, linux: { namespaces: [{ type: 'pid' }] } };
  const c = bundleConfig(spec, '/berth-test-bench-x-oci/oci-runc-0');
  t.deepEqual(c.process, { terminal: false, args: ['/bin/sleep', '3600'], cwd: '/' });
  t.deepEqual(c.linux, { namespaces: [{ type: 'pid' }], cgroupsPath: '/berth-test-bench-x-oci/oci-runc-0' });
  t.is(c.root.readonly, true);
  t.is(spec.process.terminal, true, 'the template is not changed');
});
