// Pure parts of the containers module: overlay options, log path containment, exit
// reasons, the crun/hybrid check, conmon's argv, and the layered /etc/passwd lookup.
import test from 'ava';
import { mkdtempSync, mkdirSync, writeFileSync, symlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { overlayMountOptions } from '../../shim/rootfs.js';
import { conmonArgs } from '../../server/runtime/conmon.js';
import { conmonFiles } from '../../server/runtime/files.js';
import { containerLogPath } from '../../server/container/create.js';
import { exitReason } from '../../server/container/exits.js';
import { handlerCgroupProblem, resolveDefaultRuntime } from '../../server/runtime/handlers.js';
import { readLayeredFile } from '../../server/container/user-files.js';

test('overlay options: top layer first, relative names, one-page limit', (t) => {
  t.is(overlayMountOptions({ lower: ['b', 'a'], upper: '/u', work: '/w' }), 'lowerdir=b:a,upperdir=/u,workdir=/w');
  t.throws(() => overlayMountOptions({ lower: [], upper: '/u', work: '/w' }));
  t.throws(() => overlayMountOptions({ lower: ['a:b'], upper: '/u', work: '/w' }));
  const many = Array.from({ length: 60 }, (_, i) => i.toString(16).padStart(64, '0'));
  t.notThrows(() => overlayMountOptions({ lower: many, upper: '/u', work: '/w' }));
  t.throws(() => overlayMountOptions({ lower: [...many, ...many], upper: '/u', work: '/w' }), { message: /too many layers/ });
});

test('log path stays inside the pod log directory', (t) => {
  t.is(containerLogPath('/var/log/pods/p', 'c/0.log'), '/var/log/pods/p/c/0.log');
  t.is(containerLogPath('', 'c/0.log'), '');
  t.is(containerLogPath('/var/log/pods/p', ''), '');
  t.throws(() => containerLogPath('/var/log/pods/p', '../q/0.log'), { message: /escapes/ });
  t.throws(() => containerLogPath('/var/log/pods/p', '/etc/passwd'), { message: /relative/ });
});

test('exit reasons', (t) => {
  t.is(exitReason(0, false), 'Completed');
  t.is(exitReason(1, false), 'Error');
  t.is(exitReason(137, true), 'OOMKilled');
});

test('crun is refused only on hybrid cgroup hosts', (t) => {
  t.regex(handlerCgroupProblem('/usr/bin/crun', 'crun version 1.8.1\ncommit: x', 'hybrid'), /crun 1\.8\.1: cgroups in hybrid mode not supported/);
  t.is(handlerCgroupProblem('/usr/bin/crun', 'crun version 1.8.1', 'v2'), '');
  t.is(handlerCgroupProblem('/usr/sbin/runc', '', 'hybrid'), '');
});

/** conmon's argv for container abc under a runtime, with stdin and a tty or without. */
function conmonArgsFor(runtime: { name: string; path: string }, interactive: boolean): string[] {
  return conmonArgs({
    id: 'abc',
    name: 'n',
    runtime: { ...runtime, root: `/run/berth/${runtime.name}` },
    files: conmonFiles('/run/berth/containers/abc', '/run/berth/exits', '/run/berth/sock', 'abc'),
    logPath: '/var/log/pods/p/c/0.log',
    stdin: interactive,
    stdinOnce: false,
    tty: interactive,
  });
}

test('conmon argv carries the flags berth relies on', (t) => {
  const a = conmonArgsFor({ name: 'runc', path: '/usr/sbin/runc' }, true);
  const flag = (f: string) => a[a.indexOf(f) + 1];
  t.is(flag('-p'), '/run/berth/containers/abc/pidfile');
  t.is(flag('-P'), '/run/berth/containers/abc/conmon.pid');
  t.is(flag('--socket-dir-path'), '/run/berth/sock');
  t.is(flag('--exit-dir'), '/run/berth/exits');
  t.is(flag('--persist-dir'), '/run/berth/containers/abc');
  t.is(flag('-l'), 'k8s-file:/var/log/pods/p/c/0.log');
  t.is(flag('--runtime-arg'), '--root=/run/berth/runc');
  t.true(a.includes('-i') && a.includes('-t') && a.includes('--leave-stdin-open') && a.includes('--syslog=false'));
  // runc's warnings go to a log in the bundle, not to the container's stderr.
  t.true(a.includes('--log=/run/berth/containers/abc/runtime-log.json') && a.includes('--log-format=json'));
  const crun = conmonArgsFor({ name: 'crun', path: '/usr/bin/crun' }, false);
  t.false(crun.some((x) => x.startsWith('--log')), 'crun keeps its error on stderr, where conmon reports it');
});

test('the image passwd is found top-down through layers and symlinks', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-unit-layers-'));
  try {
    const base = join(dir, 'base');
    const mid = join(dir, 'mid');
    const top = join(dir, 'top');
    for (const l of [base, mid, top]) mkdirSync(join(l, 'etc'), { recursive: true });
    writeFileSync(join(base, 'etc/passwd'), 'root:x:0:0::/:/bin/sh\n');
    writeFileSync(join(base, 'etc/group'), 'root:x:0:\n');
    writeFileSync(join(mid, 'etc/passwd.real'), 'app:x:5:5::/:/bin/sh\n');
    symlinkSync('passwd.real', join(mid, 'etc/passwd'));
    writeFileSync(join(top, 'etc/other'), '');
    t.is(await readLayeredFile([top, mid, base], '/etc/passwd'), 'app:x:5:5::/:/bin/sh\n');
    t.is(await readLayeredFile([top, mid, base], '/etc/group'), 'root:x:0:\n');
    t.is(await readLayeredFile([top, mid, base], '/etc/shadow'), null);
    t.is(await readLayeredFile([base], '/etc/passwd'), 'root:x:0:0::/:/bin/sh\n');
    // An absolute symlink stays inside the image.
    const abs = join(dir, 'abs');
    mkdirSync(join(abs, 'etc'), { recursive: true });
    symlinkSync('/etc/group', join(abs, 'etc/passwd'));
    t.is(await readLayeredFile([abs, base], '/etc/passwd'), 'root:x:0:\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('default_runtime auto: crun on cgroup v2 where its binary is there, runc elsewhere; a name is taken as configured', (t) => {
  const runtimes = { runc: { path: '/usr/sbin/runc', root: '/run/berth/runc' }, crun: { path: '/usr/bin/crun', root: '/run/berth/crun' } };
  const auto = { default_runtime: 'auto', runtimes };
  t.is(resolveDefaultRuntime(auto, 'v2', true).name, 'crun');
  t.regex(resolveDefaultRuntime(auto, 'v2', false).why, /\/usr\/bin\/crun is missing/);
  t.is(resolveDefaultRuntime(auto, 'v2', false).name, 'runc');
  t.is(resolveDefaultRuntime(auto, 'hybrid', true).name, 'runc', 'crun refuses hybrid hosts');
  t.is(resolveDefaultRuntime(auto, 'v1', true).name, 'runc');
  t.is(resolveDefaultRuntime({ default_runtime: 'auto', runtimes: { runc: runtimes.runc } }, 'v2', true).name, 'runc', 'no crun handler configured');
  t.is(resolveDefaultRuntime({ default_runtime: 'auto', runtimes: { kata: runtimes.runc } }, 'hybrid', false).name, 'kata');
  t.deepEqual(resolveDefaultRuntime({ default_runtime: 'runc', runtimes }, 'v2', true), { name: 'runc', why: 'configured' });
});
