// Seccomp (server/oci/seccomp.ts): which profile a CRI config asks for, the RuntimeDefault
// profile against capabilities, architecture and kernel, and Localhost profile parsing.
import test from 'ava';
import { BerthError } from '../../server/errors.js';
import { DEFAULT_CAPABILITIES } from '../../server/oci/capabilities.js';
import { CLONE_NAMESPACE_FLAGS } from '../../server/oci/seccomp-default.js';
import { defaultSeccompProfile, parseSeccompProfile, seccompChoice, type CriSeccompFields } from '../../server/oci/seccomp.js';
import type { OciSeccomp } from '../../server/oci/types.js';

const fields = (o: Partial<CriSeccompFields>): CriSeccompFields => ({ seccomp: null, seccomp_profile_path: '', privileged: false, ...o });

test('seccompChoice: structured profile types', (t) => {
  t.deepEqual(seccompChoice(fields({ seccomp: { profile_type: 'RuntimeDefault', localhost_ref: '' } })), { kind: 'runtime-default' });
  t.deepEqual(seccompChoice(fields({ seccomp: { profile_type: 'Unconfined', localhost_ref: '' } })), { kind: 'unconfined' });
  t.deepEqual(seccompChoice(fields({ seccomp: { profile_type: 'Localhost', localhost_ref: '/var/lib/kubelet/seccomp/a.json' } })), {
    kind: 'localhost',
    path: '/var/lib/kubelet/seccomp/a.json',
  });
  t.deepEqual(seccompChoice(fields({ seccomp: { profile_type: 'Localhost', localhost_ref: 'localhost//p.json' } })), { kind: 'localhost', path: '/p.json' });
});

test('seccompChoice: nothing set is unconfined; privileged is always unconfined', (t) => {
  t.deepEqual(seccompChoice(null), { kind: 'unconfined' });
  t.deepEqual(seccompChoice(fields({})), { kind: 'unconfined' });
  t.deepEqual(seccompChoice(fields({ privileged: true, seccomp: { profile_type: 'RuntimeDefault', localhost_ref: '' } })), { kind: 'unconfined' });
});

test('seccompChoice: the deprecated path form', (t) => {
  t.is(seccompChoice(fields({ seccomp_profile_path: 'runtime/default' })).kind, 'runtime-default');
  t.is(seccompChoice(fields({ seccomp_profile_path: 'docker/default' })).kind, 'runtime-default');
  t.is(seccompChoice(fields({ seccomp_profile_path: 'unconfined' })).kind, 'unconfined');
  t.deepEqual(seccompChoice(fields({ seccomp_profile_path: 'localhost//etc/p.json' })), { kind: 'localhost', path: '/etc/p.json' });
  // The structured field wins over the deprecated one.
  t.is(seccompChoice(fields({ seccomp: { profile_type: 'Unconfined', localhost_ref: '' }, seccomp_profile_path: 'runtime/default' })).kind, 'unconfined');
});

test('seccompChoice: invalid combinations', (t) => {
  for (const bad of [
    fields({ seccomp: { profile_type: 'RuntimeDefault', localhost_ref: '/x' } }),
    fields({ seccomp: { profile_type: 'Localhost', localhost_ref: '' } }),
    fields({ seccomp: { profile_type: 'Localhost', localhost_ref: 'relative.json' } }),
    fields({ seccomp_profile_path: 'bogus' }),
  ]) {
    const err = t.throws(() => seccompChoice(bad), { instanceOf: BerthError });
    t.is(err?.kind, 'InvalidArgument');
  }
});

const allowed = (p: OciSeccomp, name: string) =>
  (p.syscalls ?? []).some((s) => s.action === 'SCMP_ACT_ALLOW' && s.names.includes(name) && (s.args ?? []).length === 0);
const mentioned = (p: OciSeccomp, name: string) => (p.syscalls ?? []).some((s) => s.names.includes(name));

test('RuntimeDefault: deny by EPERM, x86_64 architectures, common syscalls allowed', (t) => {
  const p = defaultSeccompProfile(DEFAULT_CAPABILITIES, { arch: 'x64' });
  t.is(p.defaultAction, 'SCMP_ACT_ERRNO');
  t.is(p.defaultErrnoRet, 1);
  t.deepEqual(p.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
  for (const name of ['read', 'write', 'openat', 'execve', 'futex', 'arch_prctl', 'chroot']) {
    t.true(allowed(p, name), name);
  }
  t.true(allowed(p, 'ptrace'), 'ptrace is allowed on kernels ≥ 4.8');
  t.true(JSON.parse(JSON.stringify(p)).syscalls.length > 5);
});

test('RuntimeDefault without CAP_SYS_ADMIN: no mount/unshare/setns, clone without namespace flags, clone3 → ENOSYS', (t) => {
  const p = defaultSeccompProfile(DEFAULT_CAPABILITIES, { arch: 'x64' });
  for (const name of ['mount', 'umount2', 'unshare', 'setns', 'bpf', 'reboot', 'init_module', 'keyctl', 'add_key', 'kexec_load']) {
    t.false(allowed(p, name), name);
  }
  const clone = (p.syscalls ?? []).find((s) => s.names.includes('clone'));
  t.deepEqual(clone?.args, [{ index: 0, value: CLONE_NAMESPACE_FLAGS, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }]);
  t.is(CLONE_NAMESPACE_FLAGS, 0x7e020000);
  const clone3 = (p.syscalls ?? []).find((s) => s.names.includes('clone3'));
  t.deepEqual(clone3, { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 });
});

test('RuntimeDefault with CAP_SYS_ADMIN opens mount, unshare and unconditional clone', (t) => {
  const p = defaultSeccompProfile([...DEFAULT_CAPABILITIES, 'CAP_SYS_ADMIN'], { arch: 'x64' });
  for (const name of ['mount', 'unshare', 'setns', 'clone', 'clone3']) t.true(allowed(p, name), name);
  t.false((p.syscalls ?? []).some((s) => s.action === 'SCMP_ACT_ERRNO'));
});

test('RuntimeDefault follows other capabilities and the architecture', (t) => {
  t.false(allowed(defaultSeccompProfile([], { arch: 'x64' }), 'chroot'), 'chroot needs CAP_SYS_CHROOT');
  t.true(allowed(defaultSeccompProfile(['CAP_SYS_TIME'], { arch: 'x64' }), 'settimeofday'));
  const arm = defaultSeccompProfile([], { arch: 'arm64' });
  t.deepEqual(arm.architectures, ['SCMP_ARCH_ARM', 'SCMP_ARCH_AARCH64']);
  t.true(allowed(arm, 'set_tls'));
  t.false(mentioned(arm, 'arch_prctl'));
  const s390 = defaultSeccompProfile([], { arch: 's390x' });
  t.is((s390.syscalls ?? []).find((s) => s.names.includes('clone'))?.args?.[0]?.index, 1);
});

test('RuntimeDefault: socket is allowed except AF_ALG and AF_VSOCK; ptrace only from kernel 4.8', (t) => {
  const p = defaultSeccompProfile([], { arch: 'x64', kernel: [4, 4] });
  t.false(allowed(p, 'socket'));
  const socketRules = (p.syscalls ?? []).filter((s) => s.names.includes('socket'));
  t.deepEqual(
    socketRules.map((s) => s.args),
    [[{ index: 0, value: 38, op: 'SCMP_CMP_LT' }], [{ index: 0, value: 39, op: 'SCMP_CMP_EQ' }], [{ index: 0, value: 40, op: 'SCMP_CMP_GT' }]],
  );
  t.false(mentioned(p, 'ptrace'));
  t.true(allowed(defaultSeccompProfile([], { arch: 'x64', kernel: [6, 1] }), 'ptrace'));
});

test('parseSeccompProfile takes OCI JSON and Docker\'s singular name', (t) => {
  const p = parseSeccompProfile(
    JSON.stringify({
      defaultAction: 'SCMP_ACT_LOG',
      architectures: ['SCMP_ARCH_X86_64'],
      syscalls: [
        { names: ['read', 'write'], action: 'SCMP_ACT_ALLOW' },
        { name: 'chmod', action: 'SCMP_ACT_ERRNO', errnoRet: 13 },
      ],
      comment: 'ignored',
    }),
    '/p.json',
  );
  t.deepEqual(p, {
    defaultAction: 'SCMP_ACT_LOG',
    architectures: ['SCMP_ARCH_X86_64'],
    syscalls: [
      { names: ['read', 'write'], action: 'SCMP_ACT_ALLOW' },
      { names: ['chmod'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 },
    ],
  });
});

test('parseSeccompProfile refuses malformed files', (t) => {
  for (const text of ['{', '[]', '{"syscalls":[]}', '{"defaultAction":"SCMP_ACT_ALLOW","syscalls":{}}', '{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"action":"SCMP_ACT_ALLOW"}]}']) {
    const err = t.throws(() => parseSeccompProfile(text, '/p.json'), { instanceOf: BerthError }, text);
    t.is(err?.kind, 'InvalidArgument');
  }
});
