// Security context: users and groups, capabilities, privileged, read-only rootfs,
// no_new_privs, seccomp (RuntimeDefault, Unconfined, Localhost), masked and read-only paths.
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { IMAGE_USERS } from '../images.js';
import { expect, type PodHandle, type Spec, type SpecContext } from '../spec.js';
import { CAP, DEFAULT_CAPS, capBits, hostProcStatus, procStatus } from './util.js';

const BASE = ['RunPodSandbox', 'StopPodSandbox', 'RemovePodSandbox', 'PullImage', 'ImageStatus', 'CreateContainer', 'StartContainer', 'RemoveContainer', 'ContainerStatus', 'ExecSync'] as const;

async function withSecurity(t: SpecContext, pod: PodHandle, name: string, sc: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return t.startContainer(pod, t.containerConfig(name, { ...extra, linux: { security_context: sc } }));
}

/** What kubelet sends for the default ProcMount type (pkg/securitycontext). */
const KUBELET_MASKED_PATHS = ['/proc/asound', '/proc/acpi', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list', '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware'];
const KUBELET_READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

/** A /proc file kubelet's default list masks and that this host has (and is not empty here). */
async function maskablePath(): Promise<string | undefined> {
  const { readFile } = await import('node:fs/promises');
  for (const p of ['/proc/timer_list', '/proc/sched_debug', '/proc/kcore', '/proc/latency_stats']) {
    const text = await readFile(p, 'latin1').catch(() => '');
    if (text.length > 0) return p;
  }
  return undefined;
}

const idOf = async (t: SpecContext, id: string) => {
  const out = await t.sh(id, 'id -u; id -g; id -G');
  const [uid, gid, groups] = out.trim().split('\n');
  return { uid: Number(uid), gid: Number(gid), groups: (groups ?? '').split(/\s+/).filter(Boolean).map(Number).sort((a, b) => a - b) };
};

export const securitySpecs: Spec[] = [
  {
    id: 'security/run-as-user-group',
    area: 'security context',
    title: 'run_as_user and run_as_group set the uid and gid; supplemental_groups are added',
    needs: BASE,
    async run(t) {
      const pod = await t.runPod(t.podConfig(t.name('runas')));
      const c = await withSecurity(t, pod, 'u', { run_as_user: { value: 1234 }, run_as_group: { value: 5678 }, supplemental_groups: [3000, 3001] });
      const id = await idOf(t, c.id);
      expect.equal(id.uid, 1234, 'uid');
      expect.equal(id.gid, 5678, 'gid');
      expect.includes(id.groups, 3000, 'groups');
      expect.includes(id.groups, 3001, 'groups');
    },
  },
  {
    id: 'security/run-as-username',
    area: 'security context',
    title: "run_as_username resolves through the image's /etc/passwd, with its groups from /etc/group",
    needs: BASE,
    async run(t) {
      const pod = await t.runPod(t.podConfig(t.name('runasname')));
      const u = IMAGE_USERS.user1;
      const c = await withSecurity(t, pod, 'u', { run_as_username: u.name });
      const id = await idOf(t, c.id);
      expect.equal(id.uid, u.uid, 'uid');
      expect.equal(id.gid, u.gid, 'gid');
      expect.includes(id.groups, u.extraGroup, 'groups (membership from /etc/group)');
    },
  },
  {
    id: 'security/image-user',
    area: 'security context',
    title: "without run_as_user the image's USER applies (numeric or a name)",
    needs: BASE,
    async run(t) {
      const pod = await t.runPod(t.podConfig(t.name('imguser')));
      const a = await t.startContainer(pod, t.containerConfig('num', { image: { image: t.images.refs.userUid } }));
      const b = await t.startContainer(pod, t.containerConfig('name', { image: { image: t.images.refs.userName } }));
      expect.equal((await idOf(t, a.id)).uid, 1001, 'uid for USER 1001');
      const named = await idOf(t, b.id);
      expect.equal(named.uid, IMAGE_USERS.wwwData.uid, 'uid for USER www-data');
      expect.equal(named.gid, IMAGE_USERS.wwwData.gid, 'gid for USER www-data');
      const c = await withSecurity(t, pod, 'override', { run_as_user: { value: 0 } }, { image: { image: t.images.refs.userUid } });
      expect.equal((await idOf(t, c.id)).uid, 0, 'run_as_user 0 overrides USER 1001');
    },
  },
  {
    id: 'security/default-capabilities',
    area: 'security context',
    title: 'a container gets the default capability set (as containerd, CRI-O and Docker)',
    needs: BASE,
    async run(t) {
      const pod = await t.runPod(t.podConfig(t.name('capdef')));
      const c = await t.startContainer(pod, t.containerConfig('c'));
      expect.deepEqual(capBits(await procStatus(t, c.id, 'CapEff')), [...DEFAULT_CAPS].sort((a, b) => a - b), 'CapEff bits');
      expect.deepEqual(capBits(await procStatus(t, c.id, 'CapBnd')), [...DEFAULT_CAPS].sort((a, b) => a - b), 'CapBnd bits');
    },
  },
  {
    id: 'security/capabilities-add-drop',
    area: 'security context',
    title: 'add_capabilities and drop_capabilities (including ALL) change the set',
    needs: BASE,
    async run(t) {
      const pod = await t.runPod(t.podConfig(t.name('caps')));
      const [added, dropped, none, onlyOne] = await Promise.all([
        withSecurity(t, pod, 'add', { capabilities: { add_capabilities: ['NET_ADMIN', 'SYS_ADMIN'], drop_capabilities: [] } }),
        withSecurity(t, pod, 'drop', { capabilities: { add_capabilities: [], drop_capabilities: ['CHOWN', 'NET_RAW'] } }),
        withSecurity(t, pod, 'none', { capabilities: { add_capabilities: [], drop_capabilities: ['ALL'] } }),
        withSecurity(t, pod, 'one', { capabilities: { add_capabilities: ['NET_BIND_SERVICE'], drop_capabilities: ['ALL'] } }),
      ]);
      const a = capBits(await procStatus(t, added.id, 'CapEff'));
      expect.includes(a, CAP.NET_ADMIN, 'added NET_ADMIN');
      expect.includes(a, CAP.SYS_ADMIN, 'added SYS_ADMIN');
      expect.includes(a, CAP.CHOWN, 'defaults kept');
      const d = capBits(await procStatus(t, dropped.id, 'CapEff'));
      expect.notIncludes(d, CAP.CHOWN, 'dropped CHOWN');
      expect.notIncludes(d, CAP.NET_RAW, 'dropped NET_RAW');
      expect.includes(d, CAP.KILL, 'other defaults kept');
      expect.deepEqual(capBits(await procStatus(t, none.id, 'CapEff')), [], 'drop ALL');
      expect.deepEqual(capBits(await procStatus(t, onlyOne.id, 'CapEff')), [CAP.NET_BIND_SERVICE], 'drop ALL, add NET_BIND_SERVICE');
    },
  },
  {
    id: 'security/privileged',
    area: 'security context',
    title: "a privileged container (in a privileged pod) has every capability the host has and the host's devices",
    needs: BASE,
    async run(t) {
      const pod = await t.runPod(t.podConfig(t.name('priv'), { linux: { security_context: { privileged: true } } }));
      const c = await withSecurity(t, pod, 'p', { privileged: true });
      const host = capBits(await hostProcStatus('CapBnd'));
      expect.deepEqual(capBits(await procStatus(t, c.id, 'CapEff')), host, "CapEff equals the host's bounding set");
      const hostDevice = ['/dev/kmsg', '/dev/loop-control', '/dev/mem'].find((d) => existsSync(d));
      if (hostDevice) expect.equal((await t.exec(c.id, ['test', '-e', hostDevice])).exitCode, 0, `${hostDevice} exists in the privileged container`);
      // No masked or read-only /proc paths.
      const procSys = await t.exec(c.id, ['sh', '-c', 'grep " /proc/sys " /proc/mounts']);
      expect.equal(procSys.stdout.trim(), '', '/proc/sys is not mounted over (read-only) in a privileged container');
    },
  },
  {
    id: 'security/unprivileged-defaults',
    area: 'security context',
    title: 'an unprivileged container: /sys read-only, no host devices',
    needs: BASE,
    async run(t) {
      const pod = await t.runPod(t.podConfig(t.name('unpriv')));
      const c = await t.startContainer(pod, t.containerConfig('c'));
      const sys = await t.exec(c.id, ['sh', '-c', 'grep " /sys " /proc/mounts']);
      expect.ok(/\sro[,\s]/.test(sys.stdout), `/sys is mounted read-only (${sys.stdout.trim()})`);
      expect.ok((await t.exec(c.id, ['test', '-e', '/dev/kmsg'])).exitCode !== 0, '/dev/kmsg is absent');
      expect.equal((await t.exec(c.id, ['test', '-c', '/dev/null'])).exitCode, 0, '/dev/null exists');
    },
  },
  {
    id: 'security/masked-readonly-paths',
    area: 'security context',
    title: "masked_paths and readonly_paths apply (kubelet's defaults and more)",
    needs: BASE,
    async run(t) {
      const pod = await t.runPod(t.podConfig(t.name('maskro')));
      const c = await withSecurity(t, pod, 'c', { masked_paths: [...KUBELET_MASKED_PATHS, '/etc/group'], readonly_paths: [...KUBELET_READONLY_PATHS, '/tmp'] });
      expect.equal((await t.exec(c.id, ['sh', '-c', 'cat /etc/group | wc -c'])).stdout.trim(), '0', '/etc/group is masked (reads empty)');
      const masked = await maskablePath();
      if (masked) expect.equal((await t.exec(c.id, ['sh', '-c', `cat ${masked} | wc -c`])).stdout.trim(), '0', `${masked} is masked (reads empty)`);
      expect.ok((await t.exec(c.id, ['touch', '/tmp/x'])).exitCode !== 0, '/tmp is read-only');
      // Rewrites the current value: harmless even if /proc/sys were (wrongly) writable.
      const w = await t.exec(c.id, ['sh', '-c', 'v=$(cat /proc/sys/vm/overcommit_memory); echo "$v" > /proc/sys/vm/overcommit_memory']);
      expect.ok(w.exitCode !== 0, '/proc/sys is read-only');
    },
  },
  {
    id: 'security/readonly-rootfs',
    area: 'security context',
    title: 'readonly_rootfs refuses writes to the root filesystem; mounts stay writable',
    needs: BASE,
    async run(t) {
      const pod = await t.runPod(t.podConfig(t.name('rorootfs')));
      const c = await withSecurity(t, pod, 'ro', { readonly_rootfs: true });
      const w = await t.exec(c.id, ['touch', '/should-fail']);
      expect.ok(w.exitCode !== 0, 'touch /should-fail fails');
      const rw = await withSecurity(t, pod, 'rw', { readonly_rootfs: false });
      expect.equal((await t.exec(rw.id, ['touch', '/should-work'])).exitCode, 0, 'touch on a writable rootfs');
    },
  },
  {
    id: 'security/no-new-privs',
    area: 'security context',
    title: 'no_new_privs sets NoNewPrivs; it is off by default',
    needs: BASE,
    async run(t) {
      const pod = await t.runPod(t.podConfig(t.name('nnp')));
      const on = await withSecurity(t, pod, 'on', { no_new_privs: true });
      const off = await t.startContainer(pod, t.containerConfig('off'));
      expect.equal(await procStatus(t, on.id, 'NoNewPrivs'), '1', 'NoNewPrivs with no_new_privs');
      expect.equal(await procStatus(t, off.id, 'NoNewPrivs'), '0', 'NoNewPrivs by default');
    },
  },
  {
    id: 'security/seccomp',
    area: 'security context',
    title: 'seccomp: RuntimeDefault filters (mode 2) and blocks unshare; Unconfined does not filter',
    needs: BASE,
    async run(t) {
      const pod = await t.runPod(t.podConfig(t.name('seccomp')));
      const def = await withSecurity(t, pod, 'default', { seccomp: { profile_type: 'RuntimeDefault' } });
      const unc = await withSecurity(t, pod, 'unconfined', { seccomp: { profile_type: 'Unconfined' } });
      expect.equal(await procStatus(t, def.id, 'Seccomp'), '2', 'Seccomp mode with RuntimeDefault');
      expect.equal(await procStatus(t, unc.id, 'Seccomp'), '0', 'Seccomp mode with Unconfined');
      // The default profile refuses namespace creation without CAP_SYS_ADMIN.
      expect.ok((await t.exec(def.id, ['unshare', '-U', 'true'])).exitCode !== 0, 'unshare -U under RuntimeDefault fails');
    },
  },
  {
    id: 'security/seccomp-localhost',
    area: 'security context',
    title: 'seccomp Localhost: a profile file on the node that denies mkdir is enforced',
    needs: BASE,
    async run(t) {
      const profile = join(t.env.workDir, `seccomp-${t.name('deny-mkdir')}.json`);
      await writeFile(
        profile,
        JSON.stringify({
          defaultAction: 'SCMP_ACT_ALLOW',
          syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO' }],
        }),
      );
      const pod = await t.runPod(t.podConfig(t.name('seccomplocal')));
      const c = await withSecurity(t, pod, 'local', { seccomp: { profile_type: 'Localhost', localhost_ref: profile } });
      expect.equal(await procStatus(t, c.id, 'Seccomp'), '2', 'Seccomp mode');
      expect.ok((await t.exec(c.id, ['mkdir', '/tmp/denied'])).exitCode !== 0, 'mkdir is denied');
      expect.equal((await t.exec(c.id, ['touch', '/tmp/allowed'])).exitCode, 0, 'other calls are allowed');
    },
  },
];
