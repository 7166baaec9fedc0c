// The whole OCI spec from CRI config (server/oci/spec.ts buildContainerSpec): defaults,
// hostname, namespaces, privileged containers, capabilities with seccomp, users,
// oom_score_adj clamping and resources.
import test from 'ava';
import { BerthError } from '../../server/errors.js';
import { capabilitiesFromMask, DEFAULT_CAPABILITIES } from '../../server/oci/capabilities.js';
import type { HostDevice } from '../../server/oci/devices.js';
import { buildContainerSpec, clampOomScoreAdj, DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS, normalizeSysctlName } from '../../server/oci/spec.js';
import { containerConfig, mount, namespaceOptions, resources, sandboxConfig, securityContext, specInput } from './oci-fixtures.js';

const privilegedSandbox = () => {
  const sb = sandboxConfig();
  if (sb.linux?.security_context) sb.linux.security_context.privileged = true;
  return sb;
};

const kindOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return err instanceof BerthError ? err.kind : `not a BerthError: ${String(err)}`;
  }
  return 'no error';
};

test('a plain container: process, root, cgroup, defaults', (t) => {
  const spec = buildContainerSpec(specInput({ config: containerConfig({ args: ['echo', 'hi'], tty: true }) }));
  t.is(spec.ociVersion, '1.0.2');
  t.deepEqual(spec.process.args, ['echo', 'hi']);
  t.true(spec.process.terminal);
  t.deepEqual(spec.process.env, ['PATH=/usr/local/bin:/usr/bin:/bin', 'HOSTNAME=web-0']);
  t.is(spec.process.cwd, '/');
  t.deepEqual(spec.process.user, { uid: 0, gid: 0, additionalGids: [0, 10] });
  t.deepEqual(spec.process.capabilities.bounding, [...DEFAULT_CAPABILITIES]);
  t.deepEqual(spec.process.capabilities.effective, [...DEFAULT_CAPABILITIES]);
  t.deepEqual(spec.process.capabilities.permitted, [...DEFAULT_CAPABILITIES]);
  t.is(spec.process.capabilities.ambient, undefined);
  t.false(spec.process.noNewPrivileges);
  t.deepEqual(spec.root, { path: '/var/lib/berth/containers/c1/rootfs', readonly: false });
  t.is(spec.linux.cgroupsPath, '/kubepods/besteffort/poduid-123/c1');
  t.deepEqual(spec.linux.maskedPaths, [...DEFAULT_MASKED_PATHS]);
  t.deepEqual(spec.linux.readonlyPaths, [...DEFAULT_READONLY_PATHS]);
  t.deepEqual(spec.linux.resources.devices, [{ allow: false, access: 'rwm' }]);
  t.is(spec.linux.seccomp, undefined, 'no seccomp asked: unconfined');
  t.is(spec.hostname, undefined, 'the pinned UTS namespace already has the hostname; runc refuses one here');
  t.is(spec.process.oomScoreAdj, 0);
  // It must survive the trip to config.json unchanged.
  t.deepEqual(JSON.parse(JSON.stringify(spec)), spec);
});

test('hostname only when a new UTS namespace is created', (t) => {
  const spec = buildContainerSpec(specInput({ host: { namespaces: { network: '/n', ipc: '/i' } } }));
  t.is(spec.hostname, 'web-0');
  t.deepEqual(spec.linux.namespaces.find((n) => n.type === 'uts'), { type: 'uts' });
});

test('namespaces per pid mode, through the spec', (t) => {
  const withPid = (pid: 'POD' | 'CONTAINER' | 'NODE') =>
    buildContainerSpec(
      specInput({
        config: containerConfig({ linux: { resources: resources(), security_context: securityContext({ namespace_options: namespaceOptions({ pid }) }) } }),
        host: { namespaces: { network: '/n', ipc: '/i', uts: '/u', podPid: '/proc/7/ns/pid' } },
      }),
    ).linux.namespaces.filter((n) => n.type === 'pid');
  t.deepEqual(withPid('CONTAINER'), [{ type: 'pid' }]);
  t.deepEqual(withPid('POD'), [{ type: 'pid', path: '/proc/7/ns/pid' }]);
  t.deepEqual(withPid('NODE'), []);
});

test('cgroup v2 adds a cgroup namespace for unprivileged containers only', (t) => {
  const spec = buildContainerSpec(specInput({ host: { cgroupVersion: 2 } }));
  t.true(spec.linux.namespaces.some((n) => n.type === 'cgroup'));
  const priv = buildContainerSpec(
    specInput({
      sandboxConfig: privilegedSandbox(),
      config: containerConfig({ linux: { resources: resources(), security_context: securityContext({ privileged: true }) } }),
      host: { cgroupVersion: 2 },
    }),
  );
  t.false(priv.linux.namespaces.some((n) => n.type === 'cgroup'));
});

test('privileged: host capabilities, all devices, no masked/readonly paths, rw sysfs, no seccomp', (t) => {
  const hostCaps = capabilitiesFromMask('000001fffeffffff');
  const hostDevices: HostDevice[] = [
    { path: '/dev/null', type: 'c', major: 1, minor: 3, fileMode: 0o666, uid: 0, gid: 0 },
    { path: '/dev/sda', type: 'b', major: 8, minor: 0, fileMode: 0o660, uid: 0, gid: 6 },
  ];
  const spec = buildContainerSpec(
    specInput({
      sandboxConfig: privilegedSandbox(),
      config: containerConfig({
        linux: {
          resources: resources(),
          security_context: securityContext({ privileged: true, seccomp: { profile_type: 'RuntimeDefault', localhost_ref: '' }, masked_paths: ['/proc/x'] }),
        },
      }),
      host: { hostCapabilities: hostCaps, hostDevices },
    }),
  );
  t.deepEqual(spec.process.capabilities.bounding, hostCaps);
  t.false(spec.process.capabilities.bounding.includes('CAP_SYS_RESOURCE'));
  t.deepEqual(spec.linux.resources.devices, [{ allow: true, access: 'rwm' }]);
  t.deepEqual(spec.linux.devices.map((d) => d.path), ['/dev/null', '/dev/sda']);
  t.deepEqual(spec.linux.maskedPaths, []);
  t.deepEqual(spec.linux.readonlyPaths, []);
  t.true(spec.mounts.find((m) => m.destination === '/sys')?.options.includes('rw'));
  t.is(spec.linux.seccomp, undefined);
});

test('a privileged container needs a privileged sandbox', (t) => {
  const input = specInput({ config: containerConfig({ linux: { resources: resources(), security_context: securityContext({ privileged: true }) } }) });
  t.is(kindOf(() => buildContainerSpec(input)), 'InvalidArgument');
});

test('capabilities and RuntimeDefault seccomp agree: an added CAP_SYS_ADMIN opens mount(2)', (t) => {
  const spec = buildContainerSpec(
    specInput({
      config: containerConfig({
        linux: {
          resources: resources(),
          security_context: securityContext({
            capabilities: { add_capabilities: ['SYS_ADMIN'], drop_capabilities: ['NET_RAW'], add_ambient_capabilities: [] },
            seccomp: { profile_type: 'RuntimeDefault', localhost_ref: '' },
            no_new_privs: true,
          }),
        },
      }),
    }),
  );
  t.true(spec.process.capabilities.bounding.includes('CAP_SYS_ADMIN'));
  t.false(spec.process.capabilities.bounding.includes('CAP_NET_RAW'));
  t.true(spec.process.noNewPrivileges);
  t.is(spec.linux.seccomp?.defaultAction, 'SCMP_ACT_ERRNO');
  t.true(spec.linux.seccomp?.syscalls?.some((s) => s.names.includes('mount') && s.action === 'SCMP_ACT_ALLOW'));
});

test('Localhost seccomp uses the profile text the caller read, and insists on it', (t) => {
  const config = containerConfig({
    linux: { resources: resources(), security_context: securityContext({ seccomp: { profile_type: 'Localhost', localhost_ref: '/etc/seccomp/p.json' } }) },
  });
  const spec = buildContainerSpec(specInput({ config, host: { localhostSeccompProfile: '{"defaultAction":"SCMP_ACT_ALLOW"}' } }));
  t.deepEqual(spec.linux.seccomp, { defaultAction: 'SCMP_ACT_ALLOW' });
  t.is(kindOf(() => buildContainerSpec(specInput({ config }))), 'FailedPrecondition');
  t.is(kindOf(() => buildContainerSpec(specInput({ config, host: { seccompEnabled: false, localhostSeccompProfile: '{}' } }))), 'FailedPrecondition');
});

test('user: run_as_username through the image passwd, supplemental groups', (t) => {
  const spec = buildContainerSpec(
    specInput({
      config: containerConfig({ linux: { resources: resources(), security_context: securityContext({ run_as_username: 'alice', supplemental_groups: ['9000'] }) } }),
      image: { Cmd: ['sh'], User: 'www-data' },
    }),
  );
  t.deepEqual(spec.process.user, { uid: 1002, gid: 1002, additionalGids: [10, 29, 1002, 9000] });
  const fromImage = buildContainerSpec(specInput({ image: { Cmd: ['sh'], User: '1003:1004' } }));
  t.like(fromImage.process.user, { uid: 1003, gid: 1004 });
});

test('oom_score_adj is clamped to what the host allows', (t) => {
  const withAdj = (adj: string, min: number) =>
    buildContainerSpec(specInput({ config: containerConfig({ linux: { resources: resources({ oom_score_adj: adj }), security_context: securityContext() } }), host: { minOomScoreAdj: min } }))
      .process.oomScoreAdj;
  t.is(withAdj('-997', 0), 0, 'Guaranteed pods ask for -997; a host without CAP_SYS_RESOURCE gives its own value');
  t.is(withAdj('-997', -1000), -997);
  t.is(withAdj('1000', 0), 1000);
  t.is(withAdj('500', 100), 500);
  t.is(clampOomScoreAdj(-5000, -1000), -1000);
  t.is(clampOomScoreAdj(5000, -1000), 1000);
  t.is(kindOf(() => withAdj('x', 0)), 'InvalidArgument');
});

test('resources: CRI limits reach linux.resources, pids limit from config', (t) => {
  const spec = buildContainerSpec(
    specInput({
      config: containerConfig({
        linux: {
          resources: resources({
            cpu_period: '100000',
            cpu_quota: '50000',
            cpu_shares: '512',
            memory_limit_in_bytes: String(64 * 1024 * 1024),
            cpuset_cpus: '0-1',
            hugepage_limits: [{ page_size: '2MB', limit: '4194304' }],
          }),
          security_context: securityContext(),
        },
      }),
      host: { pidsLimit: 1024 },
    }),
  );
  t.deepEqual(spec.linux.resources.cpu, { shares: 512, quota: 50000, period: 100000, cpus: '0-1' });
  t.deepEqual(spec.linux.resources.memory, { limit: 67108864, swap: 67108864 });
  t.deepEqual(spec.linux.resources.pids, { limit: 1024 });
  t.deepEqual(spec.linux.resources.hugepageLimits, [{ pageSize: '2MB', limit: 4194304 }]);
});

test('the unified map is refused on cgroup v1 and passed through on v2', (t) => {
  const config = containerConfig({ linux: { resources: resources({ unified: { 'memory.high': '1000000' } }), security_context: securityContext() } });
  t.is(kindOf(() => buildContainerSpec(specInput({ config }))), 'InvalidArgument');
  t.deepEqual(buildContainerSpec(specInput({ config, host: { cgroupVersion: 2 } })).linux.resources.unified, { 'memory.high': '1000000' });
});

test('readonly rootfs, mounts and propagation through the spec', (t) => {
  const spec = buildContainerSpec(
    specInput({
      config: containerConfig({
        mounts: [mount({ container_path: '/data', host_path: '/srv', propagation: 'PROPAGATION_BIDIRECTIONAL' })],
        linux: { resources: resources(), security_context: securityContext({ readonly_rootfs: true }) },
      }),
    }),
  );
  t.true(spec.root.readonly);
  t.is(spec.linux.rootfsPropagation, 'rshared');
  t.deepEqual(spec.mounts.find((m) => m.destination === '/data')?.options, ['rbind', 'rshared', 'rw']);
  t.deepEqual(spec.mounts.find((m) => m.destination === '/etc/resolv.conf')?.options, ['rbind', 'rprivate', 'ro']);
});

test('CRI masked and readonly paths replace the defaults', (t) => {
  const spec = buildContainerSpec(
    specInput({
      config: containerConfig({ linux: { resources: resources(), security_context: securityContext({ masked_paths: ['/proc/a'], readonly_paths: ['/proc/b'] }) } }),
    }),
  );
  t.deepEqual(spec.linux.maskedPaths, ['/proc/a']);
  t.deepEqual(spec.linux.readonlyPaths, ['/proc/b']);
});

test('devices: requested nodes with a cgroup rule each, through the lookup', (t) => {
  const lookup = (p: string): HostDevice[] => {
    if (p === '/dev/fuse') return [{ path: '/dev/fuse', type: 'c', major: 10, minor: 229, fileMode: 0o666, uid: 0, gid: 0 }];
    if (p === '/dev/snd') {
      return [
        { path: '/dev/snd/timer', type: 'c', major: 116, minor: 33, fileMode: 0o660, uid: 0, gid: 29 },
        { path: '/dev/snd/pcm/c0', type: 'c', major: 116, minor: 24, fileMode: 0o660, uid: 0, gid: 29 },
      ];
    }
    throw new BerthError('InvalidArgument', `device ${p} does not exist on the host`);
  };
  const spec = buildContainerSpec(
    specInput({
      config: containerConfig({
        devices: [
          { container_path: '/dev/fuse', host_path: '/dev/fuse', permissions: 'rwm' },
          { container_path: '/dev/sound', host_path: '/dev/snd', permissions: 'r' },
        ],
      }),
      host: { deviceLookup: lookup },
    }),
  );
  t.deepEqual(spec.linux.devices.map((d) => d.path), ['/dev/fuse', '/dev/sound/timer', '/dev/sound/pcm/c0']);
  t.deepEqual(spec.linux.resources.devices, [
    { allow: false, access: 'rwm' },
    { allow: true, type: 'c', major: 10, minor: 229, access: 'rwm' },
    { allow: true, type: 'c', major: 116, minor: 33, access: 'r' },
    { allow: true, type: 'c', major: 116, minor: 24, access: 'r' },
  ]);
  const bad = (permissions: string, host_path = '/dev/fuse') =>
    kindOf(() => buildContainerSpec(specInput({ config: containerConfig({ devices: [{ container_path: '/dev/x', host_path, permissions }] }), host: { deviceLookup: lookup } })));
  t.is(bad('rwx'), 'InvalidArgument');
  t.is(bad('rr'), 'InvalidArgument');
  t.is(bad('r', '/dev/nope'), 'InvalidArgument');
});

test('sysctls: namespaced ones pass, host-namespace and global ones are refused', (t) => {
  const withSysctls = (sysctls: Record<string, string>, network: 'POD' | 'NODE' = 'POD') => {
    const sb = sandboxConfig();
    if (sb.linux) sb.linux.sysctls = sysctls;
    const config = containerConfig({ linux: { resources: resources(), security_context: securityContext({ namespace_options: namespaceOptions({ network }) }) } });
    return buildContainerSpec(specInput({ sandboxConfig: sb, config })).linux.sysctl;
  };
  t.deepEqual(withSysctls({ 'net.ipv4.ip_unprivileged_port_start': '0', 'kernel.shm_rmid_forced': '1', 'net/ipv4/conf/eth0.100/rp_filter': '1' }), {
    'net.ipv4.ip_unprivileged_port_start': '0',
    'kernel.shm_rmid_forced': '1',
    'net.ipv4.conf.eth0/100.rp_filter': '1',
  });
  t.is(withSysctls({}), undefined);
  t.is(kindOf(() => withSysctls({ 'net.core.somaxconn': '1024' }, 'NODE')), 'InvalidArgument');
  t.is(kindOf(() => withSysctls({ 'vm.swappiness': '10' })), 'InvalidArgument');
  t.is(normalizeSysctlName('kernel.sem'), 'kernel.sem');
});

test('annotations: the io.kubernetes.cri.* set over the CRI annotations', (t) => {
  const spec = buildContainerSpec(
    specInput({ config: containerConfig({ annotations: { 'example.com/a': '1', 'io.kubernetes.cri.sandbox-id': 'spoofed' } }) }),
  );
  t.deepEqual(spec.annotations, {
    'example.com/a': '1',
    'io.kubernetes.cri.container-type': 'container',
    'io.kubernetes.cri.sandbox-id': 's1',
    'io.kubernetes.cri.container-name': 'app',
    'io.kubernetes.cri.sandbox-name': 'web-0',
    'io.kubernetes.cri.sandbox-namespace': 'default',
    'io.kubernetes.cri.sandbox-uid': 'uid-123',
    'io.kubernetes.cri.image-name': 'docker.io/library/busybox:1.36',
  });
});

test('validation: metadata, command, working dir', (t) => {
  t.is(kindOf(() => buildContainerSpec(specInput({ config: containerConfig({ metadata: null }) }))), 'InvalidArgument');
  t.is(kindOf(() => buildContainerSpec(specInput({ image: {} }))), 'InvalidArgument');
  t.is(kindOf(() => buildContainerSpec(specInput({ config: containerConfig({ working_dir: 'rel' }) }))), 'InvalidArgument');
  t.is(kindOf(() => buildContainerSpec(specInput({ config: containerConfig({ CDI_devices: [{ name: 'vendor.com/gpu=0' }] }) }))), 'Unimplemented');
});

test('no linux section at all: defaults, no oom_score_adj', (t) => {
  const spec = buildContainerSpec(specInput({ config: containerConfig({ linux: null }) }));
  t.is(spec.process.oomScoreAdj, undefined);
  t.deepEqual(spec.process.capabilities.bounding, [...DEFAULT_CAPABILITIES]);
  t.deepEqual(spec.linux.resources, { devices: [{ allow: false, access: 'rwm' }] });
});
