// The conformance suite's pure parts (no runtime needed): CRI log parsing, reports
// (human, JUnit), the README table, and the private containerd's generated config.
import test from 'ava';
import { parseCriLog, joinPartials, capBits } from '../../conformance/specs/util.js';
import { buildReport, humanReport, junitReport, type Report } from '../../conformance/report.js';
import { conformanceSection, updateReadme, BEGIN, END } from '../../conformance/table.js';
import { containerdConfig, hostsToml, containerdConflist } from '../../conformance/runtimes/containerd.js';
import { allSpecs } from '../../conformance/specs/index.js';
import { AREAS, RUNTIME_RPCS, IMAGE_RPCS } from '../../conformance/spec.js';
import type { SpecResult } from '../../conformance/runner.js';

test('CRI log lines parse; P… F runs join per stream', (t) => {
  const text = [
    '2026-11-27T20:43:38.530228443+00:00 stdout P abc',
    '2026-11-27T20:43:38.530228444Z stderr F err line',
    '2026-11-27T20:43:38.530228445Z stdout F def',
    '2026-11-27T20:43:38.6Z stdout F  leading space',
    '',
  ].join('\n');
  const lines = parseCriLog(text);
  t.is(lines.length, 4);
  t.deepEqual(joinPartials(lines), [
    { stream: 'stderr', text: 'err line' },
    { stream: 'stdout', text: 'abcdef' },
    { stream: 'stdout', text: ' leading space' },
  ]);
  t.throws(() => parseCriLog('not a log line\n'), { message: /not in CRI format/ });
  t.deepEqual(capBits('00000000a80425fb').slice(0, 4), [0, 1, 3, 4]);
});

test('every spec has a known area, a unique id and declares only real RPCs', (t) => {
  const rpcs = new Set<string>([...RUNTIME_RPCS, ...IMAGE_RPCS]);
  const ids = new Set<string>();
  for (const s of allSpecs) {
    t.true((AREAS as readonly string[]).includes(s.area), s.id);
    t.false(ids.has(s.id), s.id);
    ids.add(s.id);
    t.true(s.needs.length > 0, s.id);
    for (const r of s.needs) t.true(rpcs.has(r), `${s.id}: ${r}`);
  }
});

function fakeReport(name: string, statuses: Array<[string, string, SpecResult['status']]>): Report {
  const results: SpecResult[] = statuses.map(([id, area, status]) => ({ id, area, title: `title of ${id} | <x>`, needs: ['Version'], status, durationMs: 5, ...(status === 'passed' ? {} : { message: `why "${id}" & more` }) }));
  return buildReport({
    endpoint: 'unix:///x.sock',
    runtime: { name, version: '1.0', apiVersion: 'v1' },
    startedAt: new Date('2026-11-27T00:00:00Z'),
    durationMs: 1000,
    probe: new Map([
      ['Version', { supported: true, detail: 'OK' }],
      ['RuntimeConfig', { supported: false, detail: 'unknown method' }],
    ]),
    results,
    warnings: [],
  });
}

test('reports: summary, human table, JUnit XML escaping', (t) => {
  const rep = fakeReport('rt', [
    ['a/1', 'runtime info', 'passed'],
    ['a/2', 'runtime info', 'failed'],
    ['b/1', 'images', 'not supported'],
    ['b/2', 'images', 'known limitation'],
  ]);
  t.deepEqual(rep.summary, { total: 4, passed: 1, failed: 1, knownLimitations: 1, notSupported: 1, skipped: 0 });
  const human = humanReport(rep);
  t.regex(human, /runtime info\s+1\s+1\s+0\s+0\s+0/);
  t.regex(human, /RPCs answering UNIMPLEMENTED: RuntimeConfig/);
  const xml = junitReport(rep);
  t.regex(xml, /<testsuites [^>]*tests="4" failures="1"/);
  t.regex(xml, /<failure message="why &quot;a\/2&quot; &amp; more">/);
  t.regex(xml, /name="a\/1: title of a\/1 \| &lt;x&gt;"/);
  t.is((xml.match(/<skipped /g) ?? []).length, 2);
});

test('README table: areas × runtimes, limitations, replaced between the markers', (t) => {
  const ctd = fakeReport('containerd', [
    ['a/1', 'runtime info', 'passed'],
    ['b/1', 'images', 'known limitation'],
  ]);
  const berth = fakeReport('berth', [
    ['a/1', 'runtime info', 'passed'],
    ['b/1', 'images', 'passed'],
  ]);
  const section = conformanceSection(ctd, berth);
  t.true(section.startsWith(BEGIN) && section.endsWith(END));
  t.regex(section, /\| runtime info \| 1 \| 1 passed \| 1 passed \|/);
  t.regex(section, /\| images \| 1 \| 1 known limitation \| 1 passed \|/);
  t.regex(section, /`b\/1` \(title of b\/1 \| <x>\): why "b\/1" & more/);
  const readme = `# x\n\n## Conformance\n\nprose\n\n${BEGIN}\nold\n${END}\n\n## Development\n`;
  const updated = updateReadme(readme, section);
  t.true(updated.includes('prose') && updated.includes('1 known limitation') && !updated.includes('\nold\n'));
  t.is(updateReadme(updated, section), updated);
  t.regex(updateReadme('# x\n\n## Development\n', section), /## Conformance\n\n<!-- conformance:begin -->[\s\S]*## Development/);
});

test('private containerd config: own dirs and socket, restrict_oom_score_adj, runc with its own root, CNI and mirrors', (t) => {
  const toml = containerdConfig({ dir: '/tmp/d', socket: '/tmp/d/c.sock', sandboxImage: '127.0.0.1:5/p:1', runc: '/usr/sbin/runc', cniBinDir: '/usr/lib/cni', logLevel: 'warn' });
  for (const want of [
    'root = "/tmp/d/root"',
    'state = "/tmp/d/state"',
    'address = "/tmp/d/c.sock"',
    'restrict_oom_score_adj = true',
    'netns_mounts_under_state_dir = true',
    'sandbox_image = "127.0.0.1:5/p:1"',
    'Root = "/tmp/d/runc"',
    'SystemdCgroup = false',
    'conf_dir = "/tmp/d/cni"',
    'bin_dir = "/usr/lib/cni"',
    'config_path = "/tmp/d/certs.d"',
  ])
    t.true(toml.includes(want), want);
  t.regex(hostsToml('127.0.0.1:5000'), /^server = "http:\/\/127\.0\.0\.1:5000"/);
  const cl = containerdConflist({ name: 'n', bridge: 'bt-1', subnet: '10.1.2.0/24', ipamDir: '/tmp/d/ipam' }) as { plugins: Array<Record<string, unknown>> };
  t.is(cl.plugins[0]!.bridge, 'bt-1');
  t.deepEqual((cl.plugins[0]!.ipam as { dataDir: string }).dataDir, '/tmp/d/ipam');
});
