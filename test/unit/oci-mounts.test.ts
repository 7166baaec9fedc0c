// Container mounts in the OCI spec (server/oci/mounts.ts): defaults, pod files, shm, read-only
// rootfs, privileged sysfs/cgroupfs, CRI mounts with propagation (read from mountinfo,
// hostutil/mountinfo.ts), replacement at one destination and ordering by depth.
import test from 'ava';
import { BerthError } from '../../server/errors.js';
import { mountOf, parseMountInfo, propagationOf } from '../../hostutil/mountinfo.js';
import { propagationLookup } from '../../server/oci/host.js';
import { containerMounts, type MountInputs } from '../../server/oci/mounts.js';
import type { OciMount } from '../../server/oci/types.js';
import { mount } from './oci-fixtures.js';

const POD = { hostsPath: '/pod/hosts', resolvConfPath: '/pod/resolv.conf', hostnamePath: '/pod/hostname', shmPath: '/pod/shm' };

function inputs(o: Partial<MountInputs> = {}): MountInputs {
  return { criMounts: [], podFiles: POD, readonlyRootfs: false, privileged: false, hostIpc: false, ...o };
}

const at = (mounts: OciMount[], dest: string) => mounts.filter((m) => m.destination === dest);
const one = (mounts: OciMount[], dest: string): OciMount => {
  const found = at(mounts, dest);
  if (found.length !== 1) throw new Error(`${found.length} mounts at ${dest}`);
  return found[0] as OciMount;
};

test('default filesystems and the pod files', (t) => {
  const { mounts, rootfsPropagation } = containerMounts(inputs());
  t.deepEqual(
    mounts.map((m) => `${m.destination}:${m.type}`),
    [
      '/proc:proc',
      '/dev:tmpfs',
      '/dev/pts:devpts',
      '/dev/mqueue:mqueue',
      '/sys:sysfs',
      '/sys/fs/cgroup:cgroup',
      '/etc/hostname:bind',
      '/etc/hosts:bind',
      '/etc/resolv.conf:bind',
      '/dev/shm:bind',
    ],
  );
  t.is(rootfsPropagation, undefined);
  t.deepEqual(one(mounts, '/dev/shm'), { destination: '/dev/shm', type: 'bind', source: '/pod/shm', options: ['rbind', 'rprivate', 'rw'] });
  t.deepEqual(one(mounts, '/etc/hosts').options, ['rbind', 'rprivate', 'rw']);
  t.true(one(mounts, '/sys').options.includes('ro'));
  t.true(one(mounts, '/sys/fs/cgroup').options.includes('ro'));
  t.is(at(mounts, '/run').length, 0, 'no /run tmpfs, as containerd');
});

test('without pod files the container gets its own shm tmpfs and no /etc files', (t) => {
  const { mounts } = containerMounts(inputs({ podFiles: {} }));
  t.is(one(mounts, '/dev/shm').type, 'tmpfs');
  t.is(at(mounts, '/etc/hosts').length, 0);
});

test('host IPC shares the host /dev/shm', (t) => {
  const { mounts } = containerMounts(inputs({ hostIpc: true }));
  t.is(one(mounts, '/dev/shm').source, '/dev/shm');
});

test('readonly_rootfs makes the pod /etc files read-only but not /dev/shm', (t) => {
  const { mounts } = containerMounts(inputs({ readonlyRootfs: true }));
  for (const p of ['/etc/hosts', '/etc/resolv.conf', '/etc/hostname']) t.deepEqual(one(mounts, p).options, ['rbind', 'rprivate', 'ro'], p);
  t.true(one(mounts, '/dev/shm').options.includes('rw'));
});

test('privileged: writable sysfs and cgroupfs', (t) => {
  const { mounts } = containerMounts(inputs({ privileged: true }));
  t.true(one(mounts, '/sys').options.includes('rw'));
  t.false(one(mounts, '/sys').options.includes('ro'));
  t.true(one(mounts, '/sys/fs/cgroup').options.includes('rw'));
});

test('CRI mounts: readonly, propagation options and rootfsPropagation', (t) => {
  const plan = containerMounts(
    inputs({
      criMounts: [
        mount({ container_path: '/data', host_path: '/srv/data', readonly: true }),
        mount({ container_path: '/slave', host_path: '/mnt/a', propagation: 'PROPAGATION_HOST_TO_CONTAINER' }),
      ],
    }),
  );
  t.deepEqual(one(plan.mounts, '/data'), { destination: '/data', type: 'bind', source: '/srv/data', options: ['rbind', 'rprivate', 'ro'] });
  t.deepEqual(one(plan.mounts, '/slave').options, ['rbind', 'rslave', 'rw']);
  t.is(plan.rootfsPropagation, 'rslave');

  const shared = containerMounts(
    inputs({
      criMounts: [
        mount({ container_path: '/b', host_path: '/mnt/b', propagation: 'PROPAGATION_BIDIRECTIONAL' }),
        mount({ container_path: '/s', host_path: '/mnt/s', propagation: 'PROPAGATION_HOST_TO_CONTAINER' }),
      ],
    }),
  );
  t.deepEqual(one(shared.mounts, '/b').options, ['rbind', 'rshared', 'rw']);
  t.is(shared.rootfsPropagation, 'rshared', 'rshared is not downgraded by a later rslave mount');
});

test('CRI mounts replace pod files and defaults at the same destination', (t) => {
  const { mounts } = containerMounts(
    inputs({
      criMounts: [
        mount({ container_path: '/etc/hosts', host_path: '/my/hosts' }),
        mount({ container_path: '/proc/', host_path: '/fakeproc' }),
      ],
    }),
  );
  t.is(one(mounts, '/etc/hosts').source, '/my/hosts');
  t.is(one(mounts, '/proc').type, 'bind');
});

test('a CRI /dev mount drops every default under /dev; the pod shm is mounted on top of it', (t) => {
  const { mounts } = containerMounts(inputs({ criMounts: [mount({ container_path: '/dev', host_path: '/dev' })] }));
  t.deepEqual(at(mounts, '/dev/pts'), []);
  t.deepEqual(at(mounts, '/dev/mqueue'), []);
  t.is(one(mounts, '/dev').type, 'bind');
  // The pod shm is a supplied mount, not a default: it stays, below /dev.
  const order = mounts.map((m) => m.destination);
  t.true(order.indexOf('/dev') < order.indexOf('/dev/shm'));
});

test('supplied mounts are ordered by depth so parents come first', (t) => {
  const { mounts } = containerMounts(
    inputs({
      podFiles: {},
      criMounts: [
        mount({ container_path: '/a/b/c', host_path: '/h/c' }),
        mount({ container_path: '/a', host_path: '/h/a' }),
        mount({ container_path: '/x/y', host_path: '/h/y' }),
        mount({ container_path: '/a/b', host_path: '/h/b' }),
      ],
    }),
  );
  t.deepEqual(
    mounts.filter((m) => m.type === 'bind').map((m) => m.destination),
    ['/a', '/x/y', '/a/b', '/a/b/c'],
  );
});

test('host paths go through the resolver (symlinks, missing paths)', (t) => {
  const plan = containerMounts(
    inputs({ podFiles: {}, criMounts: [mount({ container_path: '/d', host_path: '/link' })], resolveHostPath: (p) => (p === '/link' ? '/real' : p) }),
  );
  t.is(one(plan.mounts, '/d').source, '/real');
  const err = t.throws(
    () =>
      containerMounts(
        inputs({
          criMounts: [mount({ container_path: '/d', host_path: '/missing' })],
          resolveHostPath: (p) => {
            throw new BerthError('InvalidArgument', `host path ${p} does not exist`);
          },
        }),
      ),
    { instanceOf: BerthError },
  );
  t.regex(err?.message ?? '', /\/missing does not exist/);
});

test('propagation is checked against the source mount when a lookup is given', (t) => {
  const mountinfo = [
    '22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw',
    '30 22 0:40 / /mnt/private rw,relatime - tmpfs tmpfs rw',
    '31 22 0:41 / /mnt/slave rw,relatime master:5 - tmpfs tmpfs rw',
  ].join('\n');
  const hostPropagation = propagationLookup(mountinfo);
  const make = (hostPath: string, propagation: string) =>
    containerMounts(inputs({ criMounts: [mount({ container_path: '/m', host_path: hostPath, propagation: propagation as 'PROPAGATION_PRIVATE' })], hostPropagation }));
  t.notThrows(() => make('/var/lib/x', 'PROPAGATION_BIDIRECTIONAL'));
  t.notThrows(() => make('/mnt/slave/x', 'PROPAGATION_HOST_TO_CONTAINER'));
  t.is(t.throws(() => make('/mnt/slave/x', 'PROPAGATION_BIDIRECTIONAL'), { instanceOf: BerthError })?.kind, 'FailedPrecondition');
  t.is(t.throws(() => make('/mnt/private', 'PROPAGATION_HOST_TO_CONTAINER'), { instanceOf: BerthError })?.kind, 'FailedPrecondition');
  t.notThrows(() => make('/mnt/private', 'PROPAGATION_PRIVATE'));
});

test('recursive read-only: needs runtime support, readonly and private propagation', (t) => {
  const rro = (o: Partial<Parameters<typeof mount>[0]>, supported: boolean) =>
    containerMounts(
      inputs({ recursiveReadOnlySupported: supported, criMounts: [mount({ container_path: '/r', host_path: '/h', readonly: true, recursive_read_only: true, ...o })] }),
    );
  t.deepEqual(one(rro({}, true).mounts, '/r').options, ['rbind', 'rprivate', 'rro']);
  t.throws(() => rro({}, false), { instanceOf: BerthError, message: /not supported/ });
  t.throws(() => rro({ readonly: false }, true), { instanceOf: BerthError, message: /conflicts/ });
  t.throws(() => rro({ propagation: 'PROPAGATION_HOST_TO_CONTAINER' }, true), { instanceOf: BerthError, message: /private/ });
});

test('invalid CRI mounts', (t) => {
  const bad = (m: ReturnType<typeof mount>) => t.throws(() => containerMounts(inputs({ criMounts: [m] })), { instanceOf: BerthError })?.kind;
  t.is(bad(mount({ container_path: 'relative', host_path: '/h' })), 'InvalidArgument');
  t.is(bad(mount({ container_path: '/x', host_path: '' })), 'InvalidArgument');
  t.is(bad(mount({ container_path: '/x', host_path: '', image: { image: 'img', annotations: {}, user_specified_image: '', runtime_handler: '', image_ref: '' } })), 'Unimplemented');
  t.is(bad(mount({ container_path: '/x', host_path: '/h', uidMappings: [{ host_id: 1, container_id: 0, length: 1 }] })), 'Unimplemented');
  t.is(bad(mount({ container_path: '/x', host_path: '/h', propagation: 'BOGUS' as 'PROPAGATION_PRIVATE' })), 'InvalidArgument');
  const dup = t.throws(
    () => containerMounts(inputs({ criMounts: [mount({ container_path: '/x', host_path: '/a' }), mount({ container_path: '/x/', host_path: '/b' })] })),
    { instanceOf: BerthError },
  );
  t.regex(dup?.message ?? '', /duplicate/);
});

test('selinux_relabel is accepted and ignored', (t) => {
  const { mounts } = containerMounts(inputs({ criMounts: [mount({ container_path: '/x', host_path: '/h', selinux_relabel: true })] }));
  t.deepEqual(one(mounts, '/x').options, ['rbind', 'rprivate', 'rw']);
});

test('parseMountInfo: fields, optional tags and octal escapes', (t) => {
  const [m] = parseMountInfo('36 35 98:0 /mnt1 /mnt\\040two rw,noatime master:1 shared:4 - ext3 /dev/root rw,errors=continue\n');
  t.like(m, { id: 36, parentId: 35, device: '98:0', root: '/mnt1', mountPoint: '/mnt two', fsType: 'ext3', source: '/dev/root' });
  t.deepEqual(m?.optional, ['master:1', 'shared:4']);
  t.deepEqual(m?.superOptions, ['rw', 'errors=continue']);
  t.is(m && propagationOf(m), 'shared');
});

test('mountOf picks the longest prefix on a path boundary, the last one when stacked', (t) => {
  const mounts = parseMountInfo(
    ['1 0 0:1 / / rw - ext4 a rw', '2 1 0:2 / /var rw - ext4 b rw', '3 1 0:3 / /variable rw - ext4 c rw', '4 2 0:4 / /var rw shared:3 - tmpfs d rw'].join('\n'),
  );
  t.is(mountOf(mounts, '/var/lib')?.id, 4);
  t.is(mountOf(mounts, '/variable/x')?.id, 3);
  t.is(mountOf(mounts, '/varx')?.id, 1);
  t.is(mountOf(mounts, '/var')?.id, 4);
});
