// Pod sandboxes against a real berthd: namespaces, CNI bridge networking, pod files,
// sysctls, cgroups, errors and cleanup. Needs root (CI runs as root).
import anyTest, { type TestFn } from 'ava';
import { readFile, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { status as Status } from '@grpc/grpc-js';
import { startBerthd, podConfig, isRoot, nsMounted, type TestBerthd } from '../helpers/berthd.js';
import { expectCode } from '../helpers/grpc-assert.js';
import { run } from '../../hostutil/exec.js';

const test = anyTest as TestFn<{ b: TestBerthd }>;
const rootOnly = isRoot() ? test.serial : test.serial.skip;
if (!isRoot()) console.log('sandbox integration tests skipped: they need root');

test.before(async (t) => {
  if (!isRoot()) return;
  t.context.b = await startBerthd();
});
test.after.always(async (t) => {
  await t.context.b?.cleanup();
});

async function vethsOn(bridge: string): Promise<string[]> {
  const out = (await run('ip', ['-o', 'link', 'show', 'master', bridge], { allowFailure: true })).stdout;
  return out.split('\n').filter(Boolean);
}

rootOnly('Version, Status and RuntimeConfig describe berth', async (t) => {
  const { client } = t.context.b;
  const v = await client.call('Version', {});
  t.is(v.runtime_name, 'berth');
  t.is(v.runtime_api_version, 'v1');
  const s = await client.call('Status', { verbose: true });
  const conds = Object.fromEntries(s.status.conditions.map((c: { type: string; status: boolean }) => [c.type, c.status]));
  t.deepEqual(conds, { RuntimeReady: true, NetworkReady: true });
  t.truthy(JSON.parse(s.info.config).socket.endsWith('berth.sock'));
  t.true(s.runtime_handlers.some((h: { name: string }) => h.name === 'runc'));
  const rc = await client.call('RuntimeConfig', {});
  t.is(rc.linux.cgroup_driver, 'CGROUPFS');
});

rootOnly('a pod gets its own namespaces, an IP from the bridge, and its gateway answers a ping', async (t) => {
  const b = t.context.b;
  const config = podConfig(b, 'net-pod', {
    dns_config: { servers: ['10.96.0.10', '10.96.0.11'], searches: ['ns.svc.cluster.local', 'cluster.local'], options: ['ndots:5'] },
    linux: { sysctls: { 'net.ipv4.ip_unprivileged_port_start': '81', 'kernel.shm_rmid_forced': '1' } },
  });
  const { pod_sandbox_id: id } = await b.client.call('RunPodSandbox', { config });
  t.regex(id, /^[0-9a-f]{64}$/);
  const st = await b.client.call('PodSandboxStatus', { pod_sandbox_id: id, verbose: true });
  t.is(st.status.state, 'SANDBOX_READY');
  t.regex(st.status.network.ip, new RegExp(`^${b.net.subnet.split('.').slice(0, 3).join('\\.')}\\.`));
  t.true(BigInt(st.status.created_at) > 1_700_000_000_000_000_000n, 'created_at is in nanoseconds');
  const info = JSON.parse(st.info.info);
  const netns = info.namespaces.network as string;
  t.true(netns.startsWith(join(b.state, 'ns', id)));
  t.true(await nsMounted(netns));

  // The pod's namespace is not the host's, has the IP on eth0 and reaches the gateway.
  const inode = (await run('stat', ['-L', '-c', '%i', netns])).stdout.trim();
  const hostInode = (await run('stat', ['-L', '-c', '%i', '/proc/self/ns/net'])).stdout.trim();
  t.not(inode, hostInode);
  const addr = (await run('nsenter', [`--net=${netns}`, 'ip', '-4', '-o', 'addr', 'show', 'eth0'])).stdout;
  t.true(addr.includes(`${st.status.network.ip}/24`));
  const ping = await run('nsenter', [`--net=${netns}`, 'ping', '-c', '1', '-W', '3', b.net.gateway], { allowFailure: true });
  t.is(ping.code, 0, ping.stdout + ping.stderr);
  const lo = (await run('nsenter', [`--net=${netns}`, 'ip', '-o', 'link', 'show', 'lo'])).stdout;
  t.regex(lo, /UP/);

  // Hostname in the pinned UTS namespace and in the pod's hostname file; DNS from the config.
  t.is((await run('nsenter', [`--uts=${info.namespaces.uts}`, 'hostname'])).stdout.trim(), 'net-pod');
  t.is(await readFile(info.files.hostname, 'utf8'), 'net-pod\n');
  t.is(await readFile(info.files.resolvConf, 'utf8'), 'search ns.svc.cluster.local cluster.local\nnameserver 10.96.0.10\nnameserver 10.96.0.11\noptions ndots:5\n');
  t.regex(await readFile(info.files.hosts, 'utf8'), /^127\.0\.0\.1\tlocalhost$/m);
  // Sysctls are the pod's, not the host's.
  t.is((await run('nsenter', [`--net=${netns}`, 'cat', '/proc/sys/net/ipv4/ip_unprivileged_port_start'])).stdout.trim(), '81');
  t.is((await run('nsenter', [`--ipc=${info.namespaces.ipc}`, 'cat', '/proc/sys/kernel/shm_rmid_forced'])).stdout.trim(), '1');
  t.not((await readFile('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8')).trim(), '81');
  t.true(existsSync(config.log_directory as string), 'log directory created');
  t.true(await nsMounted(info.files.shm), '/dev/shm tmpfs mounted');

  // Stop releases the network and namespaces; remove leaves nothing.
  await b.client.call('StopPodSandbox', { pod_sandbox_id: id });
  const stopped = await b.client.call('PodSandboxStatus', { pod_sandbox_id: id });
  t.is(stopped.status.state, 'SANDBOX_NOTREADY');
  t.is(stopped.status.network.ip, '');
  t.false(await nsMounted(netns));
  t.deepEqual(await vethsOn(b.net.bridge), []);
  await b.client.call('StopPodSandbox', { pod_sandbox_id: id }); // idempotent
  await b.client.call('RemovePodSandbox', { pod_sandbox_id: id });
  await b.client.call('RemovePodSandbox', { pod_sandbox_id: id }); // idempotent, never NOT_FOUND
  await expectCode(t, b.client.call('PodSandboxStatus', { pod_sandbox_id: id }), Status.NOT_FOUND);
  t.false(existsSync(join(b.state, 'ns', id)));
  t.false(existsSync(join(b.root, 'sandboxes', id)));
  t.false(existsSync(info.files.shm));
  t.false(await nsMounted(info.files.shm));
  // host-local released the address.
  const ipam = join(b.net.ipamDir, `berth-${b.net.bridge}`);
  t.false(existsSync(join(ipam, st.status.network.ip)));
});

rootOnly('list filters by id prefix, state and labels; duplicates are ALREADY_EXISTS', async (t) => {
  const b = t.context.b;
  const c1 = podConfig(b, 'list-a', { labels: { app: 'a', tier: 'web' } });
  const c2 = podConfig(b, 'list-b', { labels: { app: 'b', tier: 'web' } });
  const { pod_sandbox_id: a } = await b.client.call('RunPodSandbox', { config: c1 });
  const { pod_sandbox_id: p } = await b.client.call('RunPodSandbox', { config: c2 });
  await expectCode(t, b.client.call('RunPodSandbox', { config: c1 }), Status.ALREADY_EXISTS, /already exists/);
  await b.client.call('StopPodSandbox', { pod_sandbox_id: p.slice(0, 12) }); // crictl passes truncated ids
  const ids = async (filter: object) => (await b.client.call('ListPodSandbox', { filter })).items.map((i: { id: string }) => i.id).sort();
  t.deepEqual(await ids({ label_selector: { tier: 'web' } }), [a, p].sort());
  t.deepEqual(await ids({ label_selector: { tier: 'web', app: 'b' } }), [p]);
  t.deepEqual(await ids({ state: { state: 'SANDBOX_READY' }, label_selector: { tier: 'web' } }), [a]);
  t.deepEqual(await ids({ id: a.slice(0, 10) }), [a]);
  t.deepEqual(await ids({ label_selector: { tier: 'db' } }), []);
  const streamed: string[] = [];
  await new Promise<void>((resolve, reject) => {
    const call = b.client.runtime.StreamPodSandboxes({ filter: { label_selector: { tier: 'web' } } });
    call.on('data', (r: { pod_sandboxes: Array<{ id: string }> }) => streamed.push(...r.pod_sandboxes.map((x) => x.id)));
    call.on('end', () => resolve());
    call.on('error', reject);
  });
  t.deepEqual(streamed.sort(), [a, p].sort());
  for (const id of [a, p]) await b.client.call('RemovePodSandbox', { pod_sandbox_id: id });
});

rootOnly('unknown ids are NOT_FOUND; remove of an unknown id succeeds', async (t) => {
  const { client } = t.context.b;
  const ghost = 'f'.repeat(64);
  await expectCode(t, client.call('PodSandboxStatus', { pod_sandbox_id: ghost }), Status.NOT_FOUND, /not found/);
  await expectCode(t, client.call('StopPodSandbox', { pod_sandbox_id: ghost }), Status.NOT_FOUND);
  await client.call('RemovePodSandbox', { pod_sandbox_id: ghost });
  await expectCode(t, client.call('CheckpointContainer', {}), Status.UNIMPLEMENTED, /CheckpointContainer/);
});

rootOnly('malformed requests are INVALID_ARGUMENT and leave nothing behind', async (t) => {
  const b = t.context.b;
  const before = (await b.client.call('ListPodSandbox', {})).items.length;
  const base = podConfig(b, 'bad');
  const cases: Array<[string, object, RegExp]> = [
    ['no config', {}, /config is required/],
    ['no metadata', { config: { ...base, metadata: null } }, /metadata is required/],
    ['empty name', { config: { ...base, metadata: { ...base.metadata, name: '' } } }, /metadata.name must not be empty/],
    ['empty uid', { config: { ...base, metadata: { ...base.metadata, uid: '' } } }, /metadata.uid/],
    ['relative log dir', { config: { ...base, log_directory: 'var/log/pods/x' } }, /absolute/],
    ['escaping log dir', { config: { ...base, log_directory: `${b.logRoot}/../../etc/x` } }, /\.\./],
    ['log dir outside the roots', { config: { ...base, log_directory: '/etc/berth-test' } }, /not inside a configured pod log root/],
    ['unknown handler', { config: base, runtime_handler: 'kata' }, /runtime handler "kata" is not configured/],
    ['bad hostname', { config: { ...base, hostname: 'no_underscores!' } }, /not a valid hostname/],
    ['host sysctl', { config: { ...base, linux: { sysctls: { 'kernel.panic': '1' } } } }, /not a namespaced sysctl/],
    ['net sysctl on host network', { config: { ...base, linux: { sysctls: { 'net.ipv4.ip_forward': '1' }, security_context: { namespace_options: { network: 'NODE' } } } } }, /host network/],
    ['cgroup parent with ..', { config: { ...base, linux: { cgroup_parent: '/kubepods/../../etc' } } }, /\.\./],
    ['bad DNS server', { config: { ...base, dns_config: { servers: ['not-an-ip'] } } }, /not an IP address/],
    ['bad port', { config: { ...base, port_mappings: [{ container_port: 70000, host_port: 8080 }] } }, /out of range/],
  ];
  for (const [name, req, re] of cases) {
    try {
      await b.client.call('RunPodSandbox', req);
      t.fail(`${name}: accepted`);
    } catch (e) {
      const err = e as { code: number; details: string };
      t.is(Status[err.code], 'INVALID_ARGUMENT', `${name}: ${err.details}`);
      t.regex(err.details, re, name);
    }
  }
  t.is((await b.client.call('ListPodSandbox', {})).items.length, before);
  t.false(existsSync(`${b.logRoot}/../../etc/x`));
});

rootOnly('a failure after the network is up rolls everything back', async (t) => {
  const b = t.context.b;
  // Passes validation (a well-formed net.* name) but does not exist in the kernel: fails after CNI ADD.
  const config = podConfig(b, 'rollback', { linux: { sysctls: { 'net.ipv4.berth_no_such_sysctl': '1' } } });
  const nsBefore = existsSync(join(b.state, 'ns')) ? (await run('ls', [join(b.state, 'ns')])).stdout : '';
  await expectCode(t, b.client.call('RunPodSandbox', { config }), Status.INVALID_ARGUMENT, /berth_no_such_sysctl/);
  t.is((await b.client.call('ListPodSandbox', { filter: { label_selector: { 'berth-test': 'yes' } } })).items.filter((i: { metadata: { name: string } }) => i.metadata.name === 'rollback').length, 0);
  t.deepEqual(await vethsOn(b.net.bridge), []);
  t.is(existsSync(join(b.state, 'ns')) ? (await run('ls', [join(b.state, 'ns')])).stdout : '', nsBefore);
  const mounts = (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').filter((l) => l.includes(b.dir));
  t.deepEqual(mounts, []);
  const ipam = join(b.net.ipamDir, `berth-${b.net.bridge}`);
  const reserved = existsSync(ipam) ? (await run('ls', [ipam])).stdout.split('\n').filter((n) => /^\d+\.\d+\.\d+\.\d+$/.test(n)) : [];
  t.deepEqual(reserved, []);
});

rootOnly('pod cgroup under cgroup_parent is created and removed; host-network pods share the node network', async (t) => {
  const b = t.context.b;
  const parent = `/berth-test-${process.pid}/pod-cg`;
  const config = podConfig(b, 'cg-pod', { linux: { cgroup_parent: parent, security_context: { namespace_options: { network: 'NODE', ipc: 'NODE' } } } });
  const { pod_sandbox_id: id } = await b.client.call('RunPodSandbox', { config });
  const st = await b.client.call('PodSandboxStatus', { pod_sandbox_id: id, verbose: true });
  const info = JSON.parse(st.info.info);
  t.is(info.namespaces.network, 'host');
  t.is(info.namespaces.ipc, 'host');
  t.is(st.status.network.ip, '');
  t.is(st.status.linux.namespaces.options.network, 'NODE');
  t.true((await stat(`/sys/fs/cgroup/memory${parent}`)).isDirectory());
  const cpus = (await readFile(`/sys/fs/cgroup/cpuset${parent}/cpuset.cpus`, 'utf8')).trim();
  t.not(cpus, '', 'cpuset inherited from the parent');
  await b.client.call('RemovePodSandbox', { pod_sandbox_id: id });
  t.false(existsSync(`/sys/fs/cgroup/memory${parent}`));
  t.false(existsSync(`/sys/fs/cgroup/memory/berth-test-${process.pid}`), 'parents berth created are removed too');
});

rootOnly('a pod sharing one PID namespace gets an init that stop ends', async (t) => {
  const b = t.context.b;
  const config = podConfig(b, 'pid-pod', { linux: { security_context: { namespace_options: { pid: 'POD' } } } });
  const { pod_sandbox_id: id } = await b.client.call('RunPodSandbox', { config });
  const info = JSON.parse((await b.client.call('PodSandboxStatus', { pod_sandbox_id: id, verbose: true })).info.info);
  t.true(info.pid > 0);
  const pidns = (await run('readlink', [info.namespaces.pid])).stdout.trim();
  t.not(pidns, (await run('readlink', ['/proc/self/ns/pid'])).stdout.trim());
  const initPid = Number(info.namespaces.pid.split('/')[2]);
  t.regex(await readFile(`/proc/${initPid}/cmdline`, 'latin1'), /catatonit/);
  // The init lives in the pod's network namespace.
  t.is((await run('readlink', [`/proc/${initPid}/ns/net`])).stdout.trim(), (await run('stat', ['-L', '-c', 'net:[%i]', info.namespaces.network])).stdout.trim());
  await b.client.call('StopPodSandbox', { pod_sandbox_id: id });
  t.false(existsSync(`/proc/${initPid}/cmdline`) && (await readFile(`/proc/${initPid}/cmdline`, 'latin1')).includes('catatonit'));
  await b.client.call('RemovePodSandbox', { pod_sandbox_id: id });
});

rootOnly('port mappings are published through the portmap plugin and withdrawn on stop', async (t) => {
  const b = t.context.b;
  const port = 20000 + Math.floor(Math.random() * 20000);
  const config = podConfig(b, 'port-pod', { port_mappings: [{ protocol: 'TCP', container_port: 80, host_port: port }] });
  const { pod_sandbox_id: id } = await b.client.call('RunPodSandbox', { config });
  const rules = async () => (await run('iptables', ['-t', 'nat', '-S'])).stdout.split('\n').filter((l) => l.includes(`--dport ${port}`));
  t.true((await rules()).length > 0);
  await b.client.call('StopPodSandbox', { pod_sandbox_id: id });
  t.deepEqual(await rules(), []);
  await b.client.call('RemovePodSandbox', { pod_sandbox_id: id });
});

rootOnly('UpdateRuntimeConfig hands the pod CIDR to CNI; events report the pod lifecycle', async (t) => {
  // A fresh berthd: kubelet sends the pod CIDR before the first pod, when the bridge has no address yet.
  const b = await startBerthd();
  t.teardown(() => b.cleanup());
  const events: Array<{ container_id: string; container_event_type: string }> = [];
  const stream = b.client.runtime.GetContainerEvents({});
  stream.on('data', (e: { container_id: string; container_event_type: string }) => events.push(e));
  stream.on('error', () => undefined);
  await new Promise((r) => setTimeout(r, 100));
  const cidr = `10.199.${Math.floor(Math.random() * 250)}.0/24`;
  await b.client.call('UpdateRuntimeConfig', { runtime_config: { network_config: { pod_cidr: cidr } } });
  await expectCode(t, b.client.call('UpdateRuntimeConfig', { runtime_config: { network_config: { pod_cidr: 'nonsense' } } }), Status.INVALID_ARGUMENT);
  const { pod_sandbox_id: id } = await b.client.call('RunPodSandbox', { config: podConfig(b, 'cidr-pod') });
  const st = await b.client.call('PodSandboxStatus', { pod_sandbox_id: id });
  t.true(st.status.network.ip.startsWith(cidr.split('.').slice(0, 3).join('.') + '.'), st.status.network.ip);
  await b.client.call('RemovePodSandbox', { pod_sandbox_id: id });
  await new Promise((r) => setTimeout(r, 100));
  stream.cancel();
  t.deepEqual(
    events.filter((e) => e.container_id === id).map((e) => e.container_event_type),
    ['CONTAINER_CREATED_EVENT', 'CONTAINER_STARTED_EVENT', 'CONTAINER_STOPPED_EVENT', 'CONTAINER_DELETED_EVENT'],
  );
});


rootOnly('pods created at once under one new cgroup parent all start, and the parent goes with the last', async (t) => {
  const b = t.context.b;
  const parent = `/berth-test-${process.pid}-shared`;
  const configs = [1, 2, 3, 4, 5].map((i) => podConfig(b, `cg-race-${i}`, { linux: { cgroup_parent: `${parent}/pod${i}` } }));
  const ids = await Promise.all(configs.map(async (config) => (await b.client.call('RunPodSandbox', { config })).pod_sandbox_id as string));
  for (const i of [1, 2, 3, 4, 5]) t.true(existsSync(`/sys/fs/cgroup/memory${parent}/pod${i}`));
  for (const id of ids) await b.client.call('RemovePodSandbox', { pod_sandbox_id: id });
  t.false(existsSync(`/sys/fs/cgroup/memory${parent}`));
  t.false(existsSync(`/sys/fs/cgroup/cpu${parent}`));
});
