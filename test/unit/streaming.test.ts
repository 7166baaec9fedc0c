// Pure parts of the streaming server: single-use tokens, the final status per protocol
// version, resize messages, ports, and the RPC argument checks.
import test from 'ava';
import { TokenCache } from '../../server/streaming/tokens.js';
import { statusPayload, parseResize, ResizeDecoder, type TermSize } from '../../server/streaming/remotecommand.js';
import { parsePort } from '../../server/streaming/portforward.js';
import { resizeMessage } from '../../server/runtime/ctl.js';
import { conmonFiles } from '../../server/runtime/files.js';
import { validateStreamOptions } from '../../server/streaming/requests.js';

test('tokens are single-use, expire, and are bounded', (t) => {
  let now = 1000;
  const c = new TokenCache<string>(60_000, 3, () => now);
  const a = c.insert('a')!;
  t.regex(a, /^[A-Za-z0-9_-]{22}$/);
  t.is(c.consume(a), 'a');
  t.is(c.consume(a), undefined, 'second use');
  const b = c.insert('b')!;
  now += 60_001;
  t.is(c.consume(b), undefined, 'expired');
  t.truthy(c.insert('1'));
  t.truthy(c.insert('2'));
  t.truthy(c.insert('3'));
  t.is(c.insert('4'), undefined, 'full of live tokens');
  now += 60_001;
  t.truthy(c.insert('5'), 'expired ones make room');
  t.is(c.size, 1);
  t.is(c.consume('not-a-token'), undefined);
});

test('the final status: JSON metav1.Status for v4/v5, text for older versions', (t) => {
  t.deepEqual(JSON.parse(statusPayload('v4.channel.k8s.io', { exitCode: 0 })!.toString()), { metadata: {}, status: 'Success' });
  const fail = JSON.parse(statusPayload('v5.channel.k8s.io', { exitCode: 3, cmd: ['sh', '-c', 'exit 3'] })!.toString());
  t.is(fail.status, 'Failure');
  t.is(fail.reason, 'NonZeroExitCode');
  t.deepEqual(fail.details, { causes: [{ reason: 'ExitCode', message: '3' }] });
  t.is(fail.message, 'command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3');
  const internal = JSON.parse(statusPayload('v4.channel.k8s.io', { error: 'boom' })!.toString());
  t.like(internal, { status: 'Failure', reason: 'InternalError', code: 500, message: 'Internal error occurred: boom' });
  t.is(statusPayload('v3.channel.k8s.io', { exitCode: 0 }), undefined);
  t.is(statusPayload('', { exitCode: 0 }), undefined);
  t.regex(statusPayload('channel.k8s.io', { exitCode: 2, cmd: ['false'] })!.toString(), /exit code 2$/);
  t.is(statusPayload('v2.channel.k8s.io', { error: 'boom' })!.toString(), 'Internal error occurred: boom');
});

test('resize messages: JSON sizes, also run together on one stream', (t) => {
  t.deepEqual(parseResize('{"Width":80,"Height":24}'), { width: 80, height: 24 });
  t.is(parseResize('{"Width":-1,"Height":24}'), undefined);
  t.is(parseResize('{"Width":"x"}'), undefined);
  t.is(parseResize('not json'), undefined);
  const got: TermSize[] = [];
  const d = new ResizeDecoder();
  d.push('{"Width":1,"Height":2}{"Wid', (s) => got.push(s));
  d.push('th":3,"Height":4}\n{"Width":5,', (s) => got.push(s));
  d.push('"Height":6}', (s) => got.push(s));
  t.deepEqual(got, [
    { width: 1, height: 2 },
    { width: 3, height: 4 },
    { width: 5, height: 6 },
  ]);
  t.is(resizeMessage(132, 43), '1 43 132\n', "conmon's control message: type, height, width");
});

test('ports and stream options are checked', (t) => {
  t.is(parsePort('8080'), 8080);
  for (const bad of ['0', '65536', '-1', '80a', '', ' 80', '1e3', undefined]) t.is(parsePort(bad), undefined, String(bad));
  t.throws(() => validateStreamOptions({ stdin: false, stdout: true, stderr: true, tty: true }), { message: /tty and stderr/ });
  t.throws(() => validateStreamOptions({ stdin: false, stdout: false, stderr: false, tty: false }), { message: /stdin, stdout or stderr/ });
  t.notThrows(() => validateStreamOptions({ stdin: true, stdout: false, stderr: false, tty: true }));
  t.is(conmonFiles('/run/berth/containers/abc', '/run/berth/exits', '/run/berth/sock', 'abc').attachSocket, '/run/berth/sock/abc/attach');
});
