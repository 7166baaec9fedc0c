// The release bundle: everything a node needs to run berth, under one top directory
// `berth-<version>/` that `berth node install` copies to /opt/berth/<version> (with
// /opt/berth/current pointing at it). Nothing in it points back into the build tree:
//
//   bin/berthd bin/berth bin/berth-shim   sh launchers: the bundled Node on the bundled build
//   lib/{server,shim,cli,wire,hostutil,metrics}/  the compiled code (no tests, conformance, bench)
//   proto/runtime/v1/api.proto            the CRI proto, loaded at run time (server/cri/proto.ts)
//   node_modules/                         production dependencies only, native addons built
//                                         for the bundled Node, sources and other platforms pruned
//   node/bin/node node/LICENSE            the Node 20 runtime this build ran on, and its licence
//   package.json                          name, version, "type": "module"
//   systemd/berth.service                 the unit (taken from the repo at build time)
//   etc/berth/config.toml                 `berthd --print-config` (the embedded defaults)
//   etc/cni/net.d/10-berth.conflist       `berth cni default`
//   debs/                                 (--with-debs) Debian packages for air-gapped nodes
//   VERSION                               the version, one line
//   berth-release.json                    version, arch, protocols, store schema, and the
//                                         sha256, size and mode of every other file
import { createHash } from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, cpSync, createReadStream, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, sep } from 'node:path';
import { BERTHD_ENV, BERTHD_NODE_FLAGS } from '../server/node-flags.js';
import { SHIM_PROTOCOL } from '../shim/job.js';
import { ADMIN_PROTOCOL } from '../server/admin-protocol.js';
import { migrations, minReaderSchema } from '../server/store/migrations.js';

/** The file at the bundle's top that describes it (read by `berth node install`). */
export const RELEASE_FILE = 'berth-release.json';
/** Where the unit lives in the repository (issue 12 item 1 owns its content). */
export const UNIT_SOURCE = 'packaging/systemd/berth.service';
/** What the unit runs: the launcher of the release `current` points at. */
export const UNIT_EXEC_START = '/opt/berth/current/bin/berthd';

export interface ReleaseFileEntry {
  path: string;
  sha256: string;
  size: number;
  mode: number;
}

export interface ReleaseInfo {
  name: 'berth';
  version: string;
  arch: string;
  node: string;
  protocols: { shim: number; admin: number };
  store: { schema: number; minReader: number };
  commit: string;
  debs: string[];
  files: ReleaseFileEntry[];
}

export interface BundleOptions {
  /** The repository checkout (package.json, proto/, packaging/, node_modules/). */
  repo: string;
  /** The compiled tree (`npm run build` output). */
  dist: string;
  outDir: string;
  version?: string;
  /** The unit file; default <repo>/packaging/systemd/berth.service. */
  unit?: string;
  withDebs?: boolean;
  /** false: stage the bundle directory only (tests that install it need no tarball). */
  tarball?: boolean;
  log?: (line: string) => void;
}

export interface BundleResult {
  tarball: string;
  sha256File: string;
  sha256: string;
  /** The staged top directory (removed unless keepStage). */
  stage: string;
  info: ReleaseInfo;
  bytes: { tarball: number; unpacked: number; node: number; nodeModules: number; lib: number; debs: number };
}

/** Node's name for the machine, as Debian and release file names spell it. */
export function releaseArch(arch = process.arch): string {
  return arch === 'x64' ? 'amd64' : arch;
}

const DIST_PARTS = ['server', 'shim', 'cli', 'metrics', 'wire', 'hostutil'];

/**
 * Files dropped from a copied package: docs, types, source maps, build intermediates;
 * in native-addon packages (`native`: a binding.gyp) also their C/C++ sources and vendored
 * libraries, keeping only the compiled addon; prebuilt addons for other platforms.
 */
function prunable(rel: string, native: boolean): boolean {
  const parts = rel.split(sep);
  const name = parts[parts.length - 1]!;
  if (/^LICEN[CS]E/i.test(name)) return false;
  if (/\.(d\.ts|d\.mts|d\.cts|map|md|markdown|ts|mts|cts|tsbuildinfo)$/i.test(name)) return true;
  if (parts.some((p) => ['test', 'tests', '__tests__', 'example', 'examples', '.github'].includes(p))) return true;
  if (parts[0] === 'prebuilds' && parts[1] && parts[1] !== `${process.platform}-${process.arch}`) return true;
  if (native) {
    if (['deps', 'src', 'third_party', 'node-addon-api', 'scripts'].includes(parts[0]!)) return true;
    // build/Release/<addon>.node is all a native package needs of its build tree.
    if (parts[0] === 'build') {
      const keep = parts.length === 1 || (parts[1] === 'Release' && (parts.length === 2 || (parts.length === 3 && name.endsWith('.node'))));
      if (!keep) return true;
    }
    if (name === 'test_extension.node' || /\.(gyp|gypi|cc|cpp|c|h|hpp)$/.test(name)) return true;
  }
  return false;
}

/**
 * The production dependency closure of the repository's package.json, resolved the way
 * Node resolves them (a package's own node_modules first, then its ancestors'): every
 * `dependencies` entry, and `optionalDependencies` / `peerDependencies` entries that are
 * installed. Dev dependencies, and anything else that happens to be in node_modules, are
 * left out; so are type-only packages. Looked up where node_modules really is (a worktree
 * may link to another checkout's). Returns that root and the package directories relative to it.
 */
function productionPackages(repo: string): { root: string; packages: string[] } {
  const root = dirname(realpathSync(join(repo, 'node_modules')));
  type Pkg = { dependencies?: Record<string, string>; optionalDependencies?: Record<string, string>; peerDependencies?: Record<string, string> };
  const found = new Set<string>();
  const resolve = (from: string, name: string): string | undefined => {
    for (let d = from; ; d = dirname(d)) {
      const cand = join(d, 'node_modules', name);
      if (existsSync(join(root, cand, 'package.json'))) return cand;
      if (d === '.' || d === '/' || d === '') return undefined;
    }
  };
  const visit = (dir: string, pkg: Pkg) => {
    const wanted: Array<[string, boolean]> = [
      ...Object.keys(pkg.dependencies ?? {}).map((n): [string, boolean] => [n, true]),
      ...Object.keys(pkg.optionalDependencies ?? {}).map((n): [string, boolean] => [n, false]),
      ...Object.keys(pkg.peerDependencies ?? {}).map((n): [string, boolean] => [n, false]),
    ];
    for (const [name, required] of wanted) {
      if (/^@types\//.test(name) || name === 'undici-types') continue;
      const at = resolve(dir, name);
      if (!at) {
        if (required) throw new Error(`${name} (a dependency of ${dir === '.' ? 'berth' : dir}) is not installed: run npm ci`);
        continue;
      }
      if (found.has(at)) continue;
      found.add(at);
      visit(at, JSON.parse(readFileSync(join(root, at, 'package.json'), 'utf8')) as Pkg);
    }
  };
  visit('.', JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as Pkg);
  return { root, packages: [...found].sort() };
}

function copyPackage(src: string, dst: string): void {
  const native = existsSync(join(src, 'binding.gyp'));
  cpSync(src, dst, {
    recursive: true,
    dereference: true,
    filter: (from) => {
      const rel = relative(src, from);
      if (!rel) return true;
      // Nested packages are copied on their own (npm ls lists them).
      if (rel.split(sep)[0] === 'node_modules') return false;
      return !prunable(rel, native);
    },
  });
}

function sha256File(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(file, { highWaterMark: 1 << 20 })
      .on('data', (c) => h.update(c))
      .on('end', () => resolve(h.digest('hex')))
      .on('error', reject);
  });
}

export function walkFiles(dir: string, base = dir): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...walkFiles(p, base));
    else if (e.isFile()) out.push(relative(base, p));
    else throw new Error(`${p}: only files and directories belong in a release bundle`);
  }
  return out;
}

function duBytes(dir: string): number {
  if (!existsSync(dir)) return 0;
  return walkFiles(dir).reduce((n, f) => n + statSync(join(dir, f)).size, 0);
}

/** The licence file that came with this Node binary (official tarball or a Debian/NodeSource package). */
function nodeLicense(execPath: string): string {
  const candidates = [
    join(dirname(execPath), '..', 'LICENSE'),
    join(dirname(execPath), '..', 'share', 'doc', 'node', 'LICENSE'),
    '/usr/share/doc/nodejs/LICENSE',
    '/usr/share/doc/nodejs/copyright',
  ];
  const found = candidates.find((c) => existsSync(c));
  if (!found) throw new Error(`cannot find the licence of ${execPath} (looked at ${candidates.join(', ')})`);
  return found;
}

function launcher(what: string, entry: string, nodeFlags: readonly string[], env: Readonly<Record<string, string>> = {}): string {
  // The environment is the default: an operator's own value (a unit's Environment=) wins.
  const exports = Object.entries(env).map(([k, v]) => `export ${k}="\${${k}:-${v}}"\n`).join('');
  return `#!/bin/sh
# ${what} from a berth release bundle: the bundled Node runs the bundled build.
# Symlinks (/usr/local/bin, /opt/berth/current) are resolved to the bundle first.
bundle=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd) || exit 1
${exports}exec "$bundle/node/bin/node" ${nodeFlags.map((f) => f + ' ').join('')}"$bundle/lib/${entry}" "$@"
`;
}

function gitCommit(repo: string): string {
  const r = spawnSync('git', ['-C', repo, 'rev-parse', 'HEAD'], { encoding: 'utf8' });
  if (r.status !== 0) return 'unknown';
  const dirty = spawnSync('git', ['-C', repo, 'status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8' }).stdout.trim();
  return r.stdout.trim() + (dirty ? '-dirty' : '');
}

function commitTime(repo: string): number {
  const r = spawnSync('git', ['-C', repo, 'log', '-1', '--format=%ct'], { encoding: 'utf8' });
  return Number(r.stdout.trim()) || Math.floor(Date.now() / 1000);
}

/** The Debian packages berth drives on a node (what `berth node install` checks for). */
export const RUNTIME_PACKAGES = ['runc', 'crun', 'conmon', 'catatonit', 'containernetworking-plugins'];

interface AptRecord {
  priority: string;
  essential: boolean;
  /** First alternative of each Pre-Depends and Depends entry. */
  deps: string[];
  provides: string[];
}

/** This host's apt lists: one record per package (the candidate version's fields). */
function aptRecords(): Map<string, AptRecord> {
  const text = execFileSync('apt-cache', ['dumpavail'], { encoding: 'utf8', maxBuffer: 512 << 20 });
  const out = new Map<string, AptRecord>();
  for (const para of text.split('\n\n')) {
    const name = /^Package: (\S+)$/m.exec(para)?.[1];
    if (!name || out.has(name)) continue;
    const field = (f: string) => new RegExp(`^${f}: (.*)$`, 'm').exec(para)?.[1] ?? '';
    const deps = [field('Pre-Depends'), field('Depends')]
      .flatMap((l) => (l ? l.split(',') : []))
      .map((g) => g.split('|')[0]!.trim().split(/[\s(:]/)[0]!)
      .filter(Boolean);
    const provides = field('Provides').split(',').map((x) => x.trim().split(/[\s(]/)[0]!).filter(Boolean);
    out.set(name, { priority: field('Priority') || 'optional', essential: field('Essential') === 'yes', deps, provides });
  }
  return out;
}

function closure(records: Map<string, AptRecord>, start: readonly string[]): Set<string> {
  const providers = new Map<string, string>();
  for (const [n, r] of records) for (const p of r.provides) if (!providers.has(p)) providers.set(p, n);
  const seen = new Set<string>();
  const queue = [...start];
  while (queue.length) {
    let n = queue.shift()!;
    if (!records.has(n) && providers.has(n)) n = providers.get(n)!;
    if (seen.has(n) || !records.has(n)) continue;
    seen.add(n);
    queue.push(...records.get(n)!.deps);
  }
  return seen;
}

/**
 * The packages to carry for an air-gapped minimal Debian: the runtime packages and their
 * dependency closure (Depends and Pre-Depends, first alternatives, no recommends), minus
 * what a minimal Debian always has (the closure of its Essential and required packages
 * and apt: what mmdebstrap's minbase installs; `important` ones such as netbase are not in it). From this host's apt lists. The
 * installer installs only those of them the node lacks, so an installed library is never
 * downgraded.
 */
function debsToCarry(): string[] {
  const records = aptRecords();
  const base = closure(records, [...[...records].filter(([, r]) => r.essential || r.priority === 'required').map(([n]) => n), 'apt']);
  return [...closure(records, RUNTIME_PACKAGES)].filter((n) => RUNTIME_PACKAGES.includes(n) || !base.has(n)).sort();
}

export async function buildBundle(opts: BundleOptions): Promise<BundleResult> {
  const log = opts.log ?? (() => undefined);
  const pkg = JSON.parse(readFileSync(join(opts.repo, 'package.json'), 'utf8')) as { version: string; license?: string };
  const version = opts.version ?? pkg.version;
  if (!/^[0-9A-Za-z][0-9A-Za-z.+_-]*$/.test(version)) throw new Error(`version "${version}" is not a plain version string`);
  const arch = releaseArch();
  const top = `berth-${version}`;
  const unit = opts.unit ?? join(opts.repo, UNIT_SOURCE);
  if (!existsSync(unit)) throw new Error(`${unit} is missing: the release bundle carries berth's systemd unit from the repository`);
  // The installer puts the bundle at /opt/berth/<version> with /opt/berth/current pointing at it.
  const execStart = /^ExecStart=(\S+)/m.exec(readFileSync(unit, 'utf8'))?.[1];
  if (execStart !== UNIT_EXEC_START) throw new Error(`${unit}: ExecStart must run ${UNIT_EXEC_START} (berth node install puts the bundle at /opt/berth/<version> and points /opt/berth/current at it), not ${execStart ?? 'nothing'}`);
  for (const part of ['server', 'shim', 'cli']) {
    if (!existsSync(join(opts.dist, part))) throw new Error(`${join(opts.dist, part)} is missing: run npm run build first`);
  }

  mkdirSync(opts.outDir, { recursive: true });
  const stageRoot = join(opts.outDir, `.stage-${process.pid}`);
  rmSync(stageRoot, { recursive: true, force: true });
  const stage = join(stageRoot, top);
  mkdirSync(stage, { recursive: true });

  // The compiled code, without source maps (their sources are not shipped).
  for (const part of DIST_PARTS) {
    const src = join(opts.dist, part);
    if (!existsSync(src)) continue;
    cpSync(src, join(stage, 'lib', part), { recursive: true, filter: (f) => !f.endsWith('.map') && !f.endsWith('.d.ts') });
  }
  cpSync(join(opts.repo, 'proto'), join(stage, 'proto'), { recursive: true });
  writeFileSync(join(stage, 'package.json'), JSON.stringify({ name: 'berth', version, private: true, type: 'module', license: pkg.license ?? 'Apache-2.0' }, null, 2) + '\n');

  log('copying production node_modules');
  const prod = productionPackages(opts.repo);
  for (const p of prod.packages) copyPackage(join(prod.root, p), join(stage, p));

  log(`copying the Node runtime ${process.execPath} (${process.version})`);
  mkdirSync(join(stage, 'node', 'bin'), { recursive: true });
  cpSync(process.execPath, join(stage, 'node', 'bin', 'node'), { dereference: true });
  chmodSync(join(stage, 'node', 'bin', 'node'), 0o755);
  cpSync(nodeLicense(process.execPath), join(stage, 'node', 'LICENSE'));

  mkdirSync(join(stage, 'bin'));
  for (const [name, entry, flags, env] of [
    ['berthd', 'server/main.js', BERTHD_NODE_FLAGS, BERTHD_ENV],
    ['berth', 'cli/berth.js', [], {}],
    ['berth-shim', 'shim/main.js', [], {}],
  ] as const) {
    writeFileSync(join(stage, 'bin', name), launcher(name, entry, flags, env), { mode: 0o755 });
  }

  mkdirSync(join(stage, 'systemd'));
  cpSync(unit, join(stage, 'systemd', 'berth.service'));

  // The defaults, printed by the bundle itself (also proves it starts outside the build tree).
  // --config /dev/null keeps this build host's /etc/berth/config.toml out of it.
  mkdirSync(join(stage, 'etc', 'berth'), { recursive: true });
  mkdirSync(join(stage, 'etc', 'cni', 'net.d'), { recursive: true });
  const env = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8' };
  const config = execFileSync(join(stage, 'bin', 'berthd'), ['--config', '/dev/null', '--print-config'], { encoding: 'utf8', env, cwd: '/' });
  writeFileSync(join(stage, 'etc', 'berth', 'config.toml'), `# berthd configuration (the embedded defaults, as \`berthd --print-config\` prints them).\n# Remove a key to keep following the default of future releases.\n${config}`);
  const conflist = execFileSync(join(stage, 'bin', 'berth'), ['cni', 'default'], { encoding: 'utf8', env, cwd: '/' });
  writeFileSync(join(stage, 'etc', 'cni', 'net.d', '10-berth.conflist'), conflist);
  // Every native addon loads in the bundled Node.
  for (const addon of walkFiles(join(stage, 'node_modules')).filter((f) => f.endsWith('.node'))) {
    execFileSync(join(stage, 'node', 'bin', 'node'), ['-e', `require(${JSON.stringify(join(stage, 'node_modules', addon))})`], { env, cwd: '/' });
  }

  let debs: string[] = [];
  if (opts.withDebs) {
    const pkgs = debsToCarry();
    log(`downloading ${pkgs.length} Debian packages: ${pkgs.join(' ')}`);
    mkdirSync(join(stage, 'debs'));
    execFileSync('apt-get', ['download', ...pkgs], { cwd: join(stage, 'debs'), stdio: ['ignore', 'ignore', 'inherit'] });
    debs = readdirSync(join(stage, 'debs')).filter((f) => f.endsWith('.deb')).sort();
  }

  writeFileSync(join(stage, 'VERSION'), version + '\n');
  const files: ReleaseFileEntry[] = [];
  for (const f of walkFiles(stage)) {
    const st = lstatSync(join(stage, f));
    files.push({ path: f, sha256: await sha256File(join(stage, f)), size: st.size, mode: st.mode & 0o7777 });
  }
  const info: ReleaseInfo = {
    name: 'berth',
    version,
    arch,
    node: process.version,
    protocols: { shim: SHIM_PROTOCOL, admin: ADMIN_PROTOCOL },
    store: { schema: migrations.length, minReader: minReaderSchema() },
    commit: gitCommit(opts.repo),
    debs,
    files,
  };
  writeFileSync(join(stage, RELEASE_FILE), JSON.stringify(info, null, 1) + '\n');

  const bytes = {
    tarball: 0,
    unpacked: files.reduce((n, f) => n + f.size, 0),
    node: statSync(join(stage, 'node', 'bin', 'node')).size,
    nodeModules: duBytes(join(stage, 'node_modules')),
    lib: duBytes(join(stage, 'lib')),
    debs: duBytes(join(stage, 'debs')),
  };
  if (opts.tarball === false) return { tarball: '', sha256File: '', sha256: '', stage, info, bytes };
  const tarball = join(opts.outDir, `${top}-linux-${arch}.tar.gz`);
  log(`writing ${tarball}`);
  // Reproducible: sorted names, owner root, every file dated by the commit.
  execFileSync('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', `--mtime=@${commitTime(opts.repo)}`, '-C', stageRoot, '-czf', tarball + '.part', top]);
  execFileSync('mv', ['-f', tarball + '.part', tarball]);
  const sha256 = await sha256File(tarball);
  const sha256File_ = tarball + '.sha256';
  writeFileSync(sha256File_, `${sha256}  ${basename(tarball)}\n`);

  bytes.tarball = statSync(tarball).size;
  return { tarball, sha256File: sha256File_, sha256, stage, info, bytes };
}
