// Covers the chart's PrometheusRule and Grafana dashboard with Debian's promtool:
// `promtool check rules` on the rendered rule groups; `promtool test rules` with input
// series for every alert, on a node or container where it must fire and on one where it
// must not (and before its `for` has passed); the annotations only name labels the alert
// carries; the job name from the values reaches every expression; and every PromQL
// expression of the dashboard (panels and variable queries) parses, checked by wrapping
// each as a recording rule.
import test from 'ava';
import { stringify } from 'yaml';
import { CI_VALUES, renderChart, only, promtool } from '../helpers/helm.js';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

interface AlertCase {
  eval_time: string;
  alertname: string;
  exp_alerts: { exp_labels: Record<string, string> }[];
}

/** Rule groups of the rendered PrometheusRule, as a Prometheus rule file. */
async function ruleGroups(files: string[] = []): Promise<Obj[]> {
  const objs = await renderChart({ files });
  return (only(objs, 'PrometheusRule') as Obj).spec.groups as Obj[];
}

/**
 * promtool unit tests for every alert: node-a / container c1 is made to fire, node-b / c2
 * (and c3 where it matters) must not, and an early evaluation checks the `for` delay.
 */
function alertTests(job: string): { input_series: { series: string; values: string }[]; alerts: AlertCase[] } {
  const node = (n: string) => `job="${job}", instance="${n}:9465", node="${n}"`;
  const ctr = (n: string, c: string) => `${node(n)}, namespace="ns", pod="p-${c}", container="${c}", id="/kubepods/p-${c}/${c}", image="img", name="${c}"`;
  const a = { job, instance: 'node-a:9465', node: 'node-a' };
  const ctrLabels = (c: string) => ({ job, node: 'node-a', namespace: 'ns', pod: `p-${c}`, container: c });
  const S: { series: string; values: string }[] = [];
  const add = (series: string, values: string) => S.push({ series, values });

  add(`up{${node('node-a')}}`, '0x30');
  add(`up{${node('node-b')}}`, '1x30');
  add(`berth_runtime_ready{${node('node-a')}}`, '1 1 0x30');
  add(`berth_runtime_ready{${node('node-b')}}`, '1x30');
  add(`berth_network_ready{${node('node-a')}}`, '0x40');
  add(`berth_network_ready{${node('node-b')}}`, '1x40');
  // node-a: 10 of 110 calls a minute fail (9%); node-b: NotFound only, which is not an error.
  add(`berth_cri_requests_total{${node('node-a')}, method="RunPodSandbox", code="OK"}`, '0+100x40');
  add(`berth_cri_requests_total{${node('node-a')}, method="RunPodSandbox", code="Unknown"}`, '0+10x40');
  add(`berth_cri_requests_total{${node('node-b')}, method="ContainerStatus", code="OK"}`, '0+100x40');
  add(`berth_cri_requests_total{${node('node-b')}, method="ContainerStatus", code="NotFound"}`, '0+50x40');
  // node-a: every pod takes 10-30 s to start (p95 ≈ 29 s); node-b: under 1 s.
  for (const [le, va, vb] of [['1', '0x40', '0+1x40'], ['5', '0x40', '0+1x40'], ['10', '0x40', '0+1x40'], ['30', '0+1x40', '0+1x40'], ['+Inf', '0+1x40', '0+1x40']] as const) {
    add(`berth_pod_start_duration_seconds_bucket{${node('node-a')}, le="${le}"}`, va);
    add(`berth_pod_start_duration_seconds_bucket{${node('node-b')}, le="${le}"}`, vb);
  }
  // node-a: half the pulls fail; node-b: every pull fails but too few to matter (one in 15 minutes).
  add(`berth_image_pulls_total{${node('node-a')}, result="success"}`, '0+1x60');
  add(`berth_image_pulls_total{${node('node-a')}, result="failure"}`, '0+1x60');
  add(`berth_image_pulls_total{${node('node-b')}, result="success"}`, '0x60');
  add(`berth_image_pulls_total{${node('node-b')}, result="failure"}`, '0x20 1x40');
  // c1 is OOM-killed at minute 4; the pod-level series (container="") moves too but is not a container.
  add(`container_oom_events_total{${ctr('node-a', 'c1')}}`, '0x3 1x40');
  add(`container_oom_events_total{${node('node-a')}, namespace="ns", pod="p-c1", container="", id="/kubepods/p-c1", image="", name=""}`, '0x3 1x40');
  add(`container_oom_events_total{${ctr('node-a', 'c2')}}`, '0x40');
  // c1 is throttled in half its periods, c2 in a tenth.
  add(`container_cpu_cfs_periods_total{${ctr('node-a', 'c1')}}`, '0+100x40');
  add(`container_cpu_cfs_throttled_periods_total{${ctr('node-a', 'c1')}}`, '0+50x40');
  add(`container_cpu_cfs_periods_total{${ctr('node-a', 'c2')}}`, '0+100x40');
  add(`container_cpu_cfs_throttled_periods_total{${ctr('node-a', 'c2')}}`, '0+10x40');
  // c1 at 95% of its limit, c2 at 50%, c3 has no limit (0).
  add(`container_memory_working_set_bytes{${ctr('node-a', 'c1')}}`, '950x40');
  add(`container_spec_memory_limit_bytes{${ctr('node-a', 'c1')}}`, '1000x40');
  add(`container_memory_working_set_bytes{${ctr('node-a', 'c2')}}`, '500x40');
  add(`container_spec_memory_limit_bytes{${ctr('node-a', 'c2')}}`, '1000x40');
  add(`container_memory_working_set_bytes{${ctr('node-a', 'c3')}}`, '950x40');
  add(`container_spec_memory_limit_bytes{${ctr('node-a', 'c3')}}`, '0x40');

  const fire = (alertname: string, eval_time: string, labels: Record<string, string>, severity: string): AlertCase => ({ eval_time, alertname, exp_alerts: [{ exp_labels: { severity, ...labels } }] });
  const quiet = (alertname: string, eval_time: string): AlertCase => ({ eval_time, alertname, exp_alerts: [] });
  return {
    input_series: S,
    alerts: [
      quiet('BerthdDown', '3m'),
      fire('BerthdDown', '10m', a, 'critical'),
      quiet('BerthRuntimeNotReady', '5m'),
      fire('BerthRuntimeNotReady', '15m', a, 'critical'),
      quiet('BerthNetworkNotReady', '5m'),
      fire('BerthNetworkNotReady', '20m', a, 'warning'),
      quiet('BerthCRIErrorRatioHigh', '10m'),
      fire('BerthCRIErrorRatioHigh', '25m', a, 'warning'),
      quiet('BerthPodStartSlow', '12m'),
      fire('BerthPodStartSlow', '30m', a, 'warning'),
      quiet('BerthImagePullsFailing', '5m'),
      fire('BerthImagePullsFailing', '35m', a, 'warning'),
      quiet('BerthContainerOOMKilled', '2m'),
      fire('BerthContainerOOMKilled', '8m', ctrLabels('c1'), 'warning'),
      quiet('BerthContainerOOMKilled', '30m'),
      quiet('BerthContainerCPUThrottlingHigh', '10m'),
      fire('BerthContainerCPUThrottlingHigh', '25m', ctrLabels('c1'), 'info'),
      quiet('BerthContainerMemoryNearLimit', '10m'),
      fire('BerthContainerMemoryNearLimit', '20m', ctrLabels('c1'), 'warning'),
    ],
  };
}

/** Rule files with annotations dropped: promtool compares annotations exactly; they are checked apart below. */
function withoutAnnotations(groups: Obj[]): Obj[] {
  return groups.map((g) => ({ ...g, rules: (g.rules as Obj[]).map(({ annotations: _drop, ...r }) => r) }));
}

for (const [name, files, job] of [
  ['default values', [], 'berth'],
  ['node-selector values (job berth-nodes)', [CI_VALUES[2]!], 'berth-nodes'],
] as const) {
  test(`promtool check rules accepts the rendered alerts: ${name}`, async (t) => {
    const groups = await ruleGroups([...files]);
    const r = await promtool((d) => ['check', 'rules', `${d}/rules.yaml`], { 'rules.yaml': stringify({ groups }) });
    t.is(r.code, 0, r.stdout + r.stderr);
    const n = groups.flatMap((g) => g.rules as Obj[]).length;
    t.regex(r.stdout, new RegExp(`SUCCESS: ${n} rules found`));
    for (const rule of groups.flatMap((g) => g.rules as Obj[])) t.true((rule.expr as string).includes(`job="${job}"`), `${rule.alert} selects job ${job}`);
  });

  test(`promtool test rules: every alert fires where it must and stays quiet where it must not: ${name}`, async (t) => {
    const groups = await ruleGroups([...files]);
    const { input_series, alerts } = alertTests(job);
    const names = groups.flatMap((g) => g.rules as Obj[]).map((r) => r.alert as string).sort();
    // Every alert has a firing case and a quiet one (the test file must keep up with the rules).
    t.deepEqual([...new Set(alerts.filter((c) => c.exp_alerts.length > 0).map((c) => c.alertname))].sort(), names);
    t.deepEqual([...new Set(alerts.filter((c) => c.exp_alerts.length === 0).map((c) => c.alertname))].sort(), names);
    const testFile = { rule_files: ['rules.yaml'], evaluation_interval: '1m', tests: [{ interval: '1m', input_series, alert_rule_test: alerts }] };
    const r = await promtool((d) => ['test', 'rules', `${d}/test.yaml`], {
      'rules.yaml': stringify({ groups: withoutAnnotations(groups) }),
      'test.yaml': stringify(testFile),
    });
    t.is(r.code, 0, r.stdout + r.stderr);
    t.regex(r.stdout, /SUCCESS/);
  });
}

test('alert annotations name only labels the alert carries', async (t) => {
  const { alerts } = alertTests('berth');
  const labelsOf = new Map(alerts.filter((c) => c.exp_alerts.length > 0).map((c) => [c.alertname, Object.keys(c.exp_alerts[0]!.exp_labels)]));
  for (const rule of (await ruleGroups()).flatMap((g) => g.rules as Obj[])) {
    const text = Object.values(rule.annotations as Record<string, string>).join('\n');
    const used = [...text.matchAll(/\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)/g)].map((m) => m[1]!);
    t.true(used.length > 0, `${rule.alert} says where`);
    for (const l of used) t.true(labelsOf.get(rule.alert)!.includes(l), `${rule.alert}: $labels.${l} is not a label of the alert`);
    t.truthy(rule.annotations.summary);
    t.truthy(rule.annotations.description);
  }
});

/** The PromQL of every panel target and every query variable of the dashboard, with Grafana's variables given values. */
function dashboardExpressions(dash: Obj): string[] {
  const exprs: string[] = [];
  const walk = (panels: Obj[]) => {
    for (const p of panels) {
      for (const target of (p.targets ?? []) as Obj[]) exprs.push(target.expr as string);
      if (p.panels) walk(p.panels as Obj[]);
    }
  };
  walk(dash.panels as Obj[]);
  for (const v of dash.templating.list as Obj[]) {
    if (v.type !== 'query') continue;
    // label_values(SELECTOR, label) is Grafana's; the selector inside is PromQL.
    const m = /^label_values\((.*),\s*[a-zA-Z_][a-zA-Z0-9_]*\)$/.exec(v.query.query as string);
    if (!m) throw new Error(`variable ${v.name}: unexpected query ${v.query.query}`);
    exprs.push(m[1]!);
  }
  return exprs.map((e) => e.replaceAll('$__rate_interval', '5m').replaceAll('$job', 'berth').replaceAll('$node', '.*').replaceAll('$namespace', '.*'));
}

test('every PromQL expression in the dashboard parses (promtool check rules)', async (t) => {
  const objs = await renderChart();
  const dash = JSON.parse((only(objs, 'ConfigMap', 'rel-berth-dashboard') as Obj).data['berth.json'] as string) as Obj;
  const exprs = dashboardExpressions(dash);
  t.true(exprs.length >= 20);
  for (const e of exprs) t.false(e.includes('$'), `an unknown Grafana variable is left in ${e}`);
  const rules = exprs.map((expr, i) => ({ record: `berth_dashboard:expr_${i}`, expr }));
  const r = await promtool((d) => ['check', 'rules', `${d}/dash.yaml`], { 'dash.yaml': stringify({ groups: [{ name: 'dashboard', rules }] }) });
  t.is(r.code, 0, r.stdout + r.stderr);
  t.regex(r.stdout, new RegExp(`SUCCESS: ${rules.length} rules found`));
  // A broken expression is caught the same way (the check is not vacuous).
  const bad = await promtool((d) => ['check', 'rules', `${d}/bad.yaml`], { 'bad.yaml': stringify({ groups: [{ name: 'x', rules: [{ record: 'x:y', expr: 'sum by (node (up)' }] }] }) });
  t.not(bad.code, 0);
  // Panels with the sidecar's label, and the metric families the issue names are all graphed.
  t.is((only(objs, 'ConfigMap', 'rel-berth-dashboard') as Obj).metadata.labels.grafana_dashboard, '1');
  const all = exprs.join('\n');
  for (const family of ['berth_runtime_ready', 'berth_network_ready', 'berth_cri_requests_total', 'berth_cri_request_duration_seconds_bucket', 'berth_pod_start_duration_seconds_bucket', 'berth_image_pulls_total', 'berth_image_pull_failures_total', 'berth_image_pull_bytes_total', 'berth_oom_kills_total', 'berth_containers', 'berth_conmon_monitors', 'berth_shim_jobs_in_flight', 'berth_streaming_sessions', 'container_cpu_usage_seconds_total', 'container_cpu_cfs_throttled_periods_total', 'container_memory_working_set_bytes', 'container_spec_memory_limit_bytes', 'container_oom_events_total']) {
    t.true(all.includes(family + '{'), `${family} is on the dashboard`);
  }
});
