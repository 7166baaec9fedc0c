// Crash consistency: berthd SIGKILLed at every kill point (server/kill-points.ts) inside every
// mutating CRI call (RunPodSandbox, StopPodSandbox, RemovePodSandbox, CreateContainer,
// StartContainer, StopContainer, RemoveContainer, PullImage, RemoveImage) and inside
// berth-shim's create job, then restarted; after each restart the host must match the
// records (test/helpers/crash-audit.ts: processes, mounts, pinned namespaces, cgroups in
// every hierarchy, veths, IP reservations, bundles, layers, blobs, leases, store records),
// what kubelet does next (retry the call, or stop/remove what is left) must succeed, and
// after the cleanup nothing may remain. Also berth-shim SIGKILLed at each step of a create.
// The points are enumerated by tracing one run of each call, so new points are covered
// without editing this file. BERTH_KILL_WORKERS (default 2) berthds run points side by side.
import anyTest, { type TestFn } from 'ava';
import { randomBytes } from 'node:crypto';
import { readdir, rm, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startBerthd, podConfig, isRoot, removePodsAndCleanup, type TestBerthd } from '../helpers/berthd.js';
import { buildImage, busyboxLayer, pushImage } from '../helpers/image-builder.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { audit, type AuditScope } from '../helpers/crash-audit.js';
import { SHIM_KILL_POINTS } from '../../shim/job.js';

const test = anyTest as TestFn<{ reg: TestRegistry; base: string; extra: string }>;
const rootOnly = isRoot() ? test.serial : test.serial.skip;

interface Arming {
  rpc?: string;
  point?: string;
  hit?: number;
  victim?: 'berthd' | 'shim';
  trace?: boolean;
}
interface KillPoint {
  scenario: string;
  rpc: string;
  point: string;
  hit: number;
  victim?: 'berthd' | 'shim';
}

/** One berthd with its arming file, cgroup root and the base image pulled. */
interface Worker {
  b: TestBerthd;
  arm: string;
  scope: AuditScope;
  base: string;
  extra: string;
  n: number;
}

const KEEP_RUNNING = ['/bin/sh', '-c', 'trap "exit 0" TERM; sleep 1000 & wait'];

async function armed(w: Worker, a: Arming): Promise<void> {
  await writeFile(w.arm, JSON.stringify(a));
}

async function newWorker(reg: TestRegistry, base: string, extra: string): Promise<Worker> {
  const arm = `/tmp/berth-test-arm-${randomBytes(6).toString('hex')}.json`;
  await writeFile(arm, '');
  const b = await startBerthd({ env: { BERTH_KILL_POINTS: arm }, startTimeoutMs: 60_000 });
  await b.client.call('PullImage', { image: { image: base } }, { service: 'image' });
  const st = await b.client.call('ImageStatus', { image: { image: base } }, { service: 'image' });
  void reg;
  return { b, arm, scope: { cgroupRoot: `/berth-test-kp-${randomBytes(4).toString('hex')}`, keepImages: [st.image.id] }, base, extra, n: 0 };
}

async function runPod(w: Worker, name = `p${++w.n}`) {
  const config = podConfig(w.b, name);
  Object.assign(config, { linux: { cgroup_parent: `${w.scope.cgroupRoot}/pod-${config.metadata.uid}`, security_context: { namespace_options: { pid: 'POD' } } } });
  const { pod_sandbox_id } = await w.b.client.call('RunPodSandbox', { config });
  return { id: pod_sandbox_id as string, config };
}

function ctrConfig(w: Worker, name: string, attempt = 0) {
  return { metadata: { name, attempt }, image: { image: w.base }, command: KEEP_RUNNING, log_path: `${name}/${attempt}.log` };
}

async function createCtr(w: Worker, pod: { id: string; config: object }, name = 'c', attempt = 0): Promise<string> {
  return (await w.b.client.call('CreateContainer', { pod_sandbox_id: pod.id, config: ctrConfig(w, name, attempt), sandbox_config: pod.config })).container_id;
}

async function runningCtr(w: Worker) {
  const pod = await runPod(w);
  const id = await createCtr(w, pod);
  await w.b.client.call('StartContainer', { container_id: id });
  return { pod, id };
}

/** A pod with two running containers (the pod-level calls stop and remove both). */
async function podWithTwo(w: Worker) {
  const { pod, id } = await runningCtr(w);
  const id2 = await createCtr(w, pod, 'd');
  await w.b.client.call('StartContainer', { container_id: id2 });
  return { pod, id, id2 };
}

async function ctrState(w: Worker, id: string): Promise<string | undefined> {
  try {
    return (await w.b.client.call('ContainerStatus', { container_id: id })).status.state;
  } catch {
    return undefined;
  }
}

async function podContainers(w: Worker, podId: string): Promise<Array<{ id: string; state: string; metadata: { name: string; attempt: number } }>> {
  return (await w.b.client.call('ListContainers', { filter: { pod_sandbox_id: podId } })).containers;
}

/** Makes sure the named container of `pod` ends RUNNING, as kubelet would after a failed call. */
async function ensureRunning(w: Worker, pod: { id: string; config: object }, name = 'c'): Promise<void> {
  const found = (await podContainers(w, pod.id)).filter((c) => c.metadata.name === name);
  let live = found.find((c) => c.state === 'CONTAINER_RUNNING' || c.state === 'CONTAINER_CREATED');
  for (const c of found) if (c !== live) await w.b.client.call('RemoveContainer', { container_id: c.id });
  if (!live) {
    const attempt = Math.max(-1, ...found.map((c) => c.metadata.attempt)) + 1;
    const id = await createCtr(w, pod, name, attempt);
    live = { id, state: 'CONTAINER_CREATED', metadata: { name, attempt } };
  }
  if (live.state === 'CONTAINER_CREATED') await w.b.client.call('StartContainer', { container_id: live.id });
  const st = await ctrState(w, live.id);
  if (st !== 'CONTAINER_RUNNING') throw new Error(`container ${name} is ${st} after the retry, not RUNNING`);
}

interface Scenario {
  rpc: string;
  setup(w: Worker): Promise<Record<string, any>>;
  drive(w: Worker, s: Record<string, any>): Promise<unknown>;
  /** What kubelet does next after the call failed; must succeed. */
  retry(w: Worker, s: Record<string, any>): Promise<void>;
}

const scenarios: Record<string, Scenario> = {
  RunPodSandbox: {
    rpc: 'RunPodSandbox',
    async setup(w) {
      const config = podConfig(w.b, `run${++w.n}`);
      Object.assign(config, { linux: { cgroup_parent: `${w.scope.cgroupRoot}/pod-${config.metadata.uid}`, security_context: { namespace_options: { pid: 'POD' } } } });
      return { config };
    },
    drive: (w, s) => w.b.client.call('RunPodSandbox', { config: s.config }),
    async retry(w, s) {
      const mine = ((await w.b.client.call('ListPodSandbox', {})).items as Array<{ id: string; state: string; metadata: { uid: string; attempt: number } }>).filter((p) => p.metadata.uid === s.config.metadata.uid);
      // kubelet: a NOTREADY sandbox is stopped, a new attempt is run, the old one removed.
      for (const p of mine) if (p.state !== 'SANDBOX_READY') await w.b.client.call('StopPodSandbox', { pod_sandbox_id: p.id });
      if (!mine.some((p) => p.state === 'SANDBOX_READY')) {
        const attempt = Math.max(-1, ...mine.map((p) => p.metadata.attempt)) + 1;
        const { pod_sandbox_id } = await w.b.client.call('RunPodSandbox', { config: { ...s.config, metadata: { ...s.config.metadata, attempt } } });
        const st = await w.b.client.call('PodSandboxStatus', { pod_sandbox_id });
        if (st.status.state !== 'SANDBOX_READY') throw new Error(`the new sandbox is ${st.status.state}`);
      }
      for (const p of mine) if (p.state !== 'SANDBOX_READY') await w.b.client.call('RemovePodSandbox', { pod_sandbox_id: p.id });
    },
  },
  CreateContainer: {
    rpc: 'CreateContainer',
    setup: async (w) => ({ pod: await runPod(w) }),
    drive: (w, s) => createCtr(w, s.pod),
    retry: (w, s) => ensureRunning(w, s.pod),
  },
  StartContainer: {
    rpc: 'StartContainer',
    async setup(w) {
      const pod = await runPod(w);
      return { pod, id: await createCtr(w, pod) };
    },
    drive: (w, s) => w.b.client.call('StartContainer', { container_id: s.id }),
    retry: (w, s) => ensureRunning(w, s.pod),
  },
  StopContainer: {
    rpc: 'StopContainer',
    setup: (w) => runningCtr(w),
    drive: (w, s) => w.b.client.call('StopContainer', { container_id: s.id, timeout: 10 }),
    async retry(w, s) {
      await w.b.client.call('StopContainer', { container_id: s.id, timeout: 10 });
      const st = await ctrState(w, s.id);
      if (st !== 'CONTAINER_EXITED') throw new Error(`container is ${st} after StopContainer`);
    },
  },
  RemoveContainer: {
    rpc: 'RemoveContainer',
    setup: (w) => runningCtr(w),
    drive: (w, s) => w.b.client.call('RemoveContainer', { container_id: s.id }),
    async retry(w, s) {
      await w.b.client.call('RemoveContainer', { container_id: s.id });
      if ((await podContainers(w, s.pod.id)).length) throw new Error('the container is still listed after RemoveContainer');
    },
  },
  StopPodSandbox: {
    rpc: 'StopPodSandbox',
    setup: (w) => podWithTwo(w),
    drive: (w, s) => w.b.client.call('StopPodSandbox', { pod_sandbox_id: s.pod.id }),
    async retry(w, s) {
      await w.b.client.call('StopPodSandbox', { pod_sandbox_id: s.pod.id });
      const st = await w.b.client.call('PodSandboxStatus', { pod_sandbox_id: s.pod.id });
      if (st.status.state !== 'SANDBOX_NOTREADY') throw new Error(`pod is ${st.status.state} after StopPodSandbox`);
      for (const c of await podContainers(w, s.pod.id)) if (c.state !== 'CONTAINER_EXITED') throw new Error(`container ${c.id} is ${c.state} after StopPodSandbox`);
    },
  },
  RemovePodSandbox: {
    rpc: 'RemovePodSandbox',
    setup: (w) => podWithTwo(w),
    drive: (w, s) => w.b.client.call('RemovePodSandbox', { pod_sandbox_id: s.pod.id }),
    async retry(w, s) {
      await w.b.client.call('RemovePodSandbox', { pod_sandbox_id: s.pod.id });
      if ((await w.b.client.call('ListPodSandbox', {})).items.some((p: { id: string }) => p.id === s.pod.id)) throw new Error('the pod is still listed');
    },
  },
  PullImage: {
    rpc: 'PullImage',
    setup: async () => ({}),
    drive: (w) => w.b.client.call('PullImage', { image: { image: w.extra } }, { service: 'image' }),
    async retry(w) {
      await w.b.client.call('PullImage', { image: { image: w.extra } }, { service: 'image' });
      const st = await w.b.client.call('ImageStatus', { image: { image: w.extra } }, { service: 'image' });
      if (!st.image) throw new Error('the image is not there after PullImage');
    },
  },
  RemoveImage: {
    rpc: 'RemoveImage',
    async setup(w) {
      await w.b.client.call('PullImage', { image: { image: w.extra } }, { service: 'image' });
      return {};
    },
    drive: (w) => w.b.client.call('RemoveImage', { image: { image: w.extra } }, { service: 'image' }),
    async retry(w) {
      await w.b.client.call('RemoveImage', { image: { image: w.extra } }, { service: 'image' });
      const st = await w.b.client.call('ImageStatus', { image: { image: w.extra } }, { service: 'image' });
      if (st.image) throw new Error('the image is still there after RemoveImage');
    },
  },
};

const alive = (b: TestBerthd) => b.proc.exitCode === null && b.proc.signalCode === null;

async function waitDead(b: TestBerthd, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (alive(b)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

/** Removes every pod and the extra image through berthd: the state before the next point. */
async function reset(w: Worker): Promise<void> {
  for (const p of (await w.b.client.call('ListPodSandbox', {})).items) {
    await w.b.client.call('StopPodSandbox', { pod_sandbox_id: p.id });
    await w.b.client.call('RemovePodSandbox', { pod_sandbox_id: p.id });
  }
  await w.b.client.call('RemoveImage', { image: { image: w.extra } }, { service: 'image' });
}

/** Runs each scenario once with tracing on and returns the (RPC, point, hit) triples reached. */
async function enumerate(w: Worker): Promise<KillPoint[]> {
  const out: KillPoint[] = [];
  for (const [name, sc] of Object.entries(scenarios)) {
    await armed(w, {});
    const s = await sc.setup(w);
    await armed(w, { trace: true });
    const from = w.b.stderr().length;
    await sc.drive(w, s);
    await armed(w, {});
    for (const line of w.b.stderr().slice(from).split('\n')) {
      if (!line.includes('"kill point reached"')) continue;
      const m = JSON.parse(line) as { rpc: string; point: string; hit: number };
      if (m.rpc === sc.rpc) out.push({ scenario: name, rpc: m.rpc, point: m.point, hit: m.hit });
    }
    await reset(w);
  }
  for (const point of SHIM_KILL_POINTS) {
    out.push({ scenario: 'CreateContainer', rpc: 'CreateContainer', point, hit: 1, victim: 'berthd' });
    out.push({ scenario: 'CreateContainer', rpc: 'CreateContainer', point, hit: 1, victim: 'shim' });
  }
  return out;
}

interface Outcome {
  kp: KillPoint;
  killed: boolean;
  problems: string[];
}

const label = (kp: KillPoint) => `${kp.rpc} ${kp.point}#${kp.hit}${kp.victim === 'shim' ? ' (shim killed)' : ''}`;

/** Where the test's time goes (ms per phase, all points), for the log. */
const phases = new Map<string, number>();
let phaseMark = 0;
function phase(name: string): void {
  const now = Date.now();
  if (phaseMark) phases.set(name, (phases.get(name) ?? 0) + now - phaseMark);
  phaseMark = now;
}

/** A berthd that a failed point left dead is started again before the next point. */
async function ensureAlive(w: Worker): Promise<void> {
  for (let i = 0; i < 3 && !alive(w.b); i++) await w.b.start().catch(() => undefined);
}

async function runPoint(w: Worker, kp: KillPoint): Promise<Outcome> {
  const sc = scenarios[kp.scenario]!;
  await ensureAlive(w);
  phase('between');
  const problems: string[] = [];
  await armed(w, {});
  const s = await sc.setup(w);
  phase('setup');
  await armed(w, { rpc: kp.rpc, point: kp.point, hit: kp.hit, ...(kp.victim ? { victim: kp.victim } : {}) });
  let callError: unknown;
  await sc.drive(w, s).catch((e: unknown) => (callError = e));
  await armed(w, {});
  const berthdKilled = kp.victim === 'shim' ? false : await waitDead(w.b, callError ? 10_000 : 200);
  let killed = berthdKilled;
  if (kp.victim === 'shim') {
    // berth-shim died: berthd stays up; the create fails with a clear error (or made it, if the shim died after answering).
    killed = callError !== undefined || kp.point === 'shim.result.sent';
    const msg = (callError as Error | undefined)?.message ?? '';
    if (callError && !/berth-shim ended/.test(msg)) problems.push(`the create failed without saying the shim died: ${msg}`);
  } else if (!berthdKilled && callError) problems.push(`the call failed but berthd did not die: ${(callError as Error).message}`);
  phase('drive+death');
  if (berthdKilled) await w.b.start();
  phase('restart');
  problems.push(...(await audit(w.b, w.scope)).map((p) => `after restart: ${p}`));
  phase('audit');
  try {
    await sc.retry(w, s);
  } catch (e) {
    problems.push(`kubelet's next step failed: ${(e as Error).message}`);
  }
  phase('retry');
  try {
    await reset(w);
  } catch (e) {
    problems.push(`cleanup failed: ${(e as Error).message}`);
  }
  phase('cleanup');
  const left = await audit(w.b, w.scope);
  phase('audit');
  problems.push(...left.map((p) => `after cleanup: ${p}`));
  const pods = (await w.b.client.call('ListPodSandbox', {})).items.length;
  if (pods) problems.push(`after cleanup: ${pods} pod(s) still listed`);
  return { kp, killed, problems };
}

async function removeEmptyTree(dir: string): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const e of entries) if (e.isDirectory()) await removeEmptyTree(`${dir}/${e.name}`);
  await rmdir(dir).catch(() => undefined);
}

test.before(async (t) => {
  if (!isRoot()) return;
  const reg = await startRegistry();
  t.context.reg = reg;
  await pushImage(reg.url, 'test/busybox', 'v1', await buildImage({ layers: [busyboxLayer()], config: { Cmd: ['/bin/sh'] } }));
  // The pulled-and-removed image: the base layer it shares with the kept image, and four of its own.
  const extraLayers = [1, 2, 3, 4].map((i) => ({ entries: [{ path: `data${i}`, type: 'dir' as const }, { path: `data${i}/file`, content: randomBytes(16 * 1024) }], compression: 'gzip' as const }));
  await pushImage(reg.url, 'test/extra', 'v1', await buildImage({ layers: [busyboxLayer(), ...extraLayers], config: { Cmd: ['/bin/sh'] } }));
  t.context.base = `${reg.host}/test/busybox:v1`;
  t.context.extra = `${reg.host}/test/extra:v1`;
});
test.after.always(async (t) => {
  await t.context.reg?.stop();
});

rootOnly('a SIGKILL at any kill point inside any mutating call loses and leaks nothing, and the next call succeeds', async (t) => {
  t.timeout(60 * 60_000);
  const started = Date.now();
  const workers: Worker[] = [];
  const nWorkers = Math.max(1, Number(process.env.BERTH_KILL_WORKERS ?? 2));
  try {
    for (let i = 0; i < nWorkers; i++) workers.push(await newWorker(t.context.reg, t.context.base, t.context.extra));
    const points = await enumerate(workers[0]!);
    const rpcs = new Set(points.map((p) => p.rpc));
    for (const sc of Object.values(scenarios)) t.true(rpcs.has(sc.rpc), `${sc.rpc} reaches kill points`);
    const only = process.env.BERTH_KILL_ONLY;
    const todo = only ? points.filter((p) => label(p).includes(only)) : points;
    const outcomes: Outcome[] = [];
    let next = 0;
    await Promise.all(
      workers.map(async (w) => {
        while (next < todo.length) {
          const kp = todo[next++]!;
          try {
            const o = await runPoint(w, kp);
            outcomes.push(o);
            // Progress as it goes (ava prints a test's logs only at its end).
            process.stderr.write(`kill point ${outcomes.length}/${todo.length} ${label(kp)}: ${!o.killed ? 'not reached' : o.problems.length ? `${o.problems.length} problem(s)` : 'ok'}\n`);
          } catch (e) {
            outcomes.push({ kp, killed: false, problems: [`the test itself failed here: ${(e as Error).stack}`] });
            await ensureAlive(w);
          }
        }
      }),
    );
    const killed = outcomes.filter((o) => o.killed);
    const bad = outcomes.filter((o) => o.problems.length);
    const notHit = outcomes.filter((o) => !o.killed);
    t.log(`kill points: ${points.length} enumerated, ${killed.length} hit (${outcomes.length - killed.length} not reached on the armed run), over ${rpcs.size} RPCs, ${nWorkers} berthd(s), ${Math.round((Date.now() - started) / 1000)} s`);
    for (const rpc of rpcs) t.log(`  ${rpc}: ${killed.filter((o) => o.kp.rpc === rpc).length}`);
    t.log(`time per phase (s, all workers): ${[...phases].map(([k, v]) => `${k} ${Math.round(v / 1000)}`).join(', ')}`);
    if (notHit.length) t.log(`not reached: ${notHit.map((o) => label(o.kp)).join(', ')}`);
    for (const o of bad) t.log(`${label(o.kp)}:\n    ${o.problems.join('\n    ')}`);
    t.deepEqual(
      bad.map((o) => label(o.kp)),
      [],
      'every kill point leaves the host matching the records, and the next call succeeds',
    );
    if (!only) t.true(killed.length >= 200, `at least 200 distinct kill points are hit (${killed.length})`);
  } finally {
    for (const w of workers) {
      await removePodsAndCleanup(w.b);
      await rm(w.arm, { force: true });
      // The test's cgroup tree (its top made by the first pod under it, shared by all), deepest
      // first, directories only: rmdir refuses any that still holds a process. A pod level left
      // after an aborted run must not outlive the test.
      for (const h of await readdir('/sys/fs/cgroup').catch(() => [])) await removeEmptyTree(`/sys/fs/cgroup/${h}${w.scope.cgroupRoot}`);
    }
  }
});
