// The Prometheus endpoint end to end: a real Prometheus (Debian's package) scrapes a test
// berthd running containers with known limits, and the test queries Prometheus' HTTP API:
// limits (CPU quota, memory limit, a blkio/io.max limit) equal what was set and follow
// UpdateContainerResources; a spinner held to half a CPU shows a CPU rate near 0.5 and trips
// kube-prometheus' CPUThrottlingHigh expression; a known allocation shows in the working set;
// OOM kills count in container_oom_events_total; direct writes count in
// container_fs_writes_bytes_total; promtool lints a scrape; ListPodSandboxMetrics carries the
// same families and values; a removed container's series go. Needs root and Prometheus.
import anyTest, { type TestFn } from 'ava';
import { execFile } from 'node:child_process';
import { readFile, readlink, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { podConfig, isRoot } from '../helpers/berthd.js';
import { startBerthdWithImages, stopBerthdWithImages, type BerthdTestContext } from '../helpers/berthd-images.js';
import { busyboxLayer } from '../helpers/image-builder.js';
import { havePrometheus, startPrometheus, PROMTOOL, type TestPrometheus } from '../helpers/prometheus.js';
import { readCgroupLayout, type CgroupLayout } from '../../server/cgroups/detect.js';

let layout: CgroupLayout | undefined;
const hostLayout = async () => (layout ??= await readCgroupLayout());
/** A cgroup's directory for one v1 controller (the cgroup2 directory on v2): the test writes limit files there as an operator would. */
async function controllerDir(path: string, controller: string): Promise<string | undefined> {
  const l = await hostLayout();
  const rel = path.replace(/^\/+/, '');
  if (l.mode === 'v2') return join(l.unified!, rel);
  return l.v1[controller] === undefined ? undefined : join(l.v1[controller]!, rel);
}

interface Ctx extends BerthdTestContext {
  prom: TestPrometheus;
  pod: { id: string; config: object };
  ids: Record<'spin' | 'alloc' | 'oom' | 'writer', string>;
  /** A whole block device ("254:0") and its name. */
  disk: { majmin: string; name: string };
  v2: boolean;
  /** The pod's cgroup parent; a container's cgroup is <parent>/<id>. */
  parent: string;
}
const test = anyTest as TestFn<Ctx>;
const ok = isRoot() && havePrometheus();
const serial = ok ? test.serial : test.serial.skip;
if (!ok) console.log('metrics integration tests skipped: they need root and /usr/bin/prometheus');

const MiB = 1 << 20;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const bb = (args: string) => `/bin/busybox ${args}`;

/** The first whole disk in /proc/partitions (throttle limits take disks, not partitions). */
async function wholeDisk(): Promise<{ majmin: string; name: string }> {
  for (const line of (await readFile('/proc/partitions', 'utf8')).split('\n').slice(2)) {
    const [major, minor, , name] = line.trim().split(/\s+/);
    if (!name || !major || !minor || existsSync(`/sys/dev/block/${major}:${minor}/partition`) || /^(loop|zram|ram)/.test(name)) continue;
    return { majmin: `${major}:${minor}`, name: `/dev/${(await readlink(`/sys/dev/block/${major}:${minor}`)).split('/').pop()}` };
  }
  throw new Error('no whole block device in /proc/partitions');
}

/** Sets the container's read bandwidth limit on `disk`, as an operator or NRI plugin would (v1 blkio throttle file; v2 io.max). */
async function setReadBps(t: { context: Ctx }, id: string, bps: number): Promise<void> {
  const dir = await controllerDir(`${t.context.parent}/${id}`, 'blkio');
  if (!dir) throw new Error('no blkio controller');
  if (t.context.v2) await writeFile(join(dir, 'io.max'), `${t.context.disk.majmin} rbps=${bps}`);
  else await writeFile(join(dir, 'blkio.throttle.read_bps_device'), `${t.context.disk.majmin} ${bps}`);
}

test.before(async (t) => {
  if (!ok) return;
  const { b, reg, images } = await startBerthdWithImages(
    { busybox: { layers: [busyboxLayer({ applets: ['sh', 'sleep', 'cat', 'echo'] })], config: { Cmd: ['/bin/sh'] } } },
    { configToml: '[metrics]\ninterval_seconds = 1' },
  );
  Object.assign(t.context, { b, reg, image: images.busybox });
  t.context.v2 = (await hostLayout()).mode === 'v2';
  t.context.disk = await wholeDisk();
  const parent = `/berth-test-metrics-${randomBytes(4).toString('hex')}`;
  t.context.parent = parent;
  const config = podConfig(b, 'metrics', { linux: { cgroup_parent: parent } });
  const { pod_sandbox_id } = await b.client.call('RunPodSandbox', { config });
  t.context.pod = { id: pod_sandbox_id, config };
  const run = async (name: string, command: string, resources: Record<string, unknown>) => {
    const { container_id } = await b.client.call('CreateContainer', {
      pod_sandbox_id,
      sandbox_config: config,
      config: { metadata: { name, attempt: 0 }, image: { image: images.busybox }, command: ['/bin/sh', '-c', command], linux: { resources } },
    });
    await b.client.call('StartContainer', { container_id });
    return container_id as string;
  };
  t.context.ids = {
    spin: await run('spin', 'while :; do :; done', { cpu_period: 100000, cpu_quota: 50000, memory_limit_in_bytes: 64 * MiB }),
    alloc: await run('alloc', `${bb('dd if=/dev/zero of=/dev/shm/fill bs=1M count=40')} && sleep 100000`, { memory_limit_in_bytes: 256 * MiB }),
    // sort holds its one 200 MB line in memory: killed at 32 MiB, again and again; the shell lives on.
    oom: await run('oom', `while :; do ${bb('head -c 200000000 /dev/zero')} | ${bb('sort')} >/dev/null; sleep 0.3; done`, { memory_limit_in_bytes: 32 * MiB }),
    writer: await run('writer', `${bb('dd if=/dev/zero of=/tmp/direct bs=1M count=8 oflag=direct')} && echo done > /tmp/done; sleep 100000`, {}),
  };
  await setReadBps(t, t.context.ids.spin, MiB);
  const url = b.metricsUrl();
  if (!url) throw new Error(`berthd serves no metrics: ${b.stderr().slice(-2000)}`);
  t.context.prom = await startPrometheus(url);
});

test.after.always(async (t) => {
  await t.context.prom?.stop();
  await stopBerthdWithImages(t.context);
});

const one = async (p: TestPrometheus, expr: string, ok: (v: number) => boolean = () => true) => (await p.waitFor(expr, (r) => r.length === 1 && ok(r[0]!.value)))[0]!.value;

/** The container's CPU seconds straight from its cgroup (v1 cpuacct.usage, v2 cpu.stat usage_usec). */
async function cgroupCpuSeconds(t: { context: Ctx }, id: string): Promise<number> {
  const path = `${t.context.parent}/${id}`;
  if (t.context.v2) {
    const text = await readFile(join((await controllerDir(path, 'cpu'))!, 'cpu.stat'), 'utf8');
    return Number(/^usage_usec (\d+)$/m.exec(text)![1]) / 1e6;
  }
  return Number((await readFile(join((await controllerDir(path, 'cpuacct'))!, 'cpuacct.usage'), 'utf8')).trim()) / 1e9;
}

serial('a spinner held to half a CPU: its rate stays under 0.5 and matches the cgroup; kube-prometheus expressions and CPUThrottlingHigh', async (t) => {
  const { prom, ids } = t.context;
  // Enough scrapes for rate() over the last seconds.
  await prom.waitFor('count_over_time(container_cpu_usage_seconds_total{container="spin"}[1m])', (r) => r.length === 1 && r[0]!.value >= 4, 30_000);
  const c0 = await cgroupCpuSeconds(t, ids.spin);
  const w0 = Date.now();
  await sleep(8000);
  const direct = (await cgroupCpuSeconds(t, ids.spin) - c0) / ((Date.now() - w0) / 1000);
  await sleep(1500); // the last sample reaches Prometheus
  const rate = await one(prom, 'rate(container_cpu_usage_seconds_total{container="spin",cpu="total"}[9s])');
  t.log(`spinner CPU rate: ${rate.toFixed(3)} (cgroup: ${direct.toFixed(3)}; 0.5 unless the machine is loaded)`);
  t.true(rate > 0.02 && rate < 0.56, `rate ${rate} is within the half-CPU quota`);
  t.true(Math.abs(rate - direct) < 0.15, `Prometheus' rate ${rate} agrees with the cgroup's ${direct}`);
  // kube-prometheus' node_namespace_pod_container:container_cpu_usage_seconds_total:sum_irate, before its kube_pod_info join.
  const irate = await prom.query('sum by (cluster, namespace, pod, container) (irate(container_cpu_usage_seconds_total{job="berth", image!=""}[5m]))');
  t.deepEqual(irate.map((r) => r.metric.container).sort(), ['alloc', 'oom', 'spin', 'writer'], 'one series per container; image!="" keeps pod-level series out');
  t.true(irate.find((r) => r.metric.container === 'spin')!.value > 0.02);
  // CPUThrottlingHigh (kube-prometheus), job selector adapted; its ratio without the threshold first.
  const by = 'without (id, metrics_path, name, image, endpoint, job, node)';
  const ratioExpr = `sum(increase(container_cpu_cfs_throttled_periods_total{container!="", job="berth"}[5m])) ${by} / sum(increase(container_cpu_cfs_periods_total{job="berth"}[5m])) ${by}`;
  const ratio = await prom.query(ratioExpr);
  const spin = ratio.find((r) => r.metric.container === 'spin');
  t.truthy(spin, 'the quota-limited spinner has CFS periods');
  // A loaded machine may never give the spinner its half CPU, and then the quota never bites.
  t.true(spin!.value > 0 || rate < 0.25, `throttled in some periods (ratio ${spin!.value}) unless the machine held it far below its quota (rate ${rate})`);
  t.deepEqual(ratio.map((r) => r.metric.container), ['spin'], 'containers without a quota have no CFS periods');
  const alert = await prom.query(`${ratioExpr} > ( 25 / 100 )`);
  t.log(`throttled ratio of the spinner: ${spin!.value.toFixed(2)}`);
  t.deepEqual(alert.map((r) => r.metric.container), spin!.value > 0.25 ? ['spin'] : [], 'CPUThrottlingHigh fires exactly when the ratio passes 25%');
});

serial('limits as gauges: CPU quota, memory limit and read bandwidth equal what was set, and follow updates', async (t) => {
  const { prom, ids, disk } = t.context;
  t.is(await one(prom, 'container_spec_cpu_quota{container="spin"}'), 50000);
  t.is(await one(prom, 'container_spec_cpu_period{container="spin"}'), 100000);
  t.is(await one(prom, 'container_spec_memory_limit_bytes{container="spin"}'), 64 * MiB);
  t.is(await one(prom, 'container_spec_memory_limit_bytes{container="writer"}'), 0, 'no limit → 0, as cAdvisor');
  const io = await prom.waitFor(`container_spec_fs_read_bytes_per_second_limit{container="spin"}`, (r) => r.length === 1);
  t.is(io[0]!.value, MiB);
  t.is(io[0]!.metric.device, disk.name);
  t.is(`${io[0]!.metric.major}:${io[0]!.metric.minor}`, disk.majmin);
  t.is((await prom.query('container_spec_fs_read_bytes_per_second_limit{container="alloc"}')).length, 0, 'no series where no limit is set');
  if (!t.context.v2) t.is((await prom.query('container_spec_io_weight')).length, 0, 'no blkio.weight on this kernel: no series');

  await t.context.b.client.call('UpdateContainerResources', { container_id: ids.spin, linux: { cpu_period: 100000, cpu_quota: 30000, memory_limit_in_bytes: 96 * MiB } });
  await setReadBps(t, ids.spin, 2 * MiB);
  t.is(await one(prom, 'container_spec_cpu_quota{container="spin"}', (v) => v === 30000), 30000);
  t.is(await one(prom, 'container_spec_memory_limit_bytes{container="spin"}', (v) => v === 96 * MiB), 96 * MiB);
  t.is(await one(prom, 'container_spec_fs_read_bytes_per_second_limit{container="spin"}', (v) => v === 2 * MiB), 2 * MiB);
});

serial('working set of a container holding 40 MiB, and kube-prometheus memory expressions', async (t) => {
  const { prom } = t.context;
  const ws = await one(prom, 'container_memory_working_set_bytes{container="alloc"}', (v) => v >= 40 * MiB);
  t.log(`working set: ${(ws / MiB).toFixed(1)} MiB`);
  t.true(ws >= 40 * MiB && ws < 72 * MiB, `${ws} is 40 MiB plus a little`);
  for (const f of ['container_memory_working_set_bytes', 'container_memory_rss', 'container_memory_cache', 'container_memory_swap']) {
    const r = await prom.query(`${f}{job="berth", image!=""}`);
    t.true(r.some((s) => s.metric.container === 'alloc' && s.metric.pod === 'metrics' && s.metric.namespace === 'berth-test'), `${f} has namespace/pod/container labels`);
  }
  const pod = await one(prom, 'container_memory_working_set_bytes{pod="metrics", container=""}');
  t.true(pod >= ws, 'the pod-level series (container="") covers its containers');
});

serial('OOM kills count in container_oom_events_total', async (t) => {
  const { prom } = t.context;
  const n = await one(prom, 'container_oom_events_total{container="oom"}', (v) => v >= 2);
  t.true(n >= 2, 'each kill counts');
  t.is(await one(prom, 'container_oom_events_total{container="spin"}'), 0);
});

serial('direct writes count in container_fs_writes_bytes_total where the host accounts them', async (t) => {
  const { prom, b, ids } = t.context;
  const done = await b.client.call('ExecSync', { container_id: ids.writer, cmd: ['/bin/cat', '/tmp/done'], timeout: 10 }).then((r: { exit_code: number }) => r.exit_code === 0);
  if (!done) {
    t.log('dd oflag=direct failed in the container here (no O_DIRECT on this overlay): write accounting not checked');
    t.pass();
    return;
  }
  const r = await prom.waitFor('sum(container_fs_writes_bytes_total{container="writer"})', (v) => v.length === 1 && v[0]!.value >= 8 * MiB, 10_000).catch(() => undefined);
  if (!r) t.log('8 MiB of direct writes were not attributed to the container by this host\'s blkio accounting');
  else t.true(r[0]!.value >= 8 * MiB);
  t.pass();
});

serial('promtool check metrics: only the two cAdvisor names that break its conventions', async (t) => {
  const url = t.context.b.metricsUrl()!;
  const text = await (await fetch(url)).text();
  const res = await new Promise<{ out: string; code: number }>((resolve) => {
    const p = execFile(PROMTOOL, ['check', 'metrics'], (err, stdout, stderr) => resolve({ out: stdout + stderr, code: err ? ((err as { code?: number }).code ?? 1) : 0 }));
    p.stdin!.end(text);
  });
  const problems = res.out.split('\n').filter((l) => l.trim() !== '');
  t.log(problems.join('\n') || 'no problems');
  // cAdvisor's own names: a gauge ending in _total and a counter without it. Kept exactly so dashboards work.
  t.deepEqual(problems.filter((l) => !/^container_fs_inodes_total non-counter|^container_memory_failcnt counter/.test(l)), []);
  for (const f of ['container_cpu_usage_seconds_total', 'container_spec_cpu_quota', 'berth_cri_requests_total', 'berth_runtime_ready', 'process_cpu_seconds_total']) t.true(text.includes(`# TYPE ${f} `), f);
});

function parseScrape(text: string, container: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^(\w+)\{(.*)\} (\S+)$/.exec(line);
    if (m && m[2]!.startsWith(`container="${container}",`)) out.set(`${m[1]}{${m[2]}}`, Number(m[3]));
  }
  return out;
}

serial('ListPodSandboxMetrics carries the same families and values as the scrape', async (t) => {
  const { b, ids, pod } = t.context;
  const text = await (await fetch(b.metricsUrl()!)).text();
  const scraped = parseScrape(text, 'spin');
  const pm = (await b.client.call('ListPodSandboxMetrics', {})).pod_metrics.find((p: { pod_sandbox_id: string }) => p.pod_sandbox_id === pod.id);
  const cm = pm.container_metrics.find((c: { container_id: string }) => c.container_id === ids.spin).metrics as { name: string; value: { value: string } }[];
  const scrapedFamilies = new Set([...scraped.keys()].map((k) => k.slice(0, k.indexOf('{'))));
  t.deepEqual(new Set(cm.map((m) => m.name)), scrapedFamilies);
  for (const f of ['container_spec_cpu_quota', 'container_spec_memory_limit_bytes', 'container_spec_fs_read_bytes_per_second_limit']) {
    const fromCri = cm.find((m) => m.name === f)!;
    const fromScrape = [...scraped].find(([k]) => k.startsWith(`${f}{`))![1];
    t.is(Number(fromCri.value.value), fromScrape, f);
  }
  t.true(pm.metrics.some((m: { name: string }) => m.name === 'container_network_receive_bytes_total'), 'pod-level network series');
  const descriptors = (await b.client.call('ListMetricDescriptors', {})).descriptors as { name: string }[];
  for (const f of scrapedFamilies) t.true(descriptors.some((d) => d.name === f), `${f} is described`);
});

serial('a removed container\'s series disappear', async (t) => {
  const { prom, b, ids } = t.context;
  t.is((await prom.query(`container_last_seen{name="${ids.oom}"}`)).length, 1);
  await b.client.call('StopContainer', { container_id: ids.oom, timeout: 0 });
  await b.client.call('RemoveContainer', { container_id: ids.oom });
  await prom.waitFor(`container_last_seen{name="${ids.oom}"}`, (r) => r.length === 0, 15_000);
  t.false((await (await fetch(b.metricsUrl()!)).text()).includes(ids.oom));
  t.is((await prom.query(`container_last_seen{name="${ids.spin}"}`)).length, 1, 'the others stay');
  t.true((await stat(t.context.prom.dir)).isDirectory());
});
