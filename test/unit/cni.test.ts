// CNI without plugins running (server/network/conflist.ts, cni.ts): conflist parsing and
// lookup, the per-plugin config berth sends, result IPs and the pod's CNI_ARGS.
import test from 'ava';
import { parseNetworkConfig, defaultConflist, lookupNetworkConfig } from '../../server/network/conflist.js';
import { pluginConfig, resultIps, podCniArgs } from '../../server/network/cni.js';
import { mkdtemp, rm, writeFile, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';

test('conflists and single-plugin confs parse; broken ones say why', (t) => {
  const l = parseNetworkConfig(JSON.stringify(defaultConflist()), 'x');
  t.is(l.name, 'berth');
  t.deepEqual(l.plugins.map((p) => p.type), ['bridge', 'portmap', 'loopback']);
  const single = parseNetworkConfig('{"cniVersion":"0.4.0","name":"n","type":"bridge","bridge":"b0"}', 'c.conf');
  t.deepEqual(single.plugins, [{ type: 'bridge', bridge: 'b0' }]);
  t.throws(() => parseNetworkConfig('{', 'f'), { message: /not valid JSON/ });
  t.throws(() => parseNetworkConfig('{"cniVersion":"1.0.0","plugins":[]}', 'f'), { message: /"name" is missing/ });
  t.throws(() => parseNetworkConfig('{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"../x"}]}', 'f'), { message: /plain binary name/ });
});

test('lookup takes the first valid file by name and reports missing plugins', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'berth-cni-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const bin = join(dir, 'bin');
  const conf = join(dir, 'conf');
  t.like(await lookupNetworkConfig(conf, [bin]), { ok: false, reason: 'NoCNIConfig' });
  await import('node:fs/promises').then((fs) => Promise.all([fs.mkdir(bin), fs.mkdir(conf)]));
  await writeFile(join(conf, '05-broken.conflist'), '{');
  await writeFile(join(conf, '10-a.conflist'), JSON.stringify({ cniVersion: '1.0.0', name: 'a', plugins: [{ type: 'fake' }] }));
  await writeFile(join(conf, '20-b.conflist'), JSON.stringify({ cniVersion: '1.0.0', name: 'b', plugins: [{ type: 'fake' }] }));
  t.like(await lookupNetworkConfig(conf, [bin]), { ok: false, reason: 'CNIPluginMissing' });
  await writeFile(join(bin, 'fake'), '#!/bin/sh\n');
  await chmod(join(bin, 'fake'), 0o755);
  const found = await lookupNetworkConfig(conf, [join(dir, 'nope'), bin]);
  t.true(found.ok);
  if (found.ok) t.is(found.conflist.name, 'a');
});

test('plugin config: list name/version, prevResult, declared capabilities only, pod CIDR replaces IPAM ranges', (t) => {
  const list = defaultConflist({ subnet: '10.1.0.0/16' });
  const rc = { portMappings: [{ hostPort: 1, containerPort: 2, protocol: 'tcp' }], ipRanges: [[{ subnet: '10.9.0.0/24' }]] };
  const bridge = pluginConfig(list, list.plugins[0]!, rc);
  t.is(bridge.cniVersion, '1.0.0');
  t.is(bridge.name, 'berth');
  t.false('capabilities' in bridge);
  t.deepEqual((bridge.ipam as { ranges: unknown }).ranges, [[{ subnet: '10.9.0.0/24' }]]);
  t.false('runtimeConfig' in bridge, 'ipRanges applied in place, not passed twice');
  const portmap = pluginConfig(list, list.plugins[1]!, rc, { cniVersion: '1.0.0', ips: [] });
  t.deepEqual(portmap.runtimeConfig, { portMappings: rc.portMappings });
  t.deepEqual(portmap.prevResult, { cniVersion: '1.0.0', ips: [] });
  t.false('runtimeConfig' in pluginConfig(list, list.plugins[2]!, rc));
});

test('result IPs: IPv4 first, prefixes dropped; CNI_ARGS carry the pod identity', (t) => {
  t.deepEqual(resultIps({ ips: [{ address: 'fd00::5/64' }, { address: '10.1.2.3/24', gateway: '10.1.2.1' }] }), ['10.1.2.3', 'fd00::5']);
  t.deepEqual(resultIps(undefined), []);
  t.is(podCniArgs({ name: 'p', namespace: 'n', uid: 'u', sandboxId: 'id' }), 'IgnoreUnknown=1;K8S_POD_NAMESPACE=n;K8S_POD_NAME=p;K8S_POD_INFRA_CONTAINER_ID=id;K8S_POD_UID=u');
});
