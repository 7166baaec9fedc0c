// AppArmor: which profile a container gets for each CRI form, with AppArmor on and off
// (containerd's rules), profile-name validation, the loaded-profiles parser, and the text of
// berth's RuntimeDefault profile.
import test from 'ava';
import { isKind } from '../../server/errors.js';
import { DEFAULT_APPARMOR_PROFILE, apparmorChoice, apparmorProfileName, defaultApparmorProfile } from '../../server/oci/apparmor.js';
import { parseLoadedProfiles } from '../../server/container/apparmor.js';

const sp = (profile_type: string, localhost_ref = '') => ({ apparmor: { profile_type, localhost_ref }, apparmor_profile: '', privileged: false });
const legacy = (apparmor_profile: string, privileged = false) => ({ apparmor: null, apparmor_profile, privileged });

test('AppArmor enabled: nothing asked means RuntimeDefault, except for privileged containers', (t) => {
  t.deepEqual(apparmorChoice(null, true), { kind: 'runtime-default' });
  t.deepEqual(apparmorChoice(legacy(''), true), { kind: 'runtime-default' });
  t.deepEqual(apparmorChoice(legacy('', true), true), { kind: 'none' });
  t.deepEqual(apparmorChoice(sp('RuntimeDefault'), true), { kind: 'runtime-default' });
  t.deepEqual(apparmorChoice({ ...sp('RuntimeDefault'), privileged: true }, true), { kind: 'none' });
  t.deepEqual(apparmorChoice(sp('Unconfined'), true), { kind: 'none' });
  t.deepEqual(apparmorChoice(legacy('unconfined'), true), { kind: 'none' });
  t.deepEqual(apparmorChoice(legacy('runtime/default'), true), { kind: 'runtime-default' });
  t.deepEqual(apparmorChoice(sp('Localhost', 'localhost/my-profile'), true), { kind: 'localhost', name: 'my-profile' });
  t.deepEqual(apparmorChoice(sp('Localhost', 'my-profile'), true), { kind: 'localhost', name: 'my-profile' });
  t.deepEqual(apparmorChoice(legacy('localhost/usr.bin.thing'), true), { kind: 'localhost', name: 'usr.bin.thing' });
  // A Localhost profile is applied to privileged containers too, as asked.
  t.deepEqual(apparmorChoice({ ...sp('Localhost', 'p'), privileged: true }, true), { kind: 'localhost', name: 'p' });
  // The structured field wins over the deprecated string.
  t.deepEqual(apparmorChoice({ apparmor: { profile_type: 'Unconfined', localhost_ref: '' }, apparmor_profile: 'runtime/default', privileged: false }, true), { kind: 'none' });
});

test('AppArmor disabled: a request for confinement is refused, not ignored', (t) => {
  t.deepEqual(apparmorChoice(null, false), { kind: 'none' });
  t.deepEqual(apparmorChoice(legacy(''), false), { kind: 'none' });
  t.deepEqual(apparmorChoice(sp('Unconfined'), false), { kind: 'none' });
  t.deepEqual(apparmorChoice(legacy('unconfined'), false), { kind: 'none' });
  for (const f of [sp('RuntimeDefault'), sp('Localhost', 'p'), legacy('runtime/default'), legacy('localhost/p')]) {
    const e = t.throws(() => apparmorChoice(f, false));
    t.true(isKind(e, 'FailedPrecondition'), String(e));
    t.regex(e!.message, /AppArmor is not enabled on this node/);
  }
});

test('bad AppArmor requests are INVALID_ARGUMENT, on or off, with a bounded message', (t) => {
  const huge = `localhost/${'x'.repeat(1 << 20)}`;
  for (const enabled of [true, false]) {
    for (const f of [
      sp('Localhost'),
      sp('Localhost', 'localhost/'),
      sp('RuntimeDefault', 'p'),
      sp('Bogus'),
      legacy('docker/default'),
      legacy('localhost/../etc/passwd'),
      legacy('localhost/a b'),
      legacy('localhost/a\nb'),
      legacy(huge),
    ]) {
      const e = t.throws(() => apparmorChoice(f, enabled));
      t.true(isKind(e, 'InvalidArgument'), `${enabled} ${String(e).slice(0, 100)}`);
      t.true(e!.message.length < 400, e!.message.slice(0, 100));
    }
  }
});

test('profile names: what a node loads for containers is accepted', (t) => {
  for (const n of ['k8s-apparmor-example-deny-write', 'usr.sbin.nginx', '/usr/bin/app', 'a:b@c+d~e_f', 'cri-containerd.apparmor.d']) t.is(apparmorProfileName(n), n);
  t.is(apparmorProfileName('localhost/x'), 'x');
});

test('the loaded-profiles list of securityfs is parsed by name', (t) => {
  const loaded = parseLoadedProfiles('berth-default (enforce)\n/usr/bin/man (complain)\nnvidia_modprobe//kmod (enforce)\nlsb_release (kill)\n\n');
  t.deepEqual([...loaded].sort(), ['/usr/bin/man', 'berth-default', 'lsb_release', 'nvidia_modprobe//kmod']);
  t.false(parseLoadedProfiles('berth-default-2 (enforce)\n').has('berth-default'));
});

test("berth's RuntimeDefault profile: named, self-contained without the apparmor package's includes", (t) => {
  for (const withBase of [true, false]) {
    const text = defaultApparmorProfile(withBase);
    t.regex(text, new RegExp(`^profile ${DEFAULT_APPARMOR_PROFILE} flags=\\(attach_disconnected,mediate_deleted\\) \\{$`, 'm'));
    t.is(text.includes('#include <abstractions/base>'), withBase);
    t.is(text.includes('@{PROC}=/proc/'), !withBase);
    t.regex(text, /^\s*deny mount,$/m);
    t.regex(text, /^\s*deny \/sys\/kernel\/security\/\*\* rwklx,$/m);
    // Braces balance: one profile block.
    t.is((text.match(/\{/g) ?? []).length - (text.match(/\}/g) ?? []).length, 0);
  }
});
