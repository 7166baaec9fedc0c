// The container user (server/oci/user.ts): /etc/passwd and /etc/group parsing, CRI
// run_as_user/run_as_username/run_as_group, supplemental groups and policy, image USER forms.
import test from 'ava';
import { BerthError } from '../../server/errors.js';
import { criUserString, parseGroup, parsePasswd, resolveUser, type CriUserFields } from '../../server/oci/user.js';
import { GROUP, PASSWD } from './oci-fixtures.js';

function cri(o: Partial<CriUserFields> = {}): CriUserFields {
  return { run_as_user: null, run_as_username: '', run_as_group: null, supplemental_groups: [], ...o };
}

const resolve = (c: Partial<CriUserFields>, imageUser = '', passwd: string | null = PASSWD, group: string | null = GROUP) =>
  resolveUser({ cri: cri(c), imageUser, passwd, group });

test('parsePasswd and parseGroup skip comments and malformed lines', (t) => {
  const users = parsePasswd('# c\nroot:x:0:0:root:/root:/bin/sh\nbroken\nneg:x:-1:0::/:/\nbig:x:99999999999:0::/:/\n');
  t.deepEqual(users.map((u) => u.name), ['root']);
  const groups = parseGroup('wheel:x:10:a, b ,\nbad:x:zz:\n');
  t.deepEqual(groups, [{ name: 'wheel', gid: 10, members: ['a', 'b'] }]);
});

test('no user anywhere: root, with root\'s supplementary groups', (t) => {
  t.deepEqual(resolve({}), { uid: 0, gid: 0, additionalGids: [0, 10], username: 'root' });
});

test('run_as_user listed in /etc/passwd takes its primary gid and groups', (t) => {
  const u = resolve({ run_as_user: { value: '1002' } });
  t.is(u.uid, 1002);
  t.is(u.gid, 1002);
  t.is(u.username, 'alice');
  // wheel and audio list alice; the group named "alice" is her primary group, not a supplementary one.
  t.deepEqual(u.additionalGids, [10, 29, 1002]);
});

test('run_as_user not in /etc/passwd: gid 0, no error', (t) => {
  t.deepEqual(resolve({ run_as_user: { value: '4242' } }), { uid: 4242, gid: 0, additionalGids: [0] });
  t.deepEqual(resolve({ run_as_user: { value: '4242' } }, '', null, null), { uid: 4242, gid: 0, additionalGids: [0] });
});

test('run_as_username resolves through /etc/passwd', (t) => {
  const u = resolve({ run_as_username: 'www-data' });
  t.like(u, { uid: 33, gid: 33, username: 'www-data' });
});

test('run_as_username wins over run_as_user (containerd order)', (t) => {
  t.like(resolve({ run_as_user: { value: '1002' }, run_as_username: 'bob' }), { uid: 1003, gid: 1004 });
});

test('unknown run_as_username is an InvalidArgument naming the user', (t) => {
  const err = t.throws(() => resolve({ run_as_username: 'mallory' }), { instanceOf: BerthError });
  t.is(err?.kind, 'InvalidArgument');
  t.regex(err?.message ?? '', /mallory/);
  t.throws(() => resolve({ run_as_username: 'root' }, '', null, null), { message: /no \/etc\/passwd/ });
});

test('run_as_group overrides the primary gid', (t) => {
  const u = resolve({ run_as_user: { value: '1002' }, run_as_group: { value: '5000' } });
  t.is(u.uid, 1002);
  t.is(u.gid, 5000);
  t.deepEqual(u.additionalGids, [10, 29, 5000]);
});

test('run_as_group without a user is refused (critest expects an error)', (t) => {
  const err = t.throws(() => resolve({ run_as_group: { value: '5000' } }), { instanceOf: BerthError });
  t.is(err?.kind, 'InvalidArgument');
});

test('supplemental groups are merged, sorted and deduplicated', (t) => {
  const u = resolve({ run_as_user: { value: '1003' }, supplemental_groups: ['44', '7000', '29'] });
  t.deepEqual(u.additionalGids, [29, 44, 1004, 7000]);
});

test('Strict policy leaves out /etc/group memberships', (t) => {
  const u = resolve({ run_as_user: { value: '1003' }, supplemental_groups: ['7000'], supplemental_groups_policy: 'Strict' });
  t.deepEqual(u.additionalGids, [1004, 7000]);
});

test('image USER forms: name, uid, name:group, uid:gid, uid:group, name:gid', (t) => {
  t.like(resolve({}, 'www-data'), { uid: 33, gid: 33 });
  t.like(resolve({}, '1003'), { uid: 1003, gid: 1004 });
  t.like(resolve({}, 'alice:video'), { uid: 1002, gid: 44 });
  t.like(resolve({}, '1003:1004'), { uid: 1003, gid: 1004 });
  t.like(resolve({}, '1003:1004', null, null), { uid: 1003, gid: 1004 });
  t.like(resolve({}, '4000:audio'), { uid: 4000, gid: 29 });
  t.like(resolve({}, 'bob:12'), { uid: 1003, gid: 12 });
});

test('CRI user wins over the image USER', (t) => {
  t.like(resolve({ run_as_user: { value: '33' } }, 'alice'), { uid: 33, gid: 33 });
});

test('invalid image USER values', (t) => {
  for (const bad of ['a:b:c', ':1', 'alice:', 'alice:nogroup', '99999999999']) {
    const err = t.throws(() => resolve({}, bad), { instanceOf: BerthError }, bad);
    t.is(err?.kind, 'InvalidArgument');
  }
});

test('criUserString builds the image-spec form', (t) => {
  t.is(criUserString(cri()), '');
  t.is(criUserString(cri({ run_as_user: { value: '0' } })), '0');
  t.is(criUserString(cri({ run_as_username: 'bob', run_as_group: { value: '3' } })), 'bob:3');
  t.throws(() => criUserString(cri({ run_as_user: { value: '-1' } })), { instanceOf: BerthError });
  t.throws(() => criUserString(cri({ run_as_user: { value: 'abc' } })), { instanceOf: BerthError });
});
