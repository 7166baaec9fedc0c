// The OCI process (server/oci/process.ts): args from CRI and image, environment merging and
// defaults, the working directory and the stop signal.
import test from 'ava';
import { BerthError } from '../../server/errors.js';
import { DEFAULT_PATH_ENV, mergeEnv, processArgs, processCwd, processEnv, stopSignal } from '../../server/oci/process.js';

const image = { Entrypoint: ['/entry', '--flag'], Cmd: ['serve', '--port=80'] };

// Kubernetes' command/args table (https://kubernetes.io/docs/tasks/inject-data-application/define-command-argument-container/#notes).
const table: [string, string[], string[], { Entrypoint?: string[] | null; Cmd?: string[] | null }, string[]][] = [
  ['neither: Entrypoint + Cmd', [], [], image, ['/entry', '--flag', 'serve', '--port=80']],
  ['command only: replaces Entrypoint and drops Cmd', ['/bin/echo'], [], image, ['/bin/echo']],
  ['args only: Entrypoint + args', [], ['hello'], image, ['/entry', '--flag', 'hello']],
  ['both: command + args', ['/bin/echo'], ['hello', 'world'], image, ['/bin/echo', 'hello', 'world']],
  ['no Entrypoint, args only: args', [], ['ls', '-l'], { Cmd: ['sh'] }, ['ls', '-l']],
  ['no Entrypoint, neither: Cmd', [], [], { Cmd: ['sh'] }, ['sh']],
  ['null Entrypoint/Cmd from JSON, command', ['top'], [], { Entrypoint: null, Cmd: null }, ['top']],
  ['Entrypoint [""] means none', [], [], { Entrypoint: [''], Cmd: ['sh', '-c', 'true'] }, ['sh', '-c', 'true']],
  ['Entrypoint only', [], [], { Entrypoint: ['/pause'] }, ['/pause']],
];

for (const [name, command, args, img, want] of table) {
  test(`processArgs: ${name}`, (t) => {
    t.deepEqual(processArgs(command, args, img), want);
  });
}

test('processArgs: nothing to run is an InvalidArgument', (t) => {
  const err = t.throws(() => processArgs([], [], {}), { instanceOf: BerthError });
  t.is(err?.kind, 'InvalidArgument');
  t.throws(() => processArgs([], [], { Entrypoint: [''] }), { instanceOf: BerthError });
});

test('processArgs does not alias the image arrays', (t) => {
  const img = { Entrypoint: ['/e'], Cmd: ['c'] };
  const argv = processArgs([], [], img);
  argv.push('x');
  t.deepEqual(img, { Entrypoint: ['/e'], Cmd: ['c'] });
});

test('mergeEnv overrides in place, appends new keys and removes bare keys', (t) => {
  t.deepEqual(mergeEnv(['A=1', 'B=2', 'C=3'], ['B=20', 'D=4', 'C']), ['A=1', 'B=20', 'D=4']);
  t.deepEqual(mergeEnv(['A=1'], ['A=x=y']), ['A=x=y']);
});

test('processEnv: default PATH, HOSTNAME, image env, then CRI env overriding', (t) => {
  const env = processEnv('web-0', ['PATH=/opt/bin:/bin', 'LANG=C', 'MODE=image'], [
    { key: 'MODE', value: Buffer.from('cri') },
    { key: 'EXTRA', value: 'yes' },
  ]);
  t.deepEqual(env, ['PATH=/opt/bin:/bin', 'HOSTNAME=web-0', 'LANG=C', 'MODE=cri', 'EXTRA=yes']);
});

test('processEnv: default PATH when the image sets none, and CRI may override HOSTNAME', (t) => {
  const env = processEnv('web-0', null, [{ key: 'HOSTNAME', value: 'custom' }]);
  t.deepEqual(env, [DEFAULT_PATH_ENV, 'HOSTNAME=custom']);
});

test('processEnv refuses empty or "=" keys', (t) => {
  t.throws(() => processEnv('h', [], [{ key: '', value: 'x' }]), { instanceOf: BerthError });
  t.throws(() => processEnv('h', [], [{ key: 'A=B', value: 'x' }]), { instanceOf: BerthError });
});

test('processCwd: CRI, then image, then /; relative refused', (t) => {
  t.is(processCwd('/work', { WorkingDir: '/img' }), '/work');
  t.is(processCwd('', { WorkingDir: '/img' }), '/img');
  t.is(processCwd('', {}), '/');
  t.throws(() => processCwd('rel', {}), { instanceOf: BerthError });
});

test('stopSignal: CRI enum, then image StopSignal in any spelling, then SIGTERM', (t) => {
  t.is(stopSignal('SIGNAL_SIGUSR1', { StopSignal: 'SIGQUIT' }), 'SIGUSR1');
  t.is(stopSignal('SIGNAL_RUNTIME_DEFAULT', { StopSignal: 'SIGQUIT' }), 'SIGQUIT');
  t.is(stopSignal(undefined, { StopSignal: 'quit' }), 'SIGQUIT');
  t.is(stopSignal(undefined, { StopSignal: '9' }), '9');
  t.is(stopSignal(undefined, {}), 'SIGTERM');
});
