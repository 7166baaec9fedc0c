// berthd's configuration (server/config.ts): embedded defaults, the TOML file, flags over
// both, refusals that name the key, and --print-config round-tripping.
import test from 'ava';
import { defaultConfig, mergeConfig, parseConfigText, parseFlags, validateConfig, printConfig, loadConfig } from '../../server/config.js';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';

test('defaults are complete and valid', (t) => {
  const c = validateConfig(defaultConfig());
  t.is(c.socket, '/run/berth/berth.sock');
  t.is(c.root, '/var/lib/berth');
  t.deepEqual(c.pod_log_roots, ['/var/log/pods']);
  t.is(c.runtimes.runc!.root, '/run/berth/runc', 'handler roots derive from the state dir');
  t.deepEqual(c.cni.bin_dirs, ['/opt/cni/bin', '/usr/lib/cni']);
});

test('the file overrides defaults, tables merge, and new runtime handlers can be added', (t) => {
  const c = validateConfig(
    mergeConfig(defaultConfig(), parseConfigText('state = "/run/b2"\npod_log_roots = ["/var/log/pods", "/tmp/logs/"]\n[cni]\nifname = "net0"\n[runtimes.kata]\npath = "/usr/bin/kata"\n', 'x.toml')),
  );
  t.is(c.cni.ifname, 'net0');
  t.is(c.cni.conf_dir, '/etc/cni/net.d', 'untouched keys of a table keep their defaults');
  t.deepEqual(c.pod_log_roots, ['/var/log/pods', '/tmp/logs']);
  t.is(c.runtimes.kata!.root, '/run/b2/kata');
  t.is(c.runtimes.runc!.root, '/run/b2/runc');
});

test('unknown keys, wrong types and bad values are refused with the key named', (t) => {
  t.throws(() => mergeConfig(defaultConfig(), { sokcet: '/x' }), { message: /unknown key "sokcet"/ });
  t.throws(() => mergeConfig(defaultConfig(), { cni: { conf_dri: '/x' } }), { message: /unknown key "cni.conf_dri"/ });
  t.throws(() => mergeConfig(defaultConfig(), { cni: 'x' }), { message: /"cni" must be a table/ });
  t.throws(() => mergeConfig(defaultConfig(), { shutdown_timeout_seconds: 'soon' }), { message: /must be a number/ });
  t.throws(() => validateConfig(mergeConfig(defaultConfig(), { root: 'relative' })), { message: /root must be an absolute path/ });
  t.throws(() => validateConfig(mergeConfig(defaultConfig(), { default_runtime: 'nope' })), { message: /default_runtime "nope"/ });
  t.throws(() => validateConfig(mergeConfig(defaultConfig(), { runtimes: { auto: { path: '/usr/bin/x' } } })), { message: /"auto" is not a runtime handler name/ });
  t.throws(() => validateConfig(mergeConfig(defaultConfig(), { pod_log_roots: [] })), { message: /at least one/ });
  t.throws(() => parseConfigText('socket = ', 'bad.toml'), { message: /cannot parse bad.toml/ });
});

test('flags override the file; --print-config prints TOML that parses back to the same config', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-cfg-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'c.toml');
  writeFileSync(file, 'socket = "/run/from-file.sock"\nlog_level = "warn"\n');
  const { config } = loadConfig(['--config', file, '--socket=/run/flag.sock', '--pod-log-root', '/a', '--pod-log-root', '/b', '--shutdown-timeout', '3']);
  t.is(config.socket, '/run/flag.sock');
  t.is(config.log_level, 'warn');
  t.deepEqual(config.pod_log_roots, ['/a', '/b']);
  t.is(config.shutdown_timeout_seconds, 3);
  const again = validateConfig(mergeConfig(defaultConfig(), parseConfigText(printConfig(config), 'printed')));
  t.deepEqual(again, config);
  t.throws(() => parseFlags(['--bogus']), { message: /unknown flag --bogus/ });
  t.throws(() => parseFlags(['--socket']), { message: /needs a value/ });
  t.throws(() => loadConfig(['--config', join(dir, 'missing.toml')]), { message: /does not exist/ });
});

test('shim_spares is a small non-negative integer', (t) => {
  t.is(validateConfig(defaultConfig()).shim_spares, 1);
  t.is(validateConfig(mergeConfig(defaultConfig(), { shim_spares: 0 })).shim_spares, 0);
  t.throws(() => validateConfig(mergeConfig(defaultConfig(), { shim_spares: -1 })), { message: /shim_spares/ });
  t.throws(() => validateConfig(mergeConfig(defaultConfig(), { shim_spares: 1.5 })), { message: /shim_spares/ });
});

test('cgroup_driver: auto by default, cgroupfs and systemd accepted, anything else refused; print-config notes the effective driver', (t) => {
  t.is(defaultConfig().cgroup_driver, 'auto');
  for (const d of ['auto', 'cgroupfs', 'systemd'] as const) t.is(validateConfig(mergeConfig(defaultConfig(), { cgroup_driver: d })).cgroup_driver, d);
  t.throws(() => validateConfig(mergeConfig(defaultConfig(), { cgroup_driver: 'cgroupv2' })), { message: /cgroup_driver must be auto, cgroupfs or systemd/ });
  const printed = printConfig(defaultConfig(), { cgroupDriver: 'systemd', why: 'cgroup v2, systemd is PID 1' });
  t.true(printed.startsWith('# effective cgroup_driver: systemd (cgroup v2, systemd is PID 1)\n'));
  t.deepEqual(validateConfig(mergeConfig(defaultConfig(), parseConfigText(printed, 'printed'))), validateConfig(defaultConfig()), 'the note is a comment');
});
