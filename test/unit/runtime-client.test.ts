// The runtime client (server/runtime/oci-runtime.ts, client.ts) against a fake OCI runtime:
// a shell script that speaks runc's command line and prints runc's own messages, so the
// command lines, the --root spelling, the exec machinery (process file, pid file, kill by
// pid file, the runtime's own failure vs the process's exit code) and the typed errors are
// checked without root, runc or a container.
import test from 'ava';
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RuntimeClient } from '../../server/runtime/client.js';
import { execCaptured, OciRuntime } from '../../server/runtime/oci-runtime.js';
import { BerthError } from '../../server/errors.js';
import type { OciProcess } from '../../server/oci/types.js';

// Containers the fake knows: "gone" does not exist, "stopped" is not running, "hang" execs
// a process that never ends, "nostart" cannot start its exec. Every call is logged.
const FAKE = `#!/bin/sh
echo "$*" >> "$FAKE_LOG"
root="$1"; shift
cmd="$1"; shift
err() { echo "time=\\"2026-12-03T10:06:55Z\\" level=error msg=\\"$1\\"" >&2; exit \${2:-1}; }
case "$cmd" in
  state) [ "$1" = gone ] && err "container does not exist"; echo '{"ociVersion":"1.0.2","id":"'"$1"'","pid":4242,"status":"running"}' ;;
  start) [ "$1" = gone ] && err "container does not exist"; exit 0 ;;
  update) [ "$3" = gone ] && err "container does not exist"; cp "$2" "$FAKE_LOG.update"; exit 0 ;;
  kill) [ "$1" = gone ] && err "container does not exist"; [ "$1" = stopped ] && err "container not running"; [ "$2" = BOGUS ] && err "unknown signal \\\\\\"BOGUS\\\\\\""; exit 0 ;;
  delete) exit 0 ;;
  exec)
    # exec --process F --pid-file P ID
    proc="$2"; pidfile="$4"; id="$5"
    cp "$proc" "$FAKE_LOG.process"
    [ "$id" = nostart ] && err "exec failed: unable to start container process: exec: \\\\\\"nosuchcmd\\\\\\": executable file not found in \\$PATH" 255
    echo $$ > "$pidfile"
    [ "$id" = hang ] && exec sleep 30
    echo out; echo err >&2; exit 255 ;;
esac
`;

interface Ctx {
  dir: string;
  log: string;
  rt: OciRuntime;
}

async function setup(): Promise<Ctx> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-unit-runtime-'));
  const bin = join(dir, 'fakerunc');
  await writeFile(bin, FAKE);
  await chmod(bin, 0o755);
  const log = join(dir, 'calls.log');
  process.env.FAKE_LOG = log;
  const client = new RuntimeClient({ runtimes: { fake: { path: bin, root: '' } }, state: join(dir, 'state') }, { cgroupMode: 'v2' });
  return { dir, log, rt: client.handler('fake') };
}

const process_ = (args: string[]): OciProcess => ({ terminal: false, user: { uid: 0, gid: 0 }, args, env: ['PATH=/bin'], cwd: '/', capabilities: { bounding: [], effective: [], permitted: [] }, noNewPrivileges: true });

const calls = async (c: Ctx) => (await readFile(c.log, 'utf8')).trim().split('\n');

test.serial('commands carry --root=<root> once, in one spelling; state, start, update, kill, delete', async (t) => {
  const c = await setup();
  try {
    t.is(c.rt.handle.root, join(c.dir, 'state', 'fake'), "an empty root is <state>/<handler>");
    t.deepEqual(await c.rt.state('c1'), { status: 'running', pid: 4242 });
    await c.rt.start('c1');
    const bundle = join(c.dir, 'bundle');
    await mkdir(bundle);
    await c.rt.update('c1', bundle, { memory: { limit: 1 << 20 } });
    t.deepEqual(JSON.parse(await readFile(`${c.log}.update`, 'utf8')), { memory: { limit: 1 << 20 } }, 'the resources went in a file');
    t.deepEqual(await readdir(bundle), [], 'the resources file is removed');
    await c.rt.kill('c1', 'SIGTERM');
    await c.rt.delete('c1');
    const root = `--root=${c.rt.handle.root}`;
    const log = await calls(c);
    t.regex(log[2]!, new RegExp(`^${root} update --resources ${bundle}/update-[0-9a-f]{12}\\.json c1$`));
    log[2] = 'update';
    t.deepEqual(log, [`${root} state c1`, `${root} start c1`, 'update', `${root} kill c1 SIGTERM`, `${root} delete --force c1`]);
  } finally {
    await rm(c.dir, { recursive: true, force: true });
  }
});

test.serial('what is gone is not an error for kill, delete and state; it is NOT_FOUND for start', async (t) => {
  const c = await setup();
  try {
    t.is(await c.rt.state('gone'), undefined);
    await t.notThrowsAsync(c.rt.kill('gone', 'SIGKILL'));
    await t.notThrowsAsync(c.rt.kill('stopped', 'SIGKILL'));
    await t.notThrowsAsync(c.rt.delete('gone'));
    const e = await t.throwsAsync(c.rt.start('gone'), { instanceOf: BerthError });
    t.is(e.kind, 'NotFound');
    t.is(e.message, 'fakerunc start gone: container does not exist');
    const bad = await t.throwsAsync(c.rt.kill('c1', 'BOGUS'), { instanceOf: BerthError });
    t.is(bad.kind, 'InvalidArgument');
    t.regex(bad.message, /unknown signal "BOGUS"/);
  } finally {
    await rm(c.dir, { recursive: true, force: true });
  }
});

test.serial("ExecSync's exec: the process's exit code and output; the runtime's own failure typed; files removed", async (t) => {
  const c = await setup();
  const bundle = join(c.dir, 'bundle');
  await mkdir(bundle);
  try {
    const proc = process_(['echo', 'hi']);
    const r = await execCaptured(c.rt, 'c1', bundle, proc, 5000, 1024);
    t.is(r.exitCode, 255, "a process that ran and exited 255 is that exit code");
    t.is(r.stdout.toString(), 'out\n');
    t.is(r.stderr.toString(), 'err\n');
    t.deepEqual(JSON.parse(await readFile(`${c.log}.process`, 'utf8')), proc, 'the process file holds the process');
    const e = await t.throwsAsync(execCaptured(c.rt, 'nostart', bundle, proc, 5000, 1024), { instanceOf: BerthError });
    t.is(e.kind, 'InvalidArgument', 'no pid file: the runtime could not start the process');
    t.regex(e.message, /^fakerunc exec nostart: exec failed: .*executable file not found in \$PATH$/);
    const capped = await execCaptured(c.rt, 'c1', bundle, proc, 5000, 2);
    t.is(capped.stdout.toString(), 'ou', 'output is capped');
    // Cleanup is not awaited by ExecSync: give it a moment, then nothing is left.
    for (let i = 0; i < 50 && (await readdir(bundle)).length > 0; i++) await new Promise((r) => setTimeout(r, 10));
    t.deepEqual(await readdir(bundle), [], 'process and pid files are removed');
  } finally {
    await rm(c.dir, { recursive: true, force: true });
  }
});

test.serial('an exec past its timeout is killed through its pid file: DEADLINE_EXCEEDED', async (t) => {
  const c = await setup();
  const bundle = join(c.dir, 'bundle');
  await mkdir(bundle);
  try {
    const e = await t.throwsAsync(execCaptured(c.rt, 'hang', bundle, process_(['sleep', '30']), 300, 1024), { instanceOf: BerthError });
    t.is(e.kind, 'DeadlineExceeded');
    t.regex(e.message, /timed out after 0\.3 s and was killed/);
  } finally {
    await rm(c.dir, { recursive: true, force: true });
  }
});

test('an unknown handler is FAILED_PRECONDITION; a recorded container keeps its own binary and root', (t) => {
  const client = new RuntimeClient({ runtimes: { runc: { path: '/usr/sbin/runc', root: '/run/x/runc' } }, state: '/run/x' }, { cgroupMode: 'hybrid' });
  t.throws(() => client.handler('kata'), { instanceOf: BerthError, message: /"kata" is not configured/ });
  const rt = client.forContainer({ handler: 'runc', runtimePath: '/opt/old/runc', runtimeRoot: '/run/old/runc' });
  t.deepEqual(rt.handle, { name: 'runc', path: '/opt/old/runc', root: '/run/old/runc' });
  t.is(rt.name, 'runc');
});

test.serial('a handler is probed once per binary against the host cgroup layout: crun refuses a hybrid host', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'berth-unit-runtime-'));
  try {
    const crun = join(dir, 'crun');
    const log = join(dir, 'probes.log');
    await writeFile(crun, `#!/bin/sh\necho probe >> ${log}\necho "crun version 1.8.1"\necho "commit: x"\n`);
    await chmod(crun, 0o755);
    const runtimes = { crun: { path: crun, root: '' } };
    const hybrid = new RuntimeClient({ runtimes, state: dir }, { cgroupMode: 'hybrid' });
    t.regex(await hybrid.problem(crun), /^crun 1\.8\.1: cgroups in hybrid mode not supported/);
    t.regex(await hybrid.problem(crun), /hybrid/);
    t.is((await readFile(log, 'utf8')).trim().split('\n').length, 1, 'probed once');
    t.is(await hybrid.problem('/usr/sbin/runc'), '', 'runc runs on hybrid hosts (not probed)');
    t.is(await new RuntimeClient({ runtimes, state: dir }, { cgroupMode: 'v2' }).problem(crun), '');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
