// `berth leaks` output without a host: the human report of an audit and of a repair (golden
// text), the `-o json` schema (schemaVersion 1: LeakReport, LeakRepair) on fixed reports and the checker refusing
// what does not fit it, the repair order, and `berth bugreport`'s secret redaction.
import test from 'ava';
import { auditJson, formatAudit, formatRepair, repairExitCode, repairJson } from '../../cli/leaks.js';
import { redact } from '../../cli/bugreport.js';
import { REPAIR_PHASES, repairFindings } from '../../server/audit/repair.js';
import type { AuditReport, Finding, RepairReport } from '../../server/audit/types.js';
import { checkLeaksJson } from '../helpers/leaks-schema.js';

const C = 'c'.repeat(64);
const P = 'b'.repeat(64);

const conmon: Finding = {
  kind: 'conmon',
  id: '4242',
  owner: C,
  pid: 4242,
  why: `conmon of container ${C.slice(0, 13)}, which berth has no record of`,
  fix: 'SIGKILL pid 4242 (after checking it is still the same process)',
  repair: { action: 'kill', pid: 4242, startTime: '1234' },
};
const pin: Finding = {
  kind: 'netns-pin',
  id: `/run/berth/ns/${P}/net`,
  owner: P,
  path: `/run/berth/ns/${P}/net`,
  why: `keeps a namespace alive: the pinned net namespace of pod ${P.slice(0, 13)}, which berth has no record of`,
  fix: `umount /run/berth/ns/${P}/net (the namespace, and any veth in it, goes with its last user)`,
  repair: { action: 'unmount', path: `/run/berth/ns/${P}/net` },
};
const cgroup: Finding = {
  kind: 'cgroup',
  id: '/kubepods/besteffort/podx',
  path: '/sys/fs/cgroup/memory/kubepods/besteffort/podx',
  why: 'pod cgroup /kubepods/besteffort/podx, made by berth, belongs to no known pod',
  fix: "rmdir it in 1 hierarchy (memory) and drop it from the store's list",
  repair: { action: 'rmdir-cgroup', paths: ['/sys/fs/cgroup/memory/kubepods/besteffort/podx'], forget: '/kubepods/besteffort/podx' },
};

test('the human report of an audit (golden)', (t) => {
  const r: AuditReport = { mode: 'berthd', findings: [conmon, pin, cgroup], warnings: [] };
  t.is(
    formatAudit(r),
    [
      'berth leaks: berthd is running: audited by berthd under its own locks; dry run',
      'KIND       WHAT                                                                                OWNER',
      'conmon     pid 4242                                                                            ccccccccccccc',
      `           why: conmon of container ccccccccccccc, which berth has no record of`,
      '           fix: SIGKILL pid 4242 (after checking it is still the same process)',
      `netns-pin  /run/berth/ns/${P}/net  bbbbbbbbbbbbb`,
      '           why: keeps a namespace alive: the pinned net namespace of pod bbbbbbbbbbbbb, which berth has no record of',
      `           fix: umount /run/berth/ns/${P}/net (the namespace, and any veth in it, goes with its last user)`,
      'cgroup     /kubepods/besteffort/podx                                                           -',
      '           why: pod cgroup /kubepods/besteffort/podx, made by berth, belongs to no known pod',
      "           fix: rmdir it in 1 hierarchy (memory) and drop it from the store's list",
      '3 leaks found (conmon 1, netns-pin 1, cgroup 1); nothing was changed. Remove them with: berth leaks --repair',
      '',
    ].join('\n'),
  );
  t.is(
    formatAudit({ mode: 'read-only', findings: [], warnings: ['cannot read /x: EACCES'] }),
    'berth leaks: berthd is NOT running: read-only view of the host and meta.db; dry run\n' +
      'warning: cannot read /x: EACCES\n' +
      "no leaks: everything of berth's on this host belongs to a known pod or container, and every record's resources are there\n",
  );
});

test('the human report of a repair (golden) and its exit code', (t) => {
  const ok: RepairReport = {
    mode: 'direct',
    before: [conmon, cgroup],
    repairs: [
      { finding: conmon, ok: true, result: 'killed' },
      { finding: cgroup, ok: true, result: 'removed' },
    ],
    after: [],
    warnings: [],
  };
  t.is(
    formatRepair(ok),
    [
      "berth leaks --repair: berthd is NOT running: repaired directly, with berthd's socket held so it cannot start meanwhile",
      'REPAIRED  conmon  pid 4242                   killed',
      'REPAIRED  cgroup  /kubepods/besteffort/podx  removed',
      '2 of 2 repaired; checked again:',
      'no leaks left',
      '',
    ].join('\n'),
  );
  t.is(repairExitCode(ok), 0);
  const failed: RepairReport = { ...ok, repairs: [{ finding: cgroup, ok: false, result: '/sys/fs/cgroup/memory/kubepods/besteffort/podx still has processes (77)' }], after: [cgroup] };
  const text = formatRepair(failed);
  t.regex(text, /^FAILED    cgroup  \/kubepods\/besteffort\/podx  \/sys\/fs\/cgroup\/memory\/kubepods\/besteffort\/podx still has processes \(77\)$/m);
  t.regex(text, /0 of 1 repaired, 1 failed; checked again:\n/);
  t.regex(text, /1 leak left \(cgroup 1\)\n$/);
  t.is(repairExitCode(failed), 5);
  t.is(formatRepair({ mode: 'berthd', before: [], repairs: [], after: [], warnings: [] }), 'berth leaks --repair: berthd is running: audited by berthd under its own locks\nno leaks found; nothing to repair\n');
});

test('the JSON documents fit the schema, and the checker refuses what does not', (t) => {
  const audit = JSON.parse(JSON.stringify(auditJson({ mode: 'berthd', findings: [conmon, pin, cgroup], warnings: [] })));
  t.deepEqual(checkLeaksJson(audit), []);
  const repair = JSON.parse(JSON.stringify(repairJson({ mode: 'direct', before: [conmon], repairs: [{ finding: conmon, ok: true, result: 'killed' }], after: [], warnings: [] })));
  t.deepEqual(checkLeaksJson(repair), []);
  const bad = structuredClone(audit);
  bad.findings[0].kind = 'gremlin';
  bad.findings[1].repair = { action: 'unmount' };
  bad.findings[2].extra = 1;
  bad.findings[2].owner = 'short';
  t.deepEqual(checkLeaksJson(bad), [
    'findings[0].kind: "gremlin" is not a leak kind',
    'findings[1].repair: missing "path"',
    'findings[2]: unexpected "extra"',
    'findings[2].owner: not a 64-hex id',
  ]);
  t.deepEqual(checkLeaksJson({ ...audit, schemaVersion: 2, mode: 'direct' }), ['schemaVersion: 2', 'mode: "direct"']);
  t.deepEqual(checkLeaksJson({ ...audit, dryRun: 'no' }), ['kind: "LeakReport"', 'dryRun: not a boolean']);
});

test('repairs run in the safe order: processes, mounts, namespaces, network, cgroups, directories, content, records', async (t) => {
  t.deepEqual(REPAIR_PHASES.flat().slice(0, 3), ['conmon', 'runtime-process', 'pod-init']);
  const order: string[] = [];
  const mk = (kind: Finding['kind'], id: string): Finding => ({ kind, id, why: 'w', fix: 'f', repair: { action: 'remove-path', path: `/nonexistent/${id}` } });
  const findings = [mk('record', 'r'), mk('directory', 'd'), mk('cgroup', 'g'), mk('veth', 'v'), mk('netns-pin', 'n'), mk('shm-mount', 's'), mk('runtime-container', 'rc'), mk('conmon', 'c'), mk('lease', 'l')];
  const out = await repairFindings(findings, {
    records: {} as never,
    guard: async (f) => {
      order.push(f.kind);
      return 'ok';
    },
  });
  t.deepEqual(order, ['conmon', 'runtime-container', 'shm-mount', 'netns-pin', 'veth', 'cgroup', 'directory', 'lease', 'record']);
  t.true(out.every((o) => o.ok));
});

test('bugreport redacts secrets in the configuration and keeps the rest', (t) => {
  const cfg = { root: '/var/lib/berth', image: { registry: { hosts: { 'r:5000': { username: 'puller', password: 'hunter2', ca_files: ['/a.pem'] } }, auth: 'x', identitytoken: 'y' } } };
  t.deepEqual(redact(cfg), { root: '/var/lib/berth', image: { registry: { hosts: { 'r:5000': { username: 'puller', password: '<redacted>', ca_files: ['/a.pem'] } }, auth: '<redacted>', identitytoken: '<redacted>' } } });
});
