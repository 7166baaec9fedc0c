// Covers the Helm chart helm/berth as rendered by helm v4 (no cluster here: nothing is
// applied): `helm lint --strict` and `helm template` with the default values and every
// values file in helm/berth/ci/; every rendered object validated against the Kubernetes
// API schemas (and the prometheus-operator CRD schemas); the rendered objects themselves
// (the installer DaemonSet's privileges and mounts, RuntimeClass handlers equal to the
// handlers of the berth config the chart writes, which berth's own config loader
// accepts, the scrape path from ServiceMonitor to proxy to berthd's port, the pre-delete
// hook, metrics off); and values the schema or the templates must refuse.
import test from 'ava';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { parseConfigText, mergeConfig, defaultConfig, validateConfig } from '../../server/config.js';
import { CHART, CI_VALUES, helm, renderChart, renderRaw, only, ofKind, NAMESPACE, type K8sObject } from '../helpers/helm.js';
import { validateObject } from '../helpers/k8s-schemas.js';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const CASES: { name: string; files: string[] }[] = [{ name: 'default values', files: [] }, ...CI_VALUES.map((f) => ({ name: f.split('/').pop()!, files: [f] }))];

/** The berth config.toml the chart writes, parsed and loaded the way berthd loads its config file. */
function berthConfigOf(objs: K8sObject[]) {
  const cm = only(objs, 'ConfigMap', 'rel-berth-config') as Obj;
  const parsed = parseConfigText(cm.data['config.toml'], 'chart config.toml') as Obj;
  // `[metrics]` is read by berthd once the metrics issue lands; until its keys are in
  // berth's config, the rest of the file is checked with berth's loader and [metrics] here.
  const { metrics, ...rest } = parsed;
  const known = 'metrics' in defaultConfig();
  const config = validateConfig(mergeConfig(defaultConfig(), known ? parsed : rest));
  return { config, metrics: metrics as { enabled: boolean; address: string; path: string } };
}

function daemonSet(objs: K8sObject[]): Obj {
  return only(objs, 'DaemonSet', 'rel-berth') as Obj;
}

function container(ds: Obj, name: string): Obj | undefined {
  return (ds.spec.template.spec.containers as Obj[]).find((c) => c.name === name);
}

for (const c of CASES) {
  test(`helm lint --strict passes: ${c.name}`, async (t) => {
    const r = await helm(['lint', '--strict', CHART, ...c.files.flatMap((f) => ['-f', f])]);
    t.is(r.code, 0, r.stdout + r.stderr);
    t.regex(r.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
  });

  test(`every rendered object passes its API schema: ${c.name}`, async (t) => {
    const objs = await renderChart({ files: c.files });
    t.true(objs.length >= 8);
    for (const o of objs) t.notThrows(() => validateObject(o), `${o.kind} ${o.metadata.name}`);
    for (const o of objs) {
      const clusterScoped = ['ClusterRole', 'ClusterRoleBinding', 'RuntimeClass'].includes(o.kind);
      t.is(o.metadata.namespace, clusterScoped ? undefined : NAMESPACE, `${o.kind} ${o.metadata.name} namespace`);
      t.is(o.metadata.labels?.['app.kubernetes.io/instance'], 'rel');
    }
  });

  test(`RuntimeClass handlers are the handlers of the berth config the chart writes: ${c.name}`, async (t) => {
    const objs = await renderChart({ files: c.files });
    const { config } = berthConfigOf(objs);
    const values = (await renderValues(c.files)) as Obj;
    const withClass = (values.berth.runtimes as Obj[]).filter((r) => r.runtimeClass.create).map((r) => r.handler).sort();
    const classes = ofKind(objs, 'RuntimeClass') as Obj[];
    t.deepEqual(classes.map((rc) => rc.handler).sort(), withClass);
    for (const rc of classes) {
      t.true(rc.handler in config.runtimes, `RuntimeClass ${rc.metadata.name}: handler ${rc.handler} is configured in berth`);
      t.deepEqual(rc.scheduling.nodeSelector, { [values.nodeLabel.key]: 'running' });
    }
    // berth merges [runtimes] into its built-in handlers (runc, crun): the chart's are all there, with the chart's paths.
    for (const r of values.berth.runtimes as Obj[]) t.is(config.runtimes[r.handler]?.path, r.path, `handler ${r.handler}`);
    t.is(config.default_runtime, values.berth.defaultRuntime);
  });
}

/** The values helm computes (chart defaults merged with the files), through `helm template --show-only` of nothing: read from the chart's values.yaml and files. */
async function renderValues(files: string[]): Promise<unknown> {
  // helm has no "print computed values" without a release; merge the way helm does for these files (maps merge, lists replace).
  const { parse } = await import('yaml');
  const { readFile } = await import('node:fs/promises');
  const merge = (a: Obj, b: Obj): Obj => {
    const out: Obj = { ...a };
    for (const [k, v] of Object.entries(b)) out[k] = v && typeof v === 'object' && !Array.isArray(v) && a[k] && typeof a[k] === 'object' && !Array.isArray(a[k]) ? merge(a[k], v) : v;
    return out;
  };
  let values = parse(await readFile(`${CHART}/values.yaml`, 'utf8')) as Obj;
  for (const f of files) values = merge(values, parse(await readFile(f, 'utf8')) as Obj);
  return values;
}

test('the schema validators are live: broken copies of rendered objects are refused', async (t) => {
  const objs = await renderChart();
  const ds = structuredClone(daemonSet(objs));
  ds.spec.template.spec.containers[0].securityContext.privileged = 'true';
  t.throws(() => validateObject(ds as K8sObject), { message: /privileged must be boolean/ });
  const noContainers = structuredClone(daemonSet(objs));
  delete noContainers.spec.template.spec.containers;
  t.throws(() => validateObject(noContainers as K8sObject), { message: /must have required property containers/ });
  const sm = structuredClone(only(objs, 'ServiceMonitor')) as Obj;
  sm.spec.endpoints[0].interval = '30 seconds';
  t.throws(() => validateObject(sm as K8sObject), { message: /interval must match pattern/ });
  const rc = structuredClone(ofKind(objs, 'RuntimeClass')[0]) as Obj;
  delete rc.handler;
  t.throws(() => validateObject(rc as K8sObject), { message: /handler/ });
  t.throws(() => validateObject({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'x' } }), { message: /no schema for v1\/Pod/ });
});

test('the installer DaemonSet: privileged on the host root, host PID and network, node-critical, one node at a time', async (t) => {
  const objs = await renderChart();
  const ds = daemonSet(objs);
  const spec = ds.spec.template.spec;
  t.true(spec.hostPID);
  t.true(spec.hostNetwork);
  t.is(spec.dnsPolicy, 'ClusterFirstWithHostNet');
  t.is(spec.priorityClassName, 'system-node-critical');
  t.deepEqual(ds.spec.updateStrategy, { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } });
  t.deepEqual(spec.nodeSelector, { 'kubernetes.io/os': 'linux' });
  t.true((spec.tolerations as Obj[]).some((x) => x.operator === 'Exists' && x.key === undefined), 'tolerates every taint by default');
  t.true((spec.tolerations as Obj[]).some((x) => x.key === 'berth.io/kubelet-switching' && x.effect === 'NoSchedule'), 'tolerates its own switch taint');

  const inst = container(ds, 'installer')!;
  t.deepEqual(inst.command, ['berth']);
  t.deepEqual(inst.args.slice(0, 4), ['node', 'install', '--host-root', '/host']);
  t.true(inst.args.includes('--stay'));
  t.false(inst.args.includes('--switch-kubelet'), 'kubelet is not switched unless asked');
  t.true(inst.securityContext.privileged);
  const hostVol = (spec.volumes as Obj[]).find((v) => v.hostPath)!;
  t.deepEqual(hostVol.hostPath, { path: '/', type: 'Directory' });
  const mount = (inst.volumeMounts as Obj[]).find((m) => m.name === hostVol.name)!;
  t.is(mount.mountPath, '/host');
  t.is(mount.mountPropagation, 'HostToContainer');
  const cfgMount = (inst.volumeMounts as Obj[]).find((m) => m.name === 'config')!;
  t.is(inst.args[inst.args.indexOf('--config') + 1], `${cfgMount.mountPath}/config.toml`);
  t.is((spec.volumes as Obj[]).find((v) => v.name === 'config')!.configMap.name, 'rel-berth-config');
  t.is(inst.env[0].valueFrom.fieldRef.fieldPath, 'spec.nodeName');
  t.is(inst.args[inst.args.indexOf('--kubernetes-node') + 1], '$(NODE_NAME)');

  // The proxy runs unprivileged: it only forwards HTTP to loopback.
  const proxy = container(ds, 'metrics-proxy')!;
  t.like(proxy.securityContext, { runAsNonRoot: true, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
  t.deepEqual((proxy.volumeMounts as Obj[]).map((m) => m.name), ['proxy-tls'], 'no host path in the proxy');
});

test('kubelet switch: the installer switches, taints with the configured key, and tolerates that taint', async (t) => {
  const objs = await renderChart({ files: [CI_VALUES[1]!] });
  const ds = daemonSet(objs);
  const args = container(ds, 'installer')!.args as string[];
  t.true(args.includes('--switch-kubelet'));
  t.is(args[args.indexOf('--switch-taint') + 1], 'example.com/runtime-switch');
  t.true(args.includes('--force'));
  t.true((ds.spec.template.spec.tolerations as Obj[]).some((x) => x.key === 'example.com/runtime-switch' && x.effect === 'NoSchedule'));
  const classes = ofKind(objs, 'RuntimeClass') as Obj[];
  t.is(classes.length, 1, 'runc-debug has no RuntimeClass');
  t.is(classes[0]!.metadata.name, 'fast');
  t.deepEqual(classes[0]!.overhead, { podFixed: { memory: '1Mi', cpu: '10m' } });
  t.is(berthConfigOf(objs).config.runtimes['runc-debug']!.path, '/usr/local/sbin/runc');
});

test('custom node selection reaches the DaemonSet, the RuntimeClasses and the uninstall hook', async (t) => {
  const objs = await renderChart({ files: [CI_VALUES[2]!] });
  const spec = daemonSet(objs).spec.template.spec;
  t.deepEqual(spec.nodeSelector, { 'kubernetes.io/os': 'linux', 'example.com/berth': 'true' });
  t.deepEqual(spec.tolerations.slice(1), [{ key: 'example.com/dedicated', operator: 'Equal', value: 'runtime', effect: 'NoSchedule' }]);
  t.is(spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].key, 'kubernetes.io/arch');
  for (const rc of ofKind(objs, 'RuntimeClass') as Obj[]) t.deepEqual(rc.scheduling.nodeSelector, { 'example.com/berth-runtime': 'running' });
  const args = container(daemonSet(objs), 'installer')!.args as string[];
  t.is(args[args.indexOf('--node-label') + 1], 'example.com/berth-runtime');
  const job = only(objs, 'Job') as Obj;
  const jargs = job.spec.template.spec.containers[0].args as string[];
  t.is(jargs[jargs.indexOf('--node-label') + 1], 'example.com/berth-runtime');
});

test('the scrape path: ServiceMonitor port → Service → proxy container → berthd port in the config', async (t) => {
  const objs = await renderChart();
  const { metrics } = berthConfigOf(objs);
  t.deepEqual(metrics, { enabled: true, address: '127.0.0.1:9464', path: '/metrics' });
  const sm = only(objs, 'ServiceMonitor') as Obj;
  const svc = only(objs, 'Service') as Obj;
  const ep = sm.spec.endpoints[0];
  const svcPort = (svc.spec.ports as Obj[]).find((p) => p.name === ep.port)!;
  t.truthy(svcPort, 'the ServiceMonitor names a port of the Service');
  t.deepEqual(sm.spec.selector.matchLabels, Object.fromEntries(Object.entries(svc.metadata.labels!).filter(([k]) => k in sm.spec.selector.matchLabels)));
  t.is(sm.spec.jobLabel, 'berth.io/job');
  t.is(svc.metadata.labels!['berth.io/job'], 'berth');
  const proxy = container(daemonSet(objs), 'metrics-proxy')!;
  const cport = (proxy.ports as Obj[]).find((p) => p.name === svcPort.targetPort)!;
  t.is(cport.containerPort, svcPort.port);
  t.is(proxy.args[proxy.args.indexOf('--listen') + 1], `$(POD_IP):${cport.containerPort}`);
  t.is(proxy.args[proxy.args.indexOf('--upstream') + 1], `http://${metrics.address}${metrics.path}`, 'the proxy forwards to the address berthd is configured with');
  t.is(ep.path, metrics.path);
  t.is(ep.scheme, 'https');
  t.is(ep.bearerTokenFile, '/var/run/secrets/kubernetes.io/serviceaccount/token');
  // The scrape verifies the proxy's certificate: the chart's CA, and the name in the certificate.
  t.deepEqual(ep.tlsConfig, { ca: { secret: { name: 'rel-berth-metrics-tls', key: 'ca.crt' } }, serverName: 'rel-berth-metrics.berth-system.svc' });
  const tls = only(objs, 'Secret', 'rel-berth-metrics-tls') as Obj;
  t.is(tls.type, 'kubernetes.io/tls');
  const pem = (k: string) => Buffer.from(tls.data[k] as string, 'base64').toString();
  const cert = new X509Certificate(pem('tls.crt'));
  t.true(cert.verify(new X509Certificate(pem('ca.crt')).publicKey), 'tls.crt is signed by ca.crt');
  t.is(cert.checkHost('rel-berth-metrics.berth-system.svc'), 'rel-berth-metrics.berth-system.svc');
  t.true(cert.checkPrivateKey(createPrivateKey(pem('tls.key'))));
  t.is((daemonSet(objs).spec.template.spec.volumes as Obj[]).find((v) => v.name === 'proxy-tls')!.secret.secretName, 'rel-berth-metrics-tls');
  t.is(proxy.args[proxy.args.indexOf('--tls-cert') + 1], `${(proxy.volumeMounts as Obj[])[0]!.mountPath}/tls.crt`);
  // cAdvisor-compatible relabelling: only container_* series get metrics_path=/metrics/cadvisor.
  t.deepEqual(ep.metricRelabelings, [{ sourceLabels: ['__name__'], regex: 'container_.*', targetLabel: 'metrics_path', replacement: '/metrics/cadvisor', action: 'replace' }]);
  t.true((ep.relabelings as Obj[]).some((r) => r.sourceLabels[0] === '__meta_kubernetes_pod_node_name' && r.targetLabel === 'node'));
  // The proxy's RBAC: it checks scrapers' tokens and rights.
  const role = only(objs, 'ClusterRole', 'rel-berth') as Obj;
  t.true((role.rules as Obj[]).some((r) => r.resources.includes('tokenreviews') && r.verbs.includes('create')));
  t.true((role.rules as Obj[]).some((r) => r.resources.includes('subjectaccessreviews') && r.verbs.includes('create')));
});

test('PodMonitor option: ports, custom metrics ports and job name, CA verification, and no Service', async (t) => {
  const objs = await renderChart({ files: [CI_VALUES[2]!] });
  t.is(ofKind(objs, 'ServiceMonitor').length, 0);
  t.is(ofKind(objs, 'Service').length, 0);
  const pm = only(objs, 'PodMonitor') as Obj;
  const { metrics } = berthConfigOf(objs);
  t.is(metrics.address, '127.0.0.1:19464');
  const proxy = container(daemonSet(objs), 'metrics-proxy')!;
  const ep = pm.spec.podMetricsEndpoints[0];
  t.is((proxy.ports as Obj[]).find((p) => p.name === ep.port)!.containerPort, 19465);
  t.is(proxy.args[proxy.args.indexOf('--upstream') + 1], 'http://127.0.0.1:19464/metrics');
  t.deepEqual(ep.tlsConfig, { ca: { secret: { name: 'berth-metrics-tls', key: 'ca.crt' } }, serverName: 'rel-berth-metrics.berth-system.svc' });
  t.is(ofKind(objs, 'Secret').length, 0, 'the user gives the TLS Secret');
  t.deepEqual(ep.authorization, { type: 'Bearer', credentials: { name: 'prometheus-scrape-token', key: 'token' } });
  t.true((ep.relabelings as Obj[]).some((r) => r.targetLabel === 'job' && r.replacement === 'berth-nodes'));
  t.is(pm.metadata.labels!.release, 'kube-prometheus-stack');
  t.true(proxy.args.includes('--tls-cert'));
  t.is((daemonSet(objs).spec.template.spec.volumes as Obj[]).find((v) => v.name === 'proxy-tls')!.secret.secretName, 'berth-metrics-tls');
  const rule = only(objs, 'PrometheusRule') as Obj;
  t.regex(rule.spec.groups[0].rules[0].expr, /job="berth-nodes"/);
  const dash = JSON.parse((only(objs, 'ConfigMap', 'rel-berth-dashboard') as Obj).data['berth.json'] as string);
  t.is((dash.templating.list as Obj[]).find((v) => v.name === 'job')!.query, 'berth-nodes');
});

test('metrics off: berthd is told so, and nothing scrapes, alerts or graphs', async (t) => {
  const objs = await renderChart({ files: [CI_VALUES[0]!] });
  t.deepEqual(berthConfigOf(objs).metrics.enabled, false);
  for (const kind of ['Service', 'ServiceMonitor', 'PodMonitor', 'PrometheusRule', 'Secret']) t.is(ofKind(objs, kind).length, 0, kind);
  t.deepEqual(ofKind(objs, 'ConfigMap').map((o) => o.metadata.name), ['rel-berth-config']);
  t.is(container(daemonSet(objs), 'metrics-proxy'), undefined);
  const role = only(objs, 'ClusterRole', 'rel-berth') as Obj;
  t.false((role.rules as Obj[]).some((r) => r.resources.includes('tokenreviews')));
});

test('the pre-delete hook: a Job and its RBAC, created before it, that Helm waits on', async (t) => {
  const objs = await renderChart();
  const hooks = objs.filter((o) => o.metadata.annotations?.['helm.sh/hook']);
  t.deepEqual(hooks.map((o) => o.kind).sort(), ['ClusterRole', 'ClusterRoleBinding', 'Job', 'ServiceAccount']);
  for (const h of hooks) {
    t.is(h.metadata.annotations!['helm.sh/hook'], 'pre-delete');
    t.is(h.metadata.annotations!['helm.sh/hook-delete-policy'], 'before-hook-creation,hook-succeeded');
  }
  const job = only(objs, 'Job') as Obj;
  for (const h of hooks.filter((o) => o.kind !== 'Job')) t.true(Number(h.metadata.annotations!['helm.sh/hook-weight']) < Number(job.metadata.annotations['helm.sh/hook-weight']), `${h.kind} before the Job`);
  const pod = job.spec.template.spec;
  t.is(pod.serviceAccountName, 'rel-berth-uninstall');
  t.deepEqual(pod.containers[0].args.slice(0, 2), ['node', 'uninstall-all']);
  t.is(pod.containers[0].args[pod.containers[0].args.indexOf('--timeout') + 1], '600s');
  t.true(job.spec.activeDeadlineSeconds > 600);
  const role = only(objs, 'ClusterRole', 'rel-berth-uninstall') as Obj;
  t.deepEqual(role.rules, [{ apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch', 'patch'] }]);
  const off = await renderChart({ values: { uninstall: { enabled: false } } });
  t.is(off.filter((o) => o.metadata.annotations?.['helm.sh/hook']).length, 0);
});

const REFUSED: { why: string; values: unknown; message: RegExp }[] = [
  { why: 'an unknown top-level key', values: { nodeSelecter: {} }, message: /additional properties 'nodeSelecter' not allowed/ },
  { why: 'an unknown nested key', values: { metrics: { serviceMonitor: { intervall: '1m' } } }, message: /additional properties 'intervall' not allowed/ },
  { why: 'a string for a boolean', values: { kubelet: { switch: 'yes' } }, message: /kubelet\/switch.*want boolean/ },
  { why: 'a port out of range', values: { metrics: { port: 70000 } }, message: /metrics\/port.*maximum/ },
  { why: 'a bad Prometheus duration', values: { metrics: { serviceMonitor: { interval: '30 seconds' } } }, message: /interval.*does not match pattern/ },
  { why: 'a handler that is not a DNS label', values: { berth: { runtimes: [{ handler: 'Run_C', path: '/usr/sbin/runc', runtimeClass: { create: true, name: '', overhead: {}, annotations: {} } }] } }, message: /handler.*does not match pattern/ },
  { why: 'a relative runtime path', values: { berth: { runtimes: [{ handler: 'runc', path: 'runc', runtimeClass: { create: true, name: '', overhead: {}, annotations: {} } }] } }, message: /path.*does not match pattern/ },
  { why: 'no runtime at all', values: { berth: { runtimes: [] } }, message: /minItems|minimum 1 items|should have at least 1/ },
  { why: 'a ratio above 1', values: { metrics: { prometheusRule: { thresholds: { memoryNearLimitRatio: 1.5 } } } }, message: /memoryNearLimitRatio.*maximum/ },
  { why: 'an unknown log level', values: { berth: { logLevel: 'verbose' } }, message: /logLevel.*must be one of|value must be one of/ },
  { why: 'a bad image digest', values: { image: { digest: 'latest' } }, message: /digest.*does not match pattern/ },
  { why: 'a bad pull policy', values: { image: { pullPolicy: 'Sometimes' } }, message: /pullPolicy/ },
  { why: 'maxUnavailable 0', values: { installer: { updateStrategy: { maxUnavailable: 0 } } }, message: /maxUnavailable/ },
  { why: 'a bad toleration operator', values: { tolerations: [{ operator: 'Maybe' }] }, message: /operator/ },
  { why: 'a default runtime that is not configured', values: { berth: { defaultRuntime: 'kata' } }, message: /berth.defaultRuntime "kata" is not one of berth.runtimes \(runc, crun\)/ },
  { why: 'a handler listed twice', values: { berth: { runtimes: [1, 2].map(() => ({ handler: 'runc', path: '/usr/sbin/runc', runtimeClass: { create: true, name: '', overhead: {}, annotations: {} } })) } }, message: /handler "runc" is listed twice/ },
  { why: 'both a ServiceMonitor and a PodMonitor', values: { metrics: { podMonitor: { enabled: true, bearerTokenSecret: { name: 'x', key: 'token' } } } }, message: /choose one/ },
  { why: 'a PodMonitor without a token Secret', values: { metrics: { serviceMonitor: { enabled: false }, podMonitor: { enabled: true } } }, message: /bearerTokenSecret.name is required/ },
  { why: 'the proxy on berthd\'s port', values: { metrics: { proxy: { port: 9464 } } }, message: /must differ/ },
];

for (const r of REFUSED) {
  test(`refused: ${r.why}`, async (t) => {
    const res = await renderRaw({ values: r.values });
    t.not(res.code, 0, `helm template accepted ${JSON.stringify(r.values)}`);
    t.regex(res.stderr, r.message);
  });
}

test('values.schema.json covers every value, refuses unknown keys everywhere, and README documents every value', async (t) => {
  const { readFile } = await import('node:fs/promises');
  const { parse } = await import('yaml');
  const values = parse(await readFile(`${CHART}/values.yaml`, 'utf8')) as Obj;
  const schema = JSON.parse(await readFile(`${CHART}/values.schema.json`, 'utf8')) as Obj;
  const readme = await readFile(`${CHART}/README.md`, 'utf8');
  const documented = [...readme.matchAll(/^\| `([A-Za-z0-9_.]+)` \|/gm)].map((m) => m[1]!);

  // Every object schema that lists its properties refuses others.
  const walkSchema = (s: Obj, path: string) => {
    if (s.properties) t.is(s.additionalProperties, false, `schema ${path || '(root)'} allows unknown keys`);
    for (const [k, v] of Object.entries((s.properties ?? {}) as Obj)) walkSchema(v, path ? `${path}.${k}` : k);
    if (s.items) walkSchema(s.items, `${path}[]`);
  };
  walkSchema(schema, '');

  // Every value (down to list items' keys) has a schema and a README row (itself or a parent).
  const walkValues = (v: unknown, s: Obj | undefined, path: string) => {
    t.truthy(s, `value ${path} has no schema`);
    if (!s) return;
    // Documented itself, through a parent row (lists, resources), or through its children's rows.
    if (path) t.true(documented.some((d) => path === d || path.startsWith(`${d}.`) || path.startsWith(`${d}[`) || d.startsWith(`${path}.`)), `value ${path} is not in README's values table`);
    if (Array.isArray(v)) v.forEach((item, i) => walkValues(item, s.items, `${path}[${i}]`));
    else if (v && typeof v === 'object' && s.properties) for (const [k, x] of Object.entries(v as Obj)) walkValues(x, s.properties[k], path ? `${path}.${k}` : k);
  };
  walkValues(values, schema, '');
  for (const d of documented) {
    const found = d.split('.').reduce<unknown>((o, k) => (o && typeof o === 'object' ? (o as Obj)[k] : undefined), values);
    t.not(found, undefined, `README documents ${d}, which values.yaml does not have`);
  }
});

test('the metrics-proxy arguments the DaemonSet passes are the ones `berth metrics-proxy` takes', async (t) => {
  const { mkdtemp, writeFile, rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const { fileURLToPath } = await import('node:url');
  const { run } = await import('../../server/exec.js');
  const dir = await mkdtemp(`${tmpdir()}/berth-proxy-args-`);
  try {
    await writeFile(`${dir}/tls.crt`, 'x');
    await writeFile(`${dir}/tls.key`, 'x');
    for (const files of [[], [CI_VALUES[2]!]]) {
      const proxy = container(daemonSet(await renderChart({ files })), 'metrics-proxy')!;
      const args = (proxy.args as string[]).map((a) => a.replace('$(POD_IP)', '127.0.0.1').replace('/etc/berth-proxy-tls', dir));
      const cli = fileURLToPath(new URL('../../cli/berth.js', import.meta.url));
      const env = { ...process.env };
      delete env.KUBERNETES_SERVICE_HOST;
      const r = await run(process.execPath, [cli, ...args], { allowFailure: true, env });
      // Every flag parsed; it stops only where it needs to be in a pod.
      t.is(r.code, 1);
      t.is(r.stderr.trim(), 'berth: metrics-proxy: not in a pod (KUBERNETES_SERVICE_HOST is not set)', args.join(' '));
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the installer and pre-delete hook arguments the chart passes are the ones `berth node install` and `berth node uninstall-all` take', async (t) => {
  const { fileURLToPath } = await import('node:url');
  const { run } = await import('../../server/exec.js');
  const cli = fileURLToPath(new URL('../../cli/berth.js', import.meta.url));
  const env = { ...process.env };
  delete env.KUBERNETES_SERVICE_HOST;
  for (const files of [[], [CI_VALUES[1]!]]) {
    const objs = await renderChart({ files });
    const installer = container(daemonSet(objs), 'installer')!;
    const args = (installer.args as string[]).map((a) => a.replace('$(NODE_NAME)', 'node-1'));
    const r = await run(process.execPath, [cli, ...args], { allowFailure: true, env });
    // Every flag parsed (a usage error exits 2); it stops only where it needs the API server.
    t.is(r.code, 1, r.stderr);
    t.is(r.stderr.trim(), 'berth: node install: not in a pod (KUBERNETES_SERVICE_HOST is not set)', args.join(' '));
    const job = objs.find((o) => o.kind === 'Job') as Obj;
    const hook = (job.spec.template.spec.containers as Obj[])[0]!.args as string[];
    const h = await run(process.execPath, [cli, ...hook], { allowFailure: true, env });
    t.is(h.code, 1, h.stderr);
    t.is(h.stderr.trim(), 'berth: uninstall-all: not in a pod (KUBERNETES_SERVICE_HOST is not set)', hook.join(' '));
  }
});
