// `npm run release`'s bundle: built once (tarball + .sha256), its listing (what is in it
// and what must not be: tests, conformance, bench, sources, source maps, type packages,
// dev dependencies), its checksums, and a copy extracted elsewhere that runs with the build
// tree and the system's Node hidden (a private mount namespace with a tmpfs over /work and
// /dev/null over /usr/bin/node): berthd starts from it on its own socket and state
// directories, answers CRI Version with the release's version and stops on SIGTERM; the
// bundled berth answers `version` and `cni default`; an admin client without the admin
// protocol header is refused.
import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildBundle, UNIT_SOURCE, type BundleResult } from '../../release/bundle.js';
import { readBundle, sha256, verifyTree } from '../../cli/node/bundle.js';
import { criCall } from '../../cli/node/cri.js';
import { ADMIN_PROTOCOL } from '../../server/admin-protocol.js';
import { request } from 'node:http';
import { isRoot, TEST_PREFIX } from '../helpers/berthd.js';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const dist = fileURLToPath(new URL('../../', import.meta.url));
let work = '';
let r: BundleResult;

test.before(async (t) => {
  if (!isRoot()) return;
  work = mkdtempSync(TEST_PREFIX + 'release-');
  const started = Date.now();
  r = await buildBundle({ repo, dist, outDir: join(work, 'out') });
  rmSync(join(r.stage, '..'), { recursive: true, force: true });
  t.log(`bundle built in ${((Date.now() - started) / 1000).toFixed(1)} s: ${(r.bytes.tarball / 1048576).toFixed(1)} MiB (unpacked ${(r.bytes.unpacked / 1048576).toFixed(1)} MiB, node_modules ${(r.bytes.nodeModules / 1048576).toFixed(1)} MiB)`);
});

test.after.always(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

const maybe = isRoot() ? test.serial : test.serial.skip;

maybe('the tarball holds one top directory with the launchers, the build, production modules, Node, unit, config and network; no tests, sources or dev dependencies', async (t) => {
  const v = r.info.version;
  t.regex(r.tarball, new RegExp(`/berth-${v.replace(/\./g, '\\.')}-linux-(amd64|arm64)\\.tar\\.gz$`));
  t.is(readFileSync(r.sha256File, 'utf8'), `${await sha256(r.tarball)}  ${r.tarball.split('/').pop()}\n`);
  const list = spawnSync('tar', ['-tzf', r.tarball], { encoding: 'utf8', maxBuffer: 64 << 20 }).stdout.trim().split('\n');
  t.true(list.every((p) => p.startsWith(`berth-${v}/`)));
  const files = new Set(list.map((p) => p.slice(`berth-${v}/`.length)));
  t.is(readFileSync(join(repo, UNIT_SOURCE), 'utf8'), spawnSync('tar', ['-xzOf', r.tarball, `berth-${v}/systemd/berth.service`], { encoding: 'utf8' }).stdout, 'the unit is the repository\'s');
  for (const f of ['bin/berthd', 'bin/berth', 'bin/berth-shim', 'lib/server/main.js', 'lib/shim/main.js', 'lib/cli/berth.js', 'lib/cli/node/install.js', 'lib/wire/cri/proto.js', 'lib/hostutil/exec.js', 'proto/runtime/v1/api.proto', 'node/bin/node', 'node/LICENSE', 'systemd/berth.service', 'etc/berth/config.toml', 'etc/cni/net.d/10-berth.conflist', 'VERSION', 'berth-release.json', 'package.json', 'node_modules/better-sqlite3/build/Release/better_sqlite3.node', 'node_modules/@grpc/grpc-js/package.json']) {
    t.true(files.has(f), f);
  }
  const unwanted = [...files].filter((f) => /^lib\/(test|conformance|bench|release)\/|\.map$|\.ts$|^node_modules\/(@types|typescript|ava)\/|\/(deps|src)\/.*\.(c|cc|h)$|prebuilds\/(darwin|win32)/.test(f));
  t.deepEqual(unwanted, []);
  t.deepEqual(r.info.files.map((f) => f.path).sort(), [...files].filter((f) => f && !f.endsWith('/') && f !== 'berth-release.json').sort(), 'berth-release.json lists every file');
});

maybe('extracted elsewhere, with the build tree and the system\'s Node hidden, berthd starts, answers Version and stops by its pid; berth runs too', async (t) => {
  const v = r.info.version;
  const at = join(work, 'elsewhere');
  mkdirSync(at);
  t.is(spawnSync('tar', ['-xzf', r.tarball, '-C', at]).status, 0);
  const b = readBundle(join(at, `berth-${v}`));
  t.is(await verifyTree(b.dir, b.info), undefined);
  const s = join(work, 's');
  mkdirSync(join(s, 'cni'), { recursive: true });
  // A private mount namespace: nothing of the build tree, no system Node.
  const hide = ['--mount', '--propagation', 'private', 'sh', '-c', 'mount -t tmpfs berth-test-hide /work && mount --bind /dev/null /usr/bin/node && exec env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin BERTH_TEST_RUN="$BERTH_TEST_RUN" "$0" "$@"'];
  const cli = spawnSync('unshare', [...hide, join(b.dir, 'bin/berth'), 'cni', 'default'], { encoding: 'utf8', env: { BERTH_TEST_RUN: work } });
  t.is(cli.status, 0, cli.stderr);
  t.is(JSON.parse(cli.stdout).plugins[0].bridge, 'berth0');
  const berthd = spawn('unshare', [...hide, join(b.dir, 'bin/berthd'), '--config', '/dev/null', '--socket', join(s, 'berth.sock'), '--root', join(s, 'root'), '--state', join(s, 'state'), '--cni-conf-dir', join(s, 'cni'), '--pod-log-root', join(s, 'logs'), '--shutdown-timeout', '5'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { BERTH_TEST_RUN: work },
  });
  let log = '';
  berthd.stderr.on('data', (c: Buffer) => (log += c.toString()));
  const exited = new Promise<number | null>((res) => berthd.once('exit', (code) => res(code)));
  t.teardown(() => {
    if (berthd.exitCode === null && berthd.signalCode === null) process.kill(berthd.pid!, 'SIGKILL');
  });
  let version: { runtime_name: string; runtime_version: string } | undefined;
  for (let i = 0; i < 200 && !version && berthd.exitCode === null; i++) {
    await new Promise((res) => setTimeout(res, 100));
    if (existsSync(join(s, 'berth.sock'))) version = await criCall<typeof version>(join(s, 'berth.sock'), 'Version', {}).catch(() => undefined);
  }
  t.truthy(version, log);
  t.deepEqual([version!.runtime_name, version!.runtime_version], ['berth', v]);
  const cmd = readFileSync(`/proc/${berthd.pid}/cmdline`, 'utf8').split('\0');
  t.is(cmd[0], join(b.dir, 'node/bin/node'), 'the bundled Node runs berthd');
  t.true(cmd.includes('--max-semi-space-size=1'));
  t.regex(readFileSync(`/proc/${berthd.pid}/environ`, 'utf8'), /(^|\0)GLIBC_TUNABLES=glibc\.malloc\.mmap_threshold=131072(\0|$)/, 'the launcher sets the allocator');
  const ver = spawnSync('unshare', [...hide, join(b.dir, 'bin/berth'), 'version', '--state', join(s, 'state')], { encoding: 'utf8', env: { BERTH_TEST_RUN: work } });
  t.regex(ver.stdout, new RegExp(`^berth ${v} \\(admin protocol \\d+, shim protocol \\d+, store schema \\d+\\)\\nberthd ${v} `), ver.stderr);
  // A client that does not speak the admin protocol is refused (412), naming the releases.
  const refused = await new Promise<{ status: number; body: string; protocol: unknown }>((res, rej) => {
    const req = request({ socketPath: join(s, 'state', 'admin.sock'), path: '/v1/images' }, (resp) => {
      let body = '';
      resp.on('data', (c: Buffer) => (body += c.toString()));
      resp.on('end', () => res({ status: resp.statusCode ?? 0, body, protocol: resp.headers['x-berth-admin-protocol'] }));
    });
    req.on('error', rej);
    req.end();
  });
  t.is(refused.status, 412);
  t.is(refused.protocol, String(ADMIN_PROTOCOL));
  t.regex(JSON.parse(refused.body).error, new RegExp(`^the berth command line \\(release unknown, admin protocol none\\) and the running berthd \\(release ${v.replace(/\./g, '\\.')}, admin protocol ${ADMIN_PROTOCOL}\\)`));
  process.kill(berthd.pid!, 'SIGTERM');
  t.is(await exited, 0, log);
  t.false(existsSync(join(s, 'berth.sock')));
});
