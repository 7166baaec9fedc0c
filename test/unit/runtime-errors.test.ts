// The runtime client's reading of the OCI runtime's stderr (server/runtime/errors.ts): the
// messages below are what runc 1.1.5 and crun 1.8.1 printed on our Debian 12 hosts (and
// what conmon 2.1.6 handed back from a failed `runc create`), each mapped to the error
// kind berth reports, with the runtime's words kept in the message.
import test from 'ava';
import { classifyRuntimeWords, runtimeFailure, runtimeWords, OciRuntimeError, type RuntimeOp } from '../../server/runtime/errors.js';
import { BerthError, type ErrorKind } from '../../server/errors.js';

const runcLine = (msg: string) => `time="2026-12-03T10:06:55Z" level=error msg="${msg.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"\n`;

test("runc's logrus lines are reduced to their error messages; Go quoting is undone", (t) => {
  t.is(runtimeWords(runcLine('container does not exist')), 'container does not exist');
  t.is(
    runtimeWords('time="2026-12-03T10:06:55Z" level=error msg="exec failed: unable to start container process: exec: \\"nosuchcmd\\": executable file not found in $PATH"\n'),
    'exec failed: unable to start container process: exec: "nosuchcmd": executable file not found in $PATH',
  );
  // A warning before the error is not the failure.
  const update =
    'time="2026-12-03T10:06:55Z" level=warning msg="Setting back cgroup configs failed due to error: failed to write \\"-5\\": write /sys/fs/cgroup/memory/c1/memory.limit_in_bytes: invalid argument, your state.json and actual configs might be inconsistent."\n' +
    runcLine('failed to write "-5": write /sys/fs/cgroup/memory/c1/memory.limit_in_bytes: invalid argument');
  t.is(runtimeWords(update), 'failed to write "-5": write /sys/fs/cgroup/memory/c1/memory.limit_in_bytes: invalid argument');
  t.is(runtimeWords('{"level":"error","msg":"runc create failed: invalid rootfs: not an absolute path, or a symlink","time":"2026-12-03T10:07:01Z"}\n'), 'runc create failed: invalid rootfs: not an absolute path, or a symlink');
  // crun and conmon print plain lines.
  t.is(runtimeWords('error opening file `/run/berth/crun/abc/status`: No such file or directory\n'), 'error opening file `/run/berth/crun/abc/status`: No such file or directory');
  t.is(runtimeWords('\n\n'), '');
});

// [operation, what the runtime said (as seen), the kind berth reports]
const SEEN: Array<[RuntimeOp, string, ErrorKind]> = [
  // runc 1.1.5
  ['state', 'container does not exist', 'NotFound'],
  ['kill', 'container does not exist', 'NotFound'],
  ['start', 'container does not exist', 'NotFound'],
  ['update', 'container does not exist', 'NotFound'],
  ['exec', 'exec failed: container does not exist', 'NotFound'],
  ['start', 'cannot start an already running container', 'FailedPrecondition'],
  ['start', 'cannot start a container that has stopped', 'FailedPrecondition'],
  ['kill', 'container not running', 'FailedPrecondition'],
  ['update', 'container not running', 'FailedPrecondition'],
  ['exec', 'exec failed: cannot exec in a stopped container', 'FailedPrecondition'],
  ['exec', 'exec failed: unable to start container process: exec: "nosuchcmd": executable file not found in $PATH', 'InvalidArgument'],
  ['exec', 'exec failed: unable to start container process: exec: "/no/such": stat /no/such: no such file or directory', 'InvalidArgument'],
  ['create', 'runc create failed: unable to start container process: exec: "nosuchcmd": executable file not found in $PATH', 'InvalidArgument'],
  ['create', 'runc create failed: unable to start container process: exec: "/no/such/binary": stat /no/such/binary: no such file or directory', 'InvalidArgument'],
  ['create', 'runc create failed: container with given ID already exists', 'AlreadyExists'],
  ['create', 'runc create failed: invalid rootfs: not an absolute path, or a symlink', 'Internal'],
  ['create', 'runc create failed: chdir /nonexist: no such file or directory', 'Internal'],
  ['kill', 'unknown signal "NOTASIG"', 'InvalidArgument'],
  ['update', 'failed to write "-5": write /sys/fs/cgroup/memory/c1/memory.limit_in_bytes: invalid argument', 'InvalidArgument'],
  ['update', "invalid character 'g' looking for beginning of value", 'InvalidArgument'],
  ['update', 'unable to set memory limit to 4096 (current usage: 593920, peak usage: 2527232)', 'FailedPrecondition'],
  // crun 1.8.1
  ['state', 'error opening file `/run/berth/crun/nosuch/status`: No such file or directory', 'NotFound'],
  ['kill', 'error opening file `/run/berth/crun/nosuch/status`: No such file or directory', 'NotFound'],
  ['delete', "cannot open directory '/run/berth/crun/nosuch': No such file or directory", 'NotFound'],
  ['exec', 'error opening file `/run/berth/crun/nosuch/status`: No such file or directory', 'NotFound'],
  ['create', 'cgroups in hybrid mode not supported, drop all controllers from cgroupv2', 'FailedPrecondition'],
];

for (const [op, words, kind] of SEEN) {
  test(`${op}: ${words} → ${kind}`, (t) => {
    t.is(classifyRuntimeWords(op, words), kind);
  });
}

test('a missing executable is the request at create and exec only; other operations do not exec', (t) => {
  t.is(classifyRuntimeWords('start', 'exec: "x": executable file not found in $PATH'), 'Internal');
});

test("a runtime failure is a typed error that keeps the runtime's words and names the command", (t) => {
  const e = runtimeFailure('runc', 'exec', 'c1', runcLine('exec failed: unable to start container process: exec: "nosuchcmd": executable file not found in $PATH'), 'code 255');
  t.true(e instanceof OciRuntimeError && e instanceof BerthError);
  t.is(e.kind, 'InvalidArgument');
  t.is(e.op, 'exec');
  t.is(e.message, 'runc exec c1: exec failed: unable to start container process: exec: "nosuchcmd": executable file not found in $PATH');
  // Silence is still reported, with how the runtime ended.
  const quiet = runtimeFailure('crun', 'kill', 'c2', '', 'SIGSEGV');
  t.is(quiet.kind, 'Internal');
  t.is(quiet.message, 'crun kill c2: exited with SIGSEGV and said nothing');
});
