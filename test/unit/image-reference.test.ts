// Image references (server/image/reference.ts): parsing and normalising names, tags and
// digests as docker/distribution does, formatting them back, and registry hosts.
import test from 'ava';
import { isKind } from '../../server/errors.js';
import { formatReference, parseReference, parseNormalizedNamed, registryHost, repositoryName } from '../../server/image/reference.js';

const H = 'a'.repeat(64);

const normalised: [string, string][] = [
  ['busybox', 'docker.io/library/busybox:latest'],
  ['busybox:1.36', 'docker.io/library/busybox:1.36'],
  ['library/busybox', 'docker.io/library/busybox:latest'],
  ['docker.io/busybox', 'docker.io/library/busybox:latest'],
  ['index.docker.io/library/busybox:1', 'docker.io/library/busybox:1'],
  ['user/app', 'docker.io/user/app:latest'],
  ['registry.k8s.io/pause:3.9', 'registry.k8s.io/pause:3.9'],
  ['localhost/app', 'localhost/app:latest'],
  ['localhost:5000/a/b/c:v1.2-rc_3', 'localhost:5000/a/b/c:v1.2-rc_3'],
  ['127.0.0.1:5000/busybox:x', '127.0.0.1:5000/busybox:x'],
  ['[::1]:5000/busybox', '[::1]:5000/busybox:latest'],
  ['Example.COM/app', 'Example.COM/app:latest'],
  [`busybox@sha256:${H}`, `docker.io/library/busybox@sha256:${H}`],
  [`busybox:1.36@sha256:${H}`, `docker.io/library/busybox:1.36@sha256:${H}`],
  [`host:5000/repo:tag@sha256:${H}`, `host:5000/repo:tag@sha256:${H}`],
  ['a.b/c__d/e-f--g/h.i_j', 'a.b/c__d/e-f--g/h.i_j:latest'],
];

for (const [input, want] of normalised) {
  test(`normalises ${input}`, (t) => {
    t.is(formatReference(parseReference(input)), want);
  });
}

const invalid: [string, RegExp][] = [
  ['', /empty/],
  ['Busybox', /lowercase/],
  ['docker.io/Library/busybox', /lowercase/],
  ['busybox:', /invalid tag/],
  ['busybox:-x', /invalid tag/],
  [`busybox:${'t'.repeat(129)}`, /invalid tag/],
  ['busybox@sha256:abc', /invalid digest/],
  [`busybox@md5:${H}`, /unsupported digest algorithm/],
  [`busybox@sha256:${'A'.repeat(64)}`, /lowercase hex/],
  ['-busybox', /invalid repository path/],
  ['busy--/box', /invalid repository path/],
  ['a//b', /invalid repository path/],
  ['host:port/x', /invalid/],
  [H, /64-byte hexadecimal/],
  [' busybox', /whitespace/],
  [`x.io/${'a'.repeat(260)}`, /longer than 255/],
  [':tag', /empty repository/],
];

for (const [input, why] of invalid) {
  test(`refuses ${JSON.stringify(input.slice(0, 40))}`, (t) => {
    const e = t.throws(() => parseReference(input));
    t.true(isKind(e, 'InvalidArgument'), String(e));
    t.regex(e!.message, why);
  });
}

test('parts and hosts', (t) => {
  const r = parseNormalizedNamed('localhost:5000/team/app:v1');
  t.deepEqual(r, { domain: 'localhost:5000', path: 'team/app', tag: 'v1' });
  t.is(repositoryName(r), 'localhost:5000/team/app');
  t.is(registryHost('docker.io'), 'registry-1.docker.io');
  t.is(registryHost('gcr.io'), 'gcr.io');
  t.is(parseNormalizedNamed('busybox').tag, undefined);
});
