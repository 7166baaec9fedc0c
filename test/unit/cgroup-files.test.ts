// The cgroup file readers against real files: /proc/<pid>/cgroup, this host's v1 hierarchies
// (the stats of this test process's own cgroups) and whatever its cgroup2 mount offers (on our
// hybrid hosts: cpu.stat and the PSI files of the root), plus PSI and /proc/<pid>/cgroup
// parsing in the formats the kernel documents (Documentation/accounting/psi.rst, cgroups(7)),
// including crun's layout under systemd (the process one level below its scope).
import test from 'ava';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readCgroupLayout } from '../../server/cgroups/detect.js';
import { createCgroupManager } from '../../server/cgroups/hierarchy.js';
import { cgroupPathFor, parseProcCgroup, readProcessCgroup } from '../../server/cgroups/proc.js';
import { parseV2Stats } from '../../server/cgroups/stats.js';
import { parsePressure, readPressure } from '../../server/cgroups/v2/psi.js';

test('/proc/self/cgroup of this process parses, and the manager path is the memory (v1) or unified (v2) one', async (t) => {
  const text = readFileSync('/proc/self/cgroup', 'utf8');
  const entries = parseProcCgroup(text);
  t.is(entries.length, text.trim().split('\n').length, 'every line is understood');
  const layout = await readCgroupLayout();
  const path = await readProcessCgroup(process.pid, layout);
  t.truthy(path);
  const expected = layout.mode === 'v2' ? /^0::(\/.*)$/m.exec(text)?.[1] : /^\d+:(?:[^:]*,)?memory(?:,[^:]*)?:(\/.*)$/m.exec(text)?.[1];
  t.is(path, expected);
  t.is(await readProcessCgroup(2 ** 22 + 1, layout), undefined, 'a process that does not exist has no cgroup');
  t.is(await readProcessCgroup(0, layout), undefined);
});

test('/proc/<pid>/cgroup: hybrid and v2 forms; crun under systemd sits in <scope>/container', (t) => {
  const hybrid = '12:memory:/kubepods/pod1/abc\n11:cpu,cpuacct:/kubepods/pod1/abc\n1:name=systemd:/kubepods/pod1/abc\n0::/kubepods/pod1/abc\n';
  const e = parseProcCgroup(hybrid);
  t.deepEqual(e[1], { id: 11, controllers: ['cpu', 'cpuacct'], path: '/kubepods/pod1/abc' });
  t.deepEqual(e[3], { id: 0, controllers: [], path: '/kubepods/pod1/abc' });
  t.is(cgroupPathFor(e, { mode: 'hybrid' }), '/kubepods/pod1/abc');
  const crun = '0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice/berth-abc.scope/container\n';
  t.is(cgroupPathFor(parseProcCgroup(crun), { mode: 'v2' }), '/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice/berth-abc.scope/container');
  // A path may contain ':'; garbage lines are skipped.
  t.deepEqual(parseProcCgroup('0::/a:b\nnonsense\n'), [{ id: 0, controllers: [], path: '/a:b' }]);
  t.is(cgroupPathFor(parseProcCgroup('3:pids:/x\n'), { mode: 'v1' }), '/x', 'pids is the last resort on v1');
  t.is(cgroupPathFor(parseProcCgroup('3:pids:/x\n'), { mode: 'v2' }), undefined);
});

test('this host\'s v1 cgroups of this process: stats parse from the real files', async (t) => {
  const layout = await readCgroupLayout();
  if (layout.mode === 'v2') {
    t.pass('cgroup v2 host: no v1 files here (the v2 files are covered below and in the guest)');
    return;
  }
  const path = (await readProcessCgroup(process.pid, layout))!;
  const s = await createCgroupManager(layout, path).stats();
  t.truthy(s.memory, 'memory stats from memory.usage_in_bytes and memory.stat');
  t.true(s.memory!.usage > 0);
  t.true(s.memory!.workingSet <= s.memory!.usage);
  t.true(s.memory!.rss !== undefined && s.memory!.rss > 0, 'total_rss of a cgroup holding this process');
  // A container has one path in every hierarchy; this test process need not (a sandbox may move
  // it in memory only), so CPU is read at its cpuacct path.
  const cpuacctPath = parseProcCgroup(readFileSync('/proc/self/cgroup', 'utf8')).find((e) => e.controllers.includes('cpuacct'))!.path;
  const c = await createCgroupManager(layout, cpuacctPath).stats();
  t.truthy(c.cpu, 'cpu stats from cpuacct.usage');
  t.true(c.cpu!.usageNs > 0n);
  t.true((c.cpu!.userNs ?? 0n) + (c.cpu!.systemNs ?? 0n) > 0n);
});

test('this host\'s cgroup2 mount: real cpu.stat and pressure files parse', async (t) => {
  const layout = await readCgroupLayout();
  const root = layout.unified;
  if (root === undefined || !existsSync(join(root, 'cpu.stat'))) {
    t.pass('no cgroup2 mount with cpu.stat here');
    return;
  }
  const cpu = parseV2Stats({ 'cpu.stat': readFileSync(join(root, 'cpu.stat'), 'utf8') }).cpu;
  t.truthy(cpu);
  t.true(cpu!.usageNs > 0n && cpu!.usageNs % 1000n === 0n, 'µs → ns');
  for (const r of ['cpu', 'memory', 'io'] as const) {
    if (!existsSync(join(root, `${r}.pressure`))) continue;
    const p = await readPressure(root, r);
    t.truthy(p, `${r}.pressure`);
    t.true(p!.some.avg10 >= 0 && p!.some.avg300 <= 100);
    t.is(typeof p!.some.totalUs, 'bigint');
  }
});

test('PSI: some and full lines; cpu without full (before Linux 5.13); garbage is no pressure', (t) => {
  const mem = 'some avg10=0.12 avg60=1.50 avg300=0.00 total=123456\nfull avg10=0.00 avg60=0.25 avg300=0.00 total=4567\n';
  t.deepEqual(parsePressure(mem), {
    some: { avg10: 0.12, avg60: 1.5, avg300: 0, totalUs: 123456n },
    full: { avg10: 0, avg60: 0.25, avg300: 0, totalUs: 4567n },
  });
  t.deepEqual(parsePressure('some avg10=3.00 avg60=2.00 avg300=1.00 total=99\n'), { some: { avg10: 3, avg60: 2, avg300: 1, totalUs: 99n } });
  t.is(parsePressure(''), undefined);
  t.is(parsePressure('full avg10=0.00 avg60=0.00 avg300=0.00 total=1\n'), undefined, 'no some line');
  t.is(parsePressure('some avg10=x avg60=0.00 avg300=0.00 total=1\n'), undefined);
});

test('readPressure: a missing file is no pressure (v1, PSI off); the v1 manager has none', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-psi-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  t.is(await readPressure(dir, 'io'), undefined);
  writeFileSync(join(dir, 'io.pressure'), 'some avg10=0.50 avg60=0.10 avg300=0.02 total=42\nfull avg10=0.25 avg60=0.05 avg300=0.01 total=21\n');
  t.is((await readPressure(dir, 'io'))?.full?.totalUs, 21n);
  mkdirSync(join(dir, 'memory'));
  t.is(await createCgroupManager({ mode: 'v1', v1: { memory: join(dir, 'memory') } }, '/').pressure('memory'), undefined);
  t.is((await createCgroupManager({ mode: 'v2', v1: {}, unified: dir }, '/').pressure('io'))?.some.totalUs, 42n);
});
