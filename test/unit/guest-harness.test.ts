// The test guest harness's host-side pieces that need no qemu: the shell quoting of the
// command written into the guest's run.sh, and the production node_modules (from
// package-lock) that go onto the guest's work disk, native addons included, dev tools not.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { productionModules, shq } from '../guest/vm.js';

test('shq: words come back unchanged through bash', (t) => {
  const words = ['plain', 'with space', "it's", '$HOME', '`id`', 'a"b', '', 'new\nline', '*', '--flag=x;y', 'é'];
  const r = spawnSync('bash', ['-c', `printf '%s\\0' ${words.map(shq).join(' ')}`], { encoding: 'utf8' });
  t.is(r.status, 0, r.stderr);
  t.deepEqual(r.stdout.split('\0').slice(0, -1), words);
});

test('productionModules: runtime dependencies and their native addons, no dev tools', (t) => {
  const mods = productionModules();
  for (const m of ['@grpc/grpc-js', 'better-sqlite3', 'node-pty', 'node-unix-socket', 'smol-toml', 'winston']) t.true(mods.includes(m), m);
  // (@types/node stays: protobufjs depends on it at run time.)
  for (const m of ['ava', 'typescript', '@types/ws', '@types/better-sqlite3']) t.false(mods.includes(m), m);
});
