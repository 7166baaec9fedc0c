// RunPodSandbox validation (server/sandbox/validate.ts): the plan from a config, metadata,
// log directories, namespace modes, sysctls, cgroup parents, port mappings and DNS.
import test from 'ava';
import { validateSandboxConfig, validateLogDirectory, validateSysctls, normalizeCgroupParent } from '../../server/sandbox/validate.js';
import type { PodSandboxConfig__Output } from '../../wire/cri/generated/runtime/v1/PodSandboxConfig.js';

const ctx = { handlers: ['runc', 'crun'], defaultHandler: 'runc', podLogRoots: ['/var/log/pods', '/tmp/t'] };

function cfg(over: Partial<PodSandboxConfig__Output> = {}): PodSandboxConfig__Output {
  return {
    metadata: { name: 'p', namespace: 'ns', uid: 'u1', attempt: 2 },
    hostname: 'p',
    log_directory: '/var/log/pods/ns_p_u1',
    dns_config: null,
    port_mappings: [],
    labels: {},
    annotations: {},
    linux: null,
    windows: null,
    ...over,
  };
}

test('a plain config gives a plan with defaults: default handler, POD network/IPC, CONTAINER pid', (t) => {
  const p = validateSandboxConfig(cfg(), '', ctx);
  t.like(p, { name: 'p', namespace: 'ns', uid: 'u1', attempt: 2, handler: 'runc', networkMode: 'POD', ipcMode: 'POD', pidMode: 'CONTAINER', cgroupParent: '', logDirectory: '/var/log/pods/ns_p_u1' });
  t.is(validateSandboxConfig(cfg(), 'crun', ctx).handler, 'crun');
});

test('metadata, hostname and handler are checked', (t) => {
  t.throws(() => validateSandboxConfig(null, '', ctx), { message: /config is required/ });
  t.throws(() => validateSandboxConfig(cfg({ metadata: null }), '', ctx), { message: /metadata is required/ });
  t.throws(() => validateSandboxConfig(cfg({ metadata: { name: 'p', namespace: '', uid: 'u', attempt: 0 } }), '', ctx), { message: /namespace must not be empty/ });
  t.throws(() => validateSandboxConfig(cfg({ metadata: { name: 'a;b', namespace: 'n', uid: 'u', attempt: 0 } }), '', ctx), { message: /not a DNS-1123 subdomain/ });
  t.throws(() => validateSandboxConfig(cfg({ hostname: '-bad' }), '', ctx), { message: /valid hostname/ });
  t.throws(() => validateSandboxConfig(cfg({ hostname: 'a'.repeat(65) }), '', ctx), { message: /valid hostname/ });
  t.throws(() => validateSandboxConfig(cfg(), 'kata', ctx), { message: /"kata" is not configured \(configured: runc, crun\)/ });
});

test('log directories must be absolute, without .., and inside a root (not the root itself)', (t) => {
  t.is(validateLogDirectory('/var/log/pods/a/', ctx.podLogRoots), '/var/log/pods/a');
  t.is(validateLogDirectory('/tmp/t/x//y', ctx.podLogRoots), '/tmp/t/x/y');
  t.throws(() => validateLogDirectory('var/log/pods/a', ctx.podLogRoots), { message: /absolute/ });
  t.throws(() => validateLogDirectory('/var/log/pods/../../etc', ctx.podLogRoots), { message: /"\.\."/ });
  t.throws(() => validateLogDirectory('/var/log/podsx/a', ctx.podLogRoots), { message: /not inside/ });
  t.throws(() => validateLogDirectory('/var/log/pods', ctx.podLogRoots), { message: /not inside/ });
  t.throws(() => validateLogDirectory('/var/log/pods/a\0b', ctx.podLogRoots), { message: /NUL/ });
});

test('namespace modes: only what a pod can have', (t) => {
  const withNs = (ns: object) => cfg({ linux: { cgroup_parent: '', security_context: { namespace_options: ns } as never, sysctls: {}, overhead: null, resources: null } });
  t.like(validateSandboxConfig(withNs({ network: 'NODE', ipc: 'NODE', pid: 'POD', target_id: '', userns_options: null }), '', ctx), { networkMode: 'NODE', ipcMode: 'NODE', pidMode: 'POD' });
  t.throws(() => validateSandboxConfig(withNs({ network: 'CONTAINER', ipc: 'POD', pid: 'POD' }), '', ctx), { message: /network namespace mode CONTAINER/ });
  t.throws(() => validateSandboxConfig(withNs({ network: 'POD', ipc: 'POD', pid: 'TARGET' }), '', ctx), { message: /PID namespace mode TARGET/ });
  t.throws(() => validateSandboxConfig(withNs({ network: 'POD', ipc: 'POD', pid: 'POD', userns_options: { mode: 'POD' } }), '', ctx), { message: /user namespaces/ });
});

test('sysctls: namespaced only, both spellings, and never into the host namespaces', (t) => {
  t.deepEqual(validateSysctls({ 'net.ipv4.ip_forward': '1', 'kernel.shmmax': '100', 'net/ipv4/conf/eth0.100/rp_filter': '0', 'fs.mqueue.msg_max': '20', 'kernel.msgmax': '5' }, 'POD', 'POD'), [
    { name: 'fs.mqueue.msg_max', path: 'fs/mqueue/msg_max', value: '20', ns: 'ipc' },
    { name: 'kernel.msgmax', path: 'kernel/msgmax', value: '5', ns: 'ipc' },
    { name: 'kernel.shmmax', path: 'kernel/shmmax', value: '100', ns: 'ipc' },
    { name: 'net.ipv4.ip_forward', path: 'net/ipv4/ip_forward', value: '1', ns: 'net' },
    { name: 'net.ipv4.conf.eth0.100.rp_filter', path: 'net/ipv4/conf/eth0.100/rp_filter', value: '0', ns: 'net' },
  ]);
  t.throws(() => validateSysctls({ 'kernel.panic': '1' }, 'POD', 'POD'), { message: /not a namespaced sysctl/ });
  t.throws(() => validateSysctls({ 'vm.swappiness': '1' }, 'POD', 'POD'), { message: /not a namespaced/ });
  t.throws(() => validateSysctls({ 'net.core.somaxconn': '1' }, 'NODE', 'POD'), { message: /host network/ });
  t.throws(() => validateSysctls({ 'kernel.sem': '1' }, 'POD', 'NODE'), { message: /host IPC/ });
  t.throws(() => validateSysctls({ 'net/../../kernel/panic': '1' }, 'POD', 'POD'), { message: /not a valid sysctl name/ });
  t.throws(() => validateSysctls({ 'net.ipv4.ip_forward': '1\n2' }, 'POD', 'POD'), { message: /invalid value/ });
});

test('cgroup parents: absolute cgroupfs paths, systemd slices expanded, .. refused', (t) => {
  t.is(normalizeCgroupParent('/kubepods/besteffort/pod1/'), '/kubepods/besteffort/pod1');
  t.is(normalizeCgroupParent('kubepods-besteffort-pod1.slice'), '/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice');
  t.is(normalizeCgroupParent('kubepods.slice'), '/kubepods.slice');
  t.throws(() => normalizeCgroupParent('/kubepods/../x'), { message: /"\.\."/ });
  t.throws(() => normalizeCgroupParent('kubepods'), { message: /absolute/ });
  t.throws(() => normalizeCgroupParent('/'), { message: /root cgroup/ });
  t.throws(() => normalizeCgroupParent('/a b'), { message: /not allowed/ });
  t.throws(() => normalizeCgroupParent('a--b.slice'), { message: /invalid systemd slice name/ });
  t.throws(() => normalizeCgroupParent('-.slice'), { message: /root cgroup/ });
});

test('port mappings and DNS are checked', (t) => {
  t.throws(() => validateSandboxConfig(cfg({ port_mappings: [{ protocol: 'TCP', container_port: 0, host_port: 1, host_ip: '' }] }), '', ctx), { message: /container_port 0/ });
  t.throws(() => validateSandboxConfig(cfg({ port_mappings: [{ protocol: 'TCP', container_port: 80, host_port: 1, host_ip: 'x' }] }), '', ctx), { message: /host_ip/ });
  t.throws(() => validateSandboxConfig(cfg({ dns_config: { servers: ['1.1.1.1'], searches: ['a b'], options: [] } }), '', ctx), { message: /single non-empty word/ });
  t.notThrows(() => validateSandboxConfig(cfg({ dns_config: { servers: ['1.1.1.1', 'fd00::10'], searches: ['svc.local'], options: ['ndots:5'] } }), '', ctx));
});
