// The CRI fuzzer (issue 14, item 4): fast-check drives a test berthd with at least 10,000
// requests generated from the proto's descriptors (test/helpers/cri-fuzz.ts), four at a time,
// and asserts for every one: berthd is still alive, the answer is not INTERNAL or UNKNOWN
// (berth's own bugs; every bad request has a code of its own), and it comes within its
// deadline (UNAVAILABLE or DEADLINE_EXCEEDED is a crash or a hang). After the run, every pod,
// container and image the run made is removed through CRI, and the test checks that nothing
// is left: no pods, containers or extra images, no mounts, processes or veths of this berthd,
// no new entries in the host directories berth could be tricked into writing (/, /run, /etc,
// /var/lib, /var/log, /root, /dev/shm, the cgroup hierarchies' tops), and no file
// anywhere on the root filesystem whose name holds the run's marker (every path the fuzzer
// makes up holds it).
//
// Seed: printed at the start; BERTH_FUZZ_SEED=<n> replays a run, BERTH_FUZZ_PATH=<path> (from
// a failure report) replays its shrunk counterexample. BERTH_FUZZ_REQUESTS sets the number of
// requests (default 10,000). BERTH_FUZZ_COLLECT=1 keeps going after a failure and reports
// every distinct one at the end (for triage) instead of stopping and shrinking at the first.
// Shrinking replays requests against the live berthd, whose state has moved on: a shrunk
// counterexample is a strong hint, the failing request printed with it is the fact.
import test from 'ava';
import fc from 'fast-check';
import { status as Status } from '@grpc/grpc-js';
import { randomBytes, randomInt } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { isAbsolute, normalize, relative } from 'node:path';
import { removePodsAndCleanup, startBerthd, writeTestConflist, isRoot, type TestBerthd } from '../helpers/berthd.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { buildImage, busyboxLayer, pushImage } from '../helpers/image-builder.js';
import { CriArbitraries, Ref, describe, unaryRpcs, type FuzzRequest } from '../helpers/cri-fuzz.js';
import { mountPoints } from '../../hostutil/mounts.js';
import { run } from '../../hostutil/exec.js';

const REQUESTS = Number(process.env.BERTH_FUZZ_REQUESTS ?? 10_000);
/** Requests sent at once (one fast-check run): races between them are part of the test. */
const BATCH = 8;
const SEED = process.env.BERTH_FUZZ_SEED !== undefined ? Number(process.env.BERTH_FUZZ_SEED) : randomInt(2 ** 31);
const COLLECT = process.env.BERTH_FUZZ_COLLECT === '1';
/** Each call's deadline; berthd answers every fuzzed request long before (timeouts in requests are ≤ 2 s). */
const DEADLINE_MS = 60_000;
/** Pods and containers kept alive at most; the harness removes the oldest beyond. */
const MAX_PODS = 6;
const MAX_CONTAINERS = 12;

const BAD_CODES = new Set([Status.INTERNAL, Status.UNKNOWN, Status.DEADLINE_EXCEEDED, Status.UNAVAILABLE, Status.CANCELLED, Status.DATA_LOSS]);

const why = !isRoot() ? 'it needs root' : !existsSync('/usr/bin/docker-registry') ? 'docker-registry is not installed' : undefined;
if (why) console.log(`fuzz skipped: ${why}`);
const maybe = why ? test.skip : test;

/**
 * Names below each directory (what berth must not add to). /tmp is left to the marker search:
 * other test files running beside this one make their own entries there.
 */
function watchedDirs(): string[] {
  const dirs = ['/', '/run', '/etc', '/etc/cni/net.d', '/var/lib', '/var/lib/cni', '/var/log', '/root', '/dev/shm', '/var/run/netns'];
  const cg = '/sys/fs/cgroup';
  if (existsSync(`${cg}/cgroup.controllers`)) dirs.push(cg);
  else if (existsSync(cg)) for (const h of readdirSync(cg)) dirs.push(`${cg}/${h}`);
  return dirs;
}

function snapshot(): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const d of watchedDirs()) {
    try {
      out.set(d, new Set(readdirSync(d)));
    } catch {
      out.set(d, new Set());
    }
  }
  return out;
}

/** Other test files (ava runs two at a time) make /tmp/berth-test-* and berth-test* cgroups: not ours to judge. */
const OTHERS = /^berth-(test|guest)/;
/** In a cgroup hierarchy's top, `berth` is berthd's default parent, which other test files' berthds make too (the leak test's pods have no cgroup_parent). */
const othersIn = (dir: string, name: string) => OTHERS.test(name) || (dir.startsWith('/sys/fs/cgroup') && name === 'berth');

interface Pools {
  pods: { id: string; config: unknown }[];
  containers: string[];
  images: string[];
}

interface Failure {
  request: string;
  code: string;
  message: string;
}

maybe('fuzzed CRI requests: no crash, no INTERNAL/UNKNOWN, no hang, nothing written outside the roots, nothing left', async (t) => {
  t.timeout(15 * 60_000);
  const marker = `bfz${randomBytes(4).toString('hex')}`;
  const seedLine = `fuzz seed ${SEED} (replay: BERTH_FUZZ_SEED=${SEED}), ${REQUESTS} requests, marker ${marker}`;
  t.log(seedLine);
  console.log(seedLine);

  let b: TestBerthd | undefined;
  let reg: TestRegistry | undefined;
  const before = snapshot();
  try {
    reg = await startRegistry();
    const busybox = await buildImage({ layers: [busyboxLayer()], config: { Cmd: ['/bin/sh'] } });
    const images = [`${reg.host}/test/busybox:v1`, `${reg.host}/test/busybox:v2`];
    await pushImage(reg.url, 'test/busybox', 'v1', busybox);
    await pushImage(reg.url, 'test/busybox', 'v2', busybox);
    // No portmap plugin: a fuzzed port mapping must not touch the host's iptables.
    b = await startBerthd({ cni: false });
    await writeTestConflist(b.net.confDir, b.net, { portmap: false });
    const berthd = b;
    for (const image of images) await berthd.client.call('PullImage', { image: { image } }, { service: 'image' });
    const baseImages = ((await berthd.client.call('ListImages', {}, { service: 'image' })).images as { id: string }[]).map((i) => i.id);

    const pools: Pools = { pods: [], containers: [], images: [...images] };
    const arbs = new CriArbitraries({ marker, logRoot: berthd.logRoot, images, registryHost: reg.host });
    const rpcs = unaryRpcs();
    // Methods that do real work when the request is valid are sent less often (the CI budget is minutes).
    const weights: Record<string, number> = { RunPodSandbox: 1, CreateContainer: 2, StartContainer: 2, ExecSync: 2, PullImage: 1, RemovePodSandbox: 1, StopPodSandbox: 1, RemoveImage: 1 };
    const requestArb = fc.oneof(...rpcs.map((r) => ({ weight: weights[r.method] ?? 2, arbitrary: arbs.request(r) })));

    const resolveRef = (r: Ref): unknown => {
      const cut = (s: string) => (r.prefix ? s.slice(0, r.prefix) : s);
      const list = r.kind === 'pod' || r.kind === 'podConfig' ? pools.pods : r.kind === 'container' ? pools.containers : pools.images;
      if (list.length === 0) return r.kind === 'podConfig' ? null : `${marker}-no-${r.kind}-yet`;
      const item = list[r.pick % list.length]!;
      if (r.kind === 'podConfig') return (item as Pools['pods'][number]).config;
      return cut(typeof item === 'string' ? item : item.id);
    };
    const resolve = (v: unknown): unknown => {
      if (v instanceof Ref) return resolveRef(v);
      if (v === null || typeof v !== 'object' || v instanceof Uint8Array) return v;
      if (Array.isArray(v)) return v.map(resolve);
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, resolve(x)]));
    };

    let sent = 0;
    /** A crash or a hang was seen: no shrinking after it (every replay would wait out deadlines). */
    let fatal = false;
    const failures: Failure[] = [];
    const seen = new Set<string>();
    const codes = new Map<string, number>();
    /** Milliseconds spent per method, and calls (where the time goes, for the log). */
    const spent = new Map<string, [number, number]>();

    const check = async (what: string, p: Promise<unknown>): Promise<unknown> => {
      try {
        return await p;
      } catch (e) {
        const err = e as { code?: number; details?: string; message?: string };
        const code = typeof err.code === 'number' ? err.code : Status.UNKNOWN;
        const name = Status[code] ?? String(code);
        codes.set(name, (codes.get(name) ?? 0) + 1);
        const alive = berthd.proc.exitCode === null && berthd.proc.signalCode === null;
        // UNAVAILABLE is a pull's answer for a registry that cannot be reached (127.0.0.1:1); elsewhere it means berthd is gone.
        const pullUnreachable = code === Status.UNAVAILABLE && what.startsWith('PullImage ') && !/Stream refused|No connection established|Connection dropped/.test(err.details ?? '');
        if (!alive || (BAD_CODES.has(code) && !pullUnreachable)) {
          const message = (err.details ?? err.message ?? '').slice(0, 300);
          const f: Failure = { request: what, code: alive ? name : `${name} (berthd died: ${berthd.proc.exitCode ?? berthd.proc.signalCode})`, message };
          const key = `${what.split(' ')[0]} ${f.code} ${message.replace(/[0-9a-f]{12,}/g, 'ID').replace(/\d+/g, 'N').slice(0, 80)}`;
          if (!seen.has(key)) {
            seen.add(key);
            failures.push(f);
          }
          if (!alive || code === Status.DEADLINE_EXCEEDED || code === Status.UNAVAILABLE) fatal = true;
          if (!alive) throw new Error(`berthd died: ${f.code}: ${message}\n${berthd.stderr().slice(-3000)}`);
          if (!COLLECT) throw new Error(`${f.code}: ${message}\nrequest: ${what}`);
        }
        return undefined;
      }
    };

    const send = async (r: FuzzRequest): Promise<void> => {
      const req = resolve(r.req) as Record<string, unknown>;
      // Pulls never leave loopback: a reference that does not name the test registry (or the
      // closed port 127.0.0.1:1) is put below the test registry (an unqualified one would mean docker.io).
      if (r.method === 'PullImage' && req.image && typeof req.image === 'object') {
        const spec = req.image as Record<string, unknown>;
        for (const k of ['image', 'user_specified_image']) {
          const v = spec[k];
          if (typeof v === 'string' && !v.startsWith(`${reg!.host}/`) && !v.startsWith('127.0.0.1:1/')) spec[k] = `${reg!.host}/${v}`;
        }
      }
      // kubelet makes a pod's log directory before RunPodSandbox; so does the harness (below the log root only).
      if (r.method === 'RunPodSandbox') {
        const dir = (req.config as { log_directory?: unknown } | null)?.log_directory;
        if (typeof dir === 'string' && isAbsolute(dir) && !dir.includes('\0') && dir === normalize(dir) && !relative(berthd.logRoot, dir).startsWith('..')) await mkdir(dir, { recursive: true }).catch(() => undefined);
      }
      sent++;
      codes.set('sent', sent);
      const t0 = Date.now();
      const res = (await check(describe({ ...r, req }), berthd.client.call(r.method, req, { service: r.service, timeoutMs: DEADLINE_MS }))) as Record<string, unknown> | undefined;
      const s = spent.get(r.method) ?? [0, 0];
      spent.set(r.method, [s[0] + Date.now() - t0, s[1] + 1]);
      if (!res) return;
      codes.set('OK', (codes.get('OK') ?? 0) + 1);
      if (r.method === 'RunPodSandbox' && typeof res.pod_sandbox_id === 'string') pools.pods.push({ id: res.pod_sandbox_id, config: req.config });
      if (r.method === 'CreateContainer' && typeof res.container_id === 'string') pools.containers.push(res.container_id);
      if (r.method === 'PullImage' && typeof res.image_ref === 'string') pools.images.push(res.image_ref);
    };

    /** Keeps the host's load bounded: the oldest pods and containers go (checked like fuzzed calls). */
    const trim = async (): Promise<void> => {
      while (pools.containers.length > MAX_CONTAINERS) {
        const id = pools.containers.shift()!;
        await check(`harness RemoveContainer ${id}`, berthd.client.call('RemoveContainer', { container_id: id }, { timeoutMs: DEADLINE_MS }));
      }
      while (pools.pods.length > MAX_PODS) {
        const { id } = pools.pods.shift()!;
        await check(`harness StopPodSandbox ${id}`, berthd.client.call('StopPodSandbox', { pod_sandbox_id: id }, { timeoutMs: DEADLINE_MS }));
        await check(`harness RemovePodSandbox ${id}`, berthd.client.call('RemovePodSandbox', { pod_sandbox_id: id }, { timeoutMs: DEADLINE_MS }));
      }
      if (pools.images.length > 20) pools.images.splice(2, pools.images.length - 20);
    };

    const started = Date.now();
    const numRuns = Math.ceil(REQUESTS / BATCH);
    const params: fc.Parameters<[FuzzRequest[]]> = { seed: SEED, numRuns, ...(process.env.BERTH_FUZZ_PATH ? { path: process.env.BERTH_FUZZ_PATH } : {}) };
    const outcome = await fc.check(
      fc.asyncProperty(fc.array(requestArb, { minLength: BATCH, maxLength: BATCH }), async (batch) => {
        if (fatal && !COLLECT) return; // shrink attempts pass: the report is the original batch
        await Promise.all(batch.map(send));
        await trim();
        if (sent % 1000 < BATCH) t.log(`${sent} requests, ${Math.round((Date.now() - started) / 1000)} s: ${[...codes].filter(([k]) => k !== 'sent').map(([k, v]) => `${k} ${v}`).join(', ')}`);
      }),
      params,
    );
    t.log(`${sent} requests in ${Math.round((Date.now() - started) / 1000)} s; answers: ${[...codes].filter(([k]) => k !== 'sent').map(([k, v]) => `${k} ${v}`).join(', ')}`);
    t.log(`time by method (ms, calls): ${[...spent].sort((a, b) => b[1][0] - a[1][0]).slice(0, 10).map(([m, [ms, n]]) => `${m} ${ms}/${n}`).join(', ')}`);
    if (failures.length) t.log(`${failures.length} distinct failure(s):\n${failures.map((f) => `- ${f.code}: ${f.message}\n  ${f.request}`).join('\n')}`);
    // fast-check's own report would print the batch whole (megabytes of strings): the short form instead.
    if (outcome.failed) t.log(`counterexample after ${outcome.numShrinks} shrinks (replay: BERTH_FUZZ_SEED=${SEED} BERTH_FUZZ_PATH=${outcome.counterexamplePath}):\n${(outcome.counterexample?.[0] ?? []).map(describe).join('\n')}`);
    t.false(outcome.failed, `the property failed (seed ${SEED}, path ${outcome.counterexamplePath}): ${String((outcome.errorInstance as Error | undefined)?.message ?? outcome.errorInstance ?? '').slice(0, 3000)}`);
    t.is(failures.length, 0, 'no INTERNAL, UNKNOWN, hang or crash');
    t.true(sent >= Math.min(REQUESTS, 10_000) || outcome.failed, `${sent} requests sent`);

    // Cleanup through CRI: every pod (their containers go with them), every container, every image the run added.
    for (const p of (await berthd.client.call('ListPodSandbox', {})).items as { id: string }[]) {
      await check(`cleanup StopPodSandbox ${p.id}`, berthd.client.call('StopPodSandbox', { pod_sandbox_id: p.id }));
      await check(`cleanup RemovePodSandbox ${p.id}`, berthd.client.call('RemovePodSandbox', { pod_sandbox_id: p.id }));
    }
    for (const c of (await berthd.client.call('ListContainers', {})).containers as { id: string }[]) await check(`cleanup RemoveContainer ${c.id}`, berthd.client.call('RemoveContainer', { container_id: c.id }));
    for (const i of (await berthd.client.call('ListImages', {}, { service: 'image' })).images as { id: string }[]) {
      if (!baseImages.includes(i.id)) await check(`cleanup RemoveImage ${i.id}`, berthd.client.call('RemoveImage', { image: { image: i.id } }, { service: 'image' }));
    }
    t.deepEqual((await berthd.client.call('ListPodSandbox', {})).items, [], 'no pods left');
    t.deepEqual((await berthd.client.call('ListContainers', {})).containers, [], 'no containers left');
    t.true(berthd.proc.exitCode === null && berthd.proc.signalCode === null, 'berthd alive at the end');

    // What this berthd may have left on the host besides its own directory.
    const mounts = (await mountPoints()).filter((m) => m.startsWith(berthd.dir) && !m.startsWith(`${berthd.root}/`));
    t.deepEqual(mounts, [], 'no pod or container mounts left');
    const veths = (await run('ip', ['-o', 'link', 'show', 'master', berthd.net.bridge], { allowFailure: true })).stdout.trim();
    t.is(veths, '', 'no veths left on the test bridge');
    const procs: string[] = [];
    for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
      try {
        if (Number(pid) === berthd.proc.pid) continue;
        const env = readFileSync(`/proc/${pid}/environ`, 'latin1');
        if (env.includes(`BERTH_TEST_RUN=${berthd.dir}\0`)) {
          const cmd = readFileSync(`/proc/${pid}/cmdline`, 'latin1').replace(/\0/g, ' ').trim();
          if (!cmd.includes('berth-shim') && !cmd.includes('shim/main.js')) procs.push(`${pid}: ${cmd}`);
        }
      } catch {
        /* gone */
      }
    }
    t.deepEqual(procs, [], 'no conmon, runtime or container process left (spare shims aside)');
  } finally {
    await removePodsAndCleanup(b);
    await reg?.stop();
  }

  // Nothing outside the roots: new names in the watched host directories, and the marker anywhere.
  const after = snapshot();
  const added: string[] = [];
  for (const [d, names] of after) for (const n of names) if (!before.get(d)?.has(n) && !othersIn(d, n)) added.push(`${d === '/' ? '' : d}/${n}`);
  t.deepEqual(added, [], 'no new entries in the watched host directories');
  const found = (await run('find', ['/', '/tmp', '/run', '/dev/shm', '-xdev', '-name', `*${marker}*`], { allowFailure: true, timeoutMs: 120_000 })).stdout.trim();
  t.is(found, '', `no file named with the run's marker (${marker}) anywhere`);
});
