// The pure parts of `berth ps/inspect/logs/top` (issue 13): the CRI log decoder (partial
// lines joined per stream, chunk boundaries, malformed lines, --since), the log follower
// across rename-rotation and truncation (real files), the output layer's table and units,
// the golden human output of ps and top from fixed data, the pod tree's filters, berthd's
// bounded event ring, the JSON shape checker the schema tests rely on, and the exit codes
// berthd's and the store's errors map to.
import test from 'ava';
import { mkdtemp, rm, writeFile, appendFile, rename, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CriLogDecoder, parseSince } from '../../cli/cri-log.js';
import { LogFollower } from '../../cli/logs.js';
import { table, humanBytes, humanDuration, shortId } from '../../cli/output.js';
import { renderPs } from '../../cli/ps.js';
import { renderTop } from '../../cli/top.js';
import { renderInspect } from '../../cli/inspect.js';
import { podTree, type PsPod } from '../../server/ops/views.js';
import { EventRing, summarize } from '../../server/event-ring.js';
import { EventBus } from '../../server/events.js';
import { checkShape } from '../helpers/json-shape.js';
import { POD_LIST, TOP } from '../../cli/schemas.js';
import type { SandboxRecord } from '../../server/sandbox/types.js';
import type { ContainerRecord } from '../../server/container/types.js';
import type { TopSample } from '../../server/ops/top.js';
import { cliError } from '../../cli/node-source.js';
import { AdminError } from '../../cli/admin-client.js';
import { invalidArgument, notFound as notFoundError } from '../../server/errors.js';

const T = '2026-12-03T10:00:00.123456789Z';

test('decoder: F lines, P lines joined per stream, interleaved streams', (t) => {
  const d = new CriLogDecoder();
  const out = d.push(
    [`${T} stdout F one`, `${T} stdout P ab`, `${T} stderr F err`, `${T} stdout P cd`, `2026-12-03T10:00:01Z stdout F ef`, `${T} stdout F `, ''].join('\n'),
  );
  t.deepEqual(
    out.map((e) => [e.stream, e.log, e.time]),
    [
      ['stdout', 'one', T],
      ['stderr', 'err', T],
      ['stdout', 'abcdef', T],
      ['stdout', '', T],
    ],
  );
  t.is(out[0]!.ms, Date.parse('2026-12-03T10:00:00.123Z'));
  t.deepEqual(d.flush(), []);
});

test('decoder: records split anywhere across chunks, multi-byte characters included', (t) => {
  const text = `${T} stdout F héllo wörld\n${T} stderr P part\n${T} stderr F ial\n`;
  const bytes = Buffer.from(text);
  for (let cut = 1; cut < bytes.length; cut += 7) {
    const d = new CriLogDecoder();
    const out = [...d.push(bytes.subarray(0, cut)), ...d.push(bytes.subarray(cut)), ...d.flush()];
    t.deepEqual(out.map((e) => e.log), ['héllo wörld', 'partial'], `cut at ${cut}`);
  }
});

test('decoder: an unfinished last line and a dangling partial come out of flush, not complete', (t) => {
  const d = new CriLogDecoder();
  t.deepEqual(d.push(`${T} stdout P dangling`), []);
  const out = d.flush();
  t.is(out.length, 1);
  t.is(out[0]!.log, 'dangling');
  t.false(out[0]!.complete);
});

test('decoder: malformed lines are skipped and counted; offsets in times are understood', (t) => {
  const d = new CriLogDecoder();
  const out = d.push(`garbage\n${T} stdin F no\nnot-a-time stdout F x\n2026-12-03T11:00:00.5+01:00 stdout F ok\n`);
  t.deepEqual(out.map((e) => e.log), ['ok']);
  t.is(out[0]!.ms, Date.parse('2026-12-03T10:00:00.5Z'));
  t.is(d.malformed, 3);
});

test('--since: durations and RFC 3339 times', (t) => {
  const now = Date.parse('2026-12-03T12:00:00Z');
  t.is(parseSince('90s', now), now - 90_000);
  t.is(parseSince('1h30m', now), now - 5_400_000);
  t.is(parseSince('2026-12-03T11:00:00Z', now), now - 3_600_000);
  t.throws(() => parseSince('yesterday', now), { message: /--since takes/ });
  t.throws(() => parseSince('', now));
});

test('the log follower reads on across a rename-rotation and a truncation', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'berth-logs-'));
  try {
    const path = join(dir, '0.log');
    const line = (n: number) => `${T} stdout F line ${n}\n`;
    await writeFile(path, line(1) + line(2));
    const f = new LogFollower(path);
    await f.openFirst('c1');
    t.deepEqual((await f.readAvailable()).map((e) => e.log), ['line 1', 'line 2']);
    await appendFile(path, line(3));
    await rename(path, `${path}.1`); // kubelet rotates: renamed, then the runtime reopens
    await appendFile(`${path}.1`, line(4)); // written before the reopen: still in the old file
    await writeFile(path, line(5));
    t.deepEqual((await f.readAvailable()).map((e) => e.log), ['line 3', 'line 4', 'line 5']);
    // Truncated in place (copytruncate): noticed once the file is shorter than what was read.
    await truncate(path, 0);
    await appendFile(path, `${T} stdout F 6\n`);
    t.deepEqual((await f.readAvailable()).map((e) => e.log), ['6']);
    t.deepEqual(await f.readAvailable(), []);
    await f.close();
    await t.throwsAsync(new LogFollower(join(dir, 'none.log')).openFirst('c2'), { message: /does not exist/ });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('table: columns aligned by characters, last column unpadded', (t) => {
  t.is(table(['A', 'LONGER'], [['├─ x', 'y'], ['abcdef', '']]), 'A       LONGER\n├─ x    y\nabcdef\n');
  t.is(humanBytes(512), '512B');
  t.is(humanBytes(1536), '1.5KiB');
  t.is(humanBytes(64 * 1024 * 1024), '64MiB');
  t.is(humanBytes(null), '-');
  t.is(humanDuration(59_000), '59s');
  t.is(humanDuration(3 * 3600_000), '3h');
  t.is(humanDuration(119 * 60_000), '119m');
  t.is(humanDuration(50 * 3600_000), '2d');
  t.is(shortId('sha256:0123456789abcdef'), '0123456789abc');
});

function sandbox(id: string, name: string, extra: Partial<SandboxRecord> = {}): SandboxRecord {
  return {
    id,
    name,
    namespace: 'default',
    uid: 'u-' + name,
    attempt: 0,
    state: 'SANDBOX_READY',
    createdAt: '1796292000000000000', // 2026-12-03T10:00:00Z
    handler: 'runc',
    config: { metadata: { name, namespace: 'default', uid: 'u', attempt: 0 }, labels: { app: name } } as unknown as SandboxRecord['config'],
    runtime: { ips: ['10.88.0.5'], cgroup: { path: `/kubepods/pod-${name}`, created: [] }, namespaces: { dir: '/run/berth/ns/' + id } } as unknown as SandboxRecord['runtime'],
    ...extra,
  };
}

function container(id: string, podId: string, name: string, extra: Partial<ContainerRecord> = {}): ContainerRecord {
  return {
    id,
    sandboxId: podId,
    name,
    attempt: 0,
    state: 'CONTAINER_RUNNING',
    creating: false,
    createdAt: '1796292001000000000',
    startedAt: '1796292002000000000',
    finishedAt: '0',
    exitCode: 0,
    reason: '',
    pid: 4242,
    image: { ref: 'docker.io/library/nginx:1.25', id: 'sha256:abc', imageRef: '' },
    cgroupsPath: `/kubepods/pod-x/${id}`,
    ...extra,
  } as ContainerRecord;
}

const PODS = [sandbox('a'.repeat(64), 'web'), sandbox('b'.repeat(64), 'db', { namespace: 'data', state: 'SANDBOX_NOTREADY', runtime: { ips: [], namespaces: { dir: '' }, stoppedAt: '1796292060000000000' } as unknown as SandboxRecord['runtime'] })];
const CONTAINERS = [
  container('c'.repeat(64), 'a'.repeat(64), 'nginx'),
  container('d'.repeat(64), 'a'.repeat(64), 'migrate', { state: 'CONTAINER_EXITED', attempt: 2, finishedAt: '1796292030000000000', exitCode: 137, reason: 'OOMKilled', pid: 0 }),
  container('e'.repeat(64), 'f'.repeat(64), 'orphan'),
];
const SRC = { sandboxes: () => PODS, containers: () => CONTAINERS };

test('ps: the golden tree, a container without a pod record at the end', (t) => {
  const pods = podTree(SRC);
  t.deepEqual(checkShape({ schemaVersion: 1, kind: 'PodList', mode: 'berthd', pods }, POD_LIST), []);
  t.is(
    renderPs(pods, new Date('2026-12-03T10:05:00Z')),
    [
      'POD / CONTAINER  ID             NAMESPACE  STATE                  FOR  RESTARTS  PID   IP         IMAGE                         HANDLER  CGROUP',
      'web              aaaaaaaaaaaaa  default    ready                  5m   0         -     10.88.0.5  -                             runc     /kubepods/pod-web',
      '├─ nginx         ccccccccccccc             running                4m   0         4242             docker.io/library/nginx:1.25           /kubepods/pod-x/cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc',
      '└─ migrate       ddddddddddddd             exited(137 OOMKilled)  4m   2         -                docker.io/library/nginx:1.25           /kubepods/pod-x/dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd',
      'db               bbbbbbbbbbbbb  data       notready               4m   0         -     -          -                             runc     -',
      '<no pod record>  fffffffffffff  -          unknown                -    0         -     -          -                             -        -',
      '└─ orphan        eeeeeeeeeeeee             running                4m   0         4242             docker.io/library/nginx:1.25           /kubepods/pod-x/eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee',
      '',
    ].join('\n'),
  );
  t.is(renderPs([], new Date()), 'no pods\n');
});

test('ps: filters by pod, namespace, state and labels', (t) => {
  const names = (f: Parameters<typeof podTree>[1]) => podTree(SRC, f).map((p) => `${p.name}:${p.containers.map((c) => c.name).join(',')}`);
  t.deepEqual(names({ pod: 'web' }), ['web:nginx,migrate']);
  t.deepEqual(names({ pod: 'bbbb' }), ['db:']);
  t.deepEqual(names({ namespace: 'data' }), ['db:']);
  t.deepEqual(names({ state: 'exited' }), ['web:migrate']);
  t.deepEqual(names({ state: 'notready' }), ['db:']);
  t.deepEqual(names({ state: 'running' }), ['web:nginx', '<no pod record>:orphan']);
  t.deepEqual(names({ labels: ['app=web'] }), ['web:nginx,migrate']);
  t.deepEqual(names({ labels: ['app'] }), ['web:nginx,migrate', 'db:']);
  t.deepEqual(names({ labels: ['app=none'] }), []);
  t.throws(() => podTree(SRC, { state: 'sleeping' }), { message: /state must be one of/ });
});

test('top: golden table, pods sorted, containers under their pod', (t) => {
  const row = (kind: 'pod' | 'container', id: string, podId: string, name: string, cpu: number | null, memory: number | null, more: object = {}) => ({
    kind, id, podId, name, namespace: 'default', state: kind === 'pod' ? 'ready' : 'running', cpu, cpuLimit: null, memory, memoryLimit: null,
    ioReadRate: 0, ioWriteRate: 2048, ioReadBytes: 0, ioWriteBytes: 4096, pids: 1, pidsLimit: null, ...more,
  });
  const s: TopSample = {
    time: '2026-12-03T10:00:00.000Z',
    interval: 1,
    rows: [
      row('pod', 'a'.repeat(64), 'a'.repeat(64), 'web', 0.2, 50 << 20),
      row('pod', 'b'.repeat(64), 'b'.repeat(64), 'db', 0.9, 10 << 20),
      row('container', 'c'.repeat(64), 'a'.repeat(64), 'nginx', 0.05, 20 << 20, { cpuLimit: 0.5, memoryLimit: 64 << 20, pidsLimit: 100 }),
      row('container', 'd'.repeat(64), 'a'.repeat(64), 'php', 0.15, 30 << 20),
      row('container', 'e'.repeat(64), 'b'.repeat(64), 'postgres', null, null),
    ] as TopSample['rows'],
  };
  t.deepEqual(checkShape({ schemaVersion: 1, kind: 'Top', mode: 'read-only', ...s }, TOP), []);
  t.is(
    renderTop(s, 'cpu'),
    [
      'POD / CONTAINER  ID             CPU / LIMIT   MEMORY / LIMIT  IO READ  IO WRITE  PIDS / LIMIT',
      'default/db       bbbbbbbbbbbbb  90.0%         10MiB           0B/s     2.0KiB/s  1',
      '└─ postgres      eeeeeeeeeeeee  -             -               0B/s     2.0KiB/s  1',
      'default/web      aaaaaaaaaaaaa  20.0%         50MiB           0B/s     2.0KiB/s  1',
      '├─ php           ddddddddddddd  15.0%         30MiB           0B/s     2.0KiB/s  1',
      '└─ nginx         ccccccccccccc  5.0% / 50.0%  20MiB / 64MiB   0B/s     2.0KiB/s  1 / 100',
      '',
    ].join('\n'),
  );
  t.regex(renderTop(s, 'mem'), /default\/web[^\n]*\n├─ php[^\n]*\n└─ nginx[^\n]*\ndefault\/db/);
  t.is(renderTop({ ...s, rows: [] }, 'cpu'), 'no running pods or containers\n');
});

test('inspect: the human view leaves out the record and spec and says how to get them', (t) => {
  const out = renderInspect({ kind: 'container', id: 'c1', record: { big: 1 }, spec: { huge: 2 }, conmon: { pid: 7, files: { ctl: { path: '/x/ctl', exists: false } } }, events: null });
  t.is(out, 'container c1\nconmon:\n  pid: 7\n  files:\n    ctl: /x/ctl (missing)\nevents:\n  (not available: berthd is not running)\n(-o json adds the record and the OCI spec)\n');
});

test('event ring: per-object and total bounds, container events kept under their pod too', (t) => {
  const bus = new EventBus();
  const ring = new EventRing(bus, 3, 4);
  const ev = (id: string, podId: string, type: string) => ({
    container_id: id,
    container_event_type: type as 'CONTAINER_STARTED_EVENT',
    created_at: '1796292000000000000',
    pod_sandbox_status: { id: podId, state: 'SANDBOX_READY' } as never,
    containers_statuses: id === podId ? [] : ([{ id, state: 'CONTAINER_EXITED', exit_code: 1, reason: 'Error' }] as never),
  });
  for (let i = 0; i < 5; i++) bus.publish(ev('c1', 'p1', 'CONTAINER_STOPPED_EVENT'));
  t.is(ring.get('c1').length, 3, 'at most perObject events of one id');
  t.deepEqual(ring.get('c1')[0], { time: '2026-12-03T10:00:00.000Z', type: 'STOPPED', kind: 'container', id: 'c1', podId: 'p1', state: 'CONTAINER_EXITED', exitCode: 1, reason: 'Error' });
  bus.publish(ev('p1', 'p1', 'CONTAINER_STARTED_EVENT'));
  t.deepEqual(ring.get('p1').map((e) => `${e.kind}:${e.type}`), ['container:STOPPED', 'container:STOPPED', 'pod:STARTED']);
  t.deepEqual(summarize(ev('p1', 'p1', 'CONTAINER_DELETED_EVENT')).state, 'SANDBOX_READY');
  for (let i = 0; i < 10; i++) bus.publish(ev(`c${i + 10}`, `p${i + 10}`, 'CONTAINER_CREATED_EVENT'));
  t.true(ring.size <= 4, 'at most `objects` ids');
  t.deepEqual(ring.get('c1'), [], 'the least recently touched ids go first');
  ring.close();
  t.is(bus.size, 0);
});

test('shape checker: catches missing, unexpected and mistyped fields', (t) => {
  const pod = podTree(SRC)[0] as PsPod;
  const doc = { schemaVersion: 1, kind: 'PodList', mode: 'berthd', pods: [pod] };
  t.deepEqual(checkShape(doc, POD_LIST), []);
  t.deepEqual(checkShape({ ...doc, extra: 1 }, POD_LIST), ['$: unexpected field "extra"']);
  t.deepEqual(checkShape({ ...doc, pods: [{ ...pod, pid: '1' }] }, POD_LIST), ['$.pods[0].pid: string, expected integer']);
  const { uid: _uid, ...noUid } = pod;
  t.deepEqual(checkShape({ ...doc, pods: [noUid] }, POD_LIST), ['$.pods[0]: missing "uid"']);
  t.deepEqual(checkShape({ ...doc, mode: 'offline' }, POD_LIST), ['$.mode: "offline" not in ["berthd","read-only"]']);
});

test('errors from berthd or the store become the documented exit codes', (t) => {
  const code = (e: unknown) => (cliError(e) as { exitCode?: number }).exitCode;
  t.is(code(new AdminError('container "x" not found', 404)), 3);
  t.is(code(notFoundError('pod "x" not found')), 3);
  t.is(code(invalidArgument('"ab" is ambiguous')), 1);
  const old = cliError(new AdminError('no such endpoint: GET /v1/pods', 404));
  t.is((old as { exitCode?: number }).exitCode, 1, 'an older berthd without the endpoint is not "not found"');
  t.regex(old.message, /older than this berth command line/);
});
