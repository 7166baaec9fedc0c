// The host's cgroup layout from mountinfo (server/cgroups/detect.ts: v1, hybrid, v2, none)
// and cgroup paths for the cgroupfs and systemd drivers (server/cgroups/paths.ts).
import test from 'ava';
import { BerthError } from '../../server/errors.js';
import { detectCgroupLayout } from '../../server/cgroups/detect.js';
import { cgroupfsParent, containerCgroupPath, expandSlice, systemdCgroup } from '../../server/cgroups/paths.js';

// Our Debian 12 test hosts: one v1 hierarchy per controller, cgroup2 at /sys/fs/cgroup/unified.
const HYBRID = `22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/vda rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`;

// A classic systemd v1 layout with co-mounted controllers.
const V1 = `25 20 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
26 25 0:23 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,xattr,name=systemd
29 25 0:26 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,cpu,cpuacct
30 25 0:27 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,memory
31 25 0:28 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,net_cls,net_prio
32 25 0:29 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,pids
`;

const V2 = `22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/vda rw
30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`;

test('hybrid: v1 controllers plus the cgroup2 mount', (t) => {
  const layout = detectCgroupLayout(HYBRID);
  t.is(layout.mode, 'hybrid');
  t.is(layout.unified, '/sys/fs/cgroup/unified');
  t.is(layout.v1['cpu'], '/sys/fs/cgroup/cpu');
  t.is(layout.v1['cpuacct'], '/sys/fs/cgroup/cpuacct');
  t.is(layout.v1['memory'], '/sys/fs/cgroup/memory');
  t.false('hugetlb' in layout.v1);
  t.false('name=systemd' in layout.v1, 'named hierarchies are not controllers');
  t.deepEqual(Object.keys(layout.v1).sort(), ['blkio', 'cpu', 'cpuacct', 'cpuset', 'devices', 'freezer', 'memory', 'pids']);
});

test('v1: co-mounted controllers share a mount point', (t) => {
  const layout = detectCgroupLayout(V1);
  t.is(layout.mode, 'v1');
  t.is(layout.unified, undefined);
  t.is(layout.v1['cpu'], '/sys/fs/cgroup/cpu,cpuacct');
  t.is(layout.v1['cpuacct'], '/sys/fs/cgroup/cpu,cpuacct');
  t.is(layout.v1['net_prio'], '/sys/fs/cgroup/net_cls,net_prio');
});

test('v2: cgroup2 at the cgroup root', (t) => {
  t.deepEqual(detectCgroupLayout(V2), { mode: 'v2', v1: {}, unified: '/sys/fs/cgroup' });
});

test('v2 mounted elsewhere still counts as v2 when there is no v1', (t) => {
  const layout = detectCgroupLayout('30 23 0:26 / /run/cg rw - cgroup2 cgroup2 rw\n');
  t.is(layout.mode, 'v2');
  t.is(layout.unified, '/run/cg');
});

test('no cgroup filesystem at all is a FailedPrecondition', (t) => {
  const err = t.throws(() => detectCgroupLayout('22 1 8:1 / / rw - ext4 /dev/vda rw\n'), { instanceOf: BerthError });
  t.is(err?.kind, 'FailedPrecondition');
});

test('expandSlice: systemd slice names to their cgroupfs path', (t) => {
  t.is(expandSlice('kubepods-besteffort-pod1.slice'), '/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice');
  t.is(expandSlice('kubepods.slice'), '/kubepods.slice');
  t.is(expandSlice('-.slice'), '/');
  for (const bad of ['kubepods', '.slice', 'a--b.slice', '-a.slice', 'a/b.slice', 'a-.slice']) {
    t.throws(() => expandSlice(bad), { instanceOf: BerthError }, bad);
  }
});

test('container cgroup paths for the cgroupfs driver, from either parent form', (t) => {
  t.is(containerCgroupPath('/kubepods/besteffort/pod1', 'abc'), '/kubepods/besteffort/pod1/abc');
  t.is(containerCgroupPath('kubepods/burstable/pod2/', 'abc'), '/kubepods/burstable/pod2/abc');
  t.is(containerCgroupPath('kubepods-burstable-pod2.slice', 'abc'), '/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod2.slice/abc');
  t.is(containerCgroupPath('', 'abc'), '/abc');
  t.is(cgroupfsParent('//a//b/'), '/a/b');
  t.throws(() => containerCgroupPath('/kubepods/../etc', 'abc'), { instanceOf: BerthError });
  t.throws(() => containerCgroupPath('/kubepods', '../x'), { instanceOf: BerthError });
  t.throws(() => containerCgroupPath('/kubepods', 'a/b'), { instanceOf: BerthError });
});

test('systemd driver form (for later): runc triple and the directory systemd makes', (t) => {
  t.deepEqual(systemdCgroup('kubepods-besteffort-pod1.slice', 'berth', 'abc'), {
    cgroupsPath: 'kubepods-besteffort-pod1.slice:berth:abc',
    fsPath: '/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice/berth-abc.scope',
  });
  t.is(systemdCgroup('', 'berth', 'x').cgroupsPath, 'system.slice:berth:x');
});
