// The installer image, written as an OCI image layout by our own code: no Docker daemon,
// no base image. `npm run release:image` (after `npm run release`), or
//   node dist/release/image.js [--tarball FILE|DIR | --bundle DIR] [--out DIR] [--push URL]
// One gzip layer holds:
//   /opt/berth-release/            the release bundle itself (berthd, berth, the Node runtime,
//                                  production node_modules), checked against its checksums first
//   /usr/local/bin/berth{,d}       links to its launchers (the chart runs `berth node install
//                                  --host-root /host …` and `berth metrics-proxy …`)
//   the ELF closure the image runs: the dynamic loader and the shared libraries (found with
//   ldd, copied from this build host) of the bundled Node, of every native addon in the
//   bundle, and of the few host programs the installer needs inside the container: nsenter
//   (host commands run through it into PID 1's namespaces), and sh, readlink and dirname
//   (the bundle's launchers are shell scripts)
//   /etc/passwd and /etc/group (root, nobody: the metrics proxy runs as 65534), /tmp, /host
// Paths use Debian's merged /usr (bin, sbin, lib, lib64 are links into usr/). The layout's
// index.json names the image `<version>` (org.opencontainers.image.ref.name); --push sends
// it to a registry (distribution API; http:// for a loopback registry, basic auth from
// BERTH_REGISTRY_AUTH=user:password).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, posix, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { readBundle, verifyTree } from '../cli/node/bundle.js';
import { writeTar, type TarFile } from './tar.js';

export const MEDIA = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar+gzip',
} as const;

/** Where the bundle goes in the image. */
export const IMAGE_BUNDLE = '/opt/berth-release';
/** Host programs the installer runs inside its container, and the name each gets there. */
const TOOLS: Array<{ name: string; candidates: string[]; as: string }> = [
  { name: 'nsenter', candidates: ['/usr/bin/nsenter', '/bin/nsenter'], as: '/usr/bin/nsenter' },
  { name: 'dash', candidates: ['/usr/bin/dash', '/bin/dash'], as: '/usr/bin/dash' },
  { name: 'readlink', candidates: ['/usr/bin/readlink', '/bin/readlink'], as: '/usr/bin/readlink' },
  { name: 'dirname', candidates: ['/usr/bin/dirname', '/bin/dirname'], as: '/usr/bin/dirname' },
];

export interface ImageOptions {
  /** An extracted release bundle (its top directory, berth-<version>/). */
  bundle: string;
  /** The OCI layout directory to write (created; must not exist or be empty). */
  out: string;
  log?: (line: string) => void;
}

export interface ImageResult {
  layout: string;
  version: string;
  manifestDigest: string;
  layerBytes: number;
  layerUnpackedBytes: number;
  /** Shared libraries copied from the build host. */
  libraries: string[];
}

const sha256 = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** Maps a host path to its place in the image's merged-/usr tree (relative, no leading /). */
export function imagePath(p: string): string {
  const n = posix.normalize(p).replace(/^\/+/, '');
  const m = /^(bin|sbin|lib|lib32|lib64|libx32)(\/.*)?$/.exec(n);
  return m ? `usr/${n}` : n;
}

function isElf(file: string): boolean {
  const b = readFileSync(file).subarray(0, 4);
  return b.length === 4 && b[0] === 0x7f && b.toString('latin1', 1, 4) === 'ELF';
}

/** The shared objects an ELF file loads (ldd), as the paths the loader will look them up by. */
export function sharedLibraries(file: string): string[] {
  const r = spawnSync('ldd', [file], { encoding: 'utf8' });
  if (r.status !== 0) {
    if (/not a dynamic executable/.test(r.stdout + r.stderr)) return [];
    throw new Error(`ldd ${file}: ${(r.stderr || r.stdout).trim()}`);
  }
  const out: string[] = [];
  for (const line of r.stdout.split('\n')) {
    if (/=> not found/.test(line)) throw new Error(`${file} needs ${line.trim().split(' ')[0]}, which this build host does not have`);
    const m = /=>\s+(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(0x/.exec(line);
    if (m) out.push(m[1]!);
  }
  return out;
}

function walk(dir: string, rel = ''): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(dir, rel), { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const p = rel ? `${rel}/${e.name}` : e.name;
    out.push(p);
    if (e.isDirectory()) out.push(...walk(dir, p));
  }
  return out;
}

/** Builds the installer image's OCI layout from an extracted release bundle. */
export async function buildInstallerImage(opts: ImageOptions): Promise<ImageResult> {
  const log = opts.log ?? (() => {});
  const b = readBundle(opts.bundle);
  const damaged = await verifyTree(b.dir, b.info);
  if (damaged) throw new Error(`the bundle in ${b.dir} is damaged: ${damaged}`);
  const version = b.info.version;
  const mtime = 0;
  const entries: TarFile[] = [];
  const dirs = new Set<string>();
  const addDir = (p: string, mode = 0o755) => {
    if (p === '' || dirs.has(p)) return;
    addDir(posix.dirname(p) === '.' ? '' : posix.dirname(p));
    dirs.add(p);
    entries.push({ path: p, type: 'dir', mode, mtime });
  };
  const files = new Set<string>();
  const addFile = (p: string, content: Buffer | string, mode: number) => {
    if (files.has(p)) return;
    addDir(posix.dirname(p) === '.' ? '' : posix.dirname(p));
    files.add(p);
    entries.push({ path: p, content, mode, mtime });
  };
  const addLink = (p: string, target: string) => {
    addDir(posix.dirname(p) === '.' ? '' : posix.dirname(p));
    files.add(p);
    entries.push({ path: p, type: 'symlink', linkname: target, mtime });
  };

  // Merged /usr, as Debian 12.
  for (const d of ['usr/bin', 'usr/sbin', 'usr/lib', 'usr/lib64', 'usr/local/bin', 'etc', 'root', 'host', 'opt']) addDir(d, d === 'root' ? 0o700 : 0o755);
  addDir('tmp', 0o1777);
  for (const l of ['bin', 'sbin', 'lib', 'lib64']) addLink(l, `usr/${l}`);

  // The bundle, as it is (modes kept; every file is in its checksum list).
  const top = IMAGE_BUNDLE.slice(1);
  addDir(top);
  const elves: string[] = [];
  let unpacked = 0;
  for (const rel of walk(b.dir)) {
    const src = join(b.dir, rel);
    const st = lstatSync(src);
    const dst = `${top}/${rel}`;
    if (st.isSymbolicLink()) addLink(dst, readlinkSync(src));
    else if (st.isDirectory()) addDir(dst, st.mode & 0o7777);
    else if (st.isFile()) {
      addFile(dst, readFileSync(src), st.mode & 0o7777);
      unpacked += st.size;
      if (rel === 'node/bin/node' || rel.endsWith('.node')) elves.push(src);
    } else throw new Error(`${src}: only files, directories and links belong in the image`);
  }
  for (const name of ['berth', 'berthd']) addLink(`usr/local/bin/${name}`, `${IMAGE_BUNDLE}/bin/${name}`);

  // The programs the installer runs in its container, and everything they all load.
  for (const t of TOOLS) {
    const found = t.candidates.find((c) => existsSync(c));
    if (!found) throw new Error(`the installer image needs ${t.name} from this build host (looked at ${t.candidates.join(', ')})`);
    addFile(imagePath(t.as), readFileSync(realpathSync(found)), 0o755);
    elves.push(found);
  }
  addLink('usr/bin/sh', 'dash');
  const libraries = new Set<string>();
  for (const f of elves) {
    if (!isElf(f)) continue;
    for (const lib of sharedLibraries(f)) libraries.add(lib);
  }
  for (const lib of [...libraries].sort()) {
    const real = realpathSync(lib);
    addFile(imagePath(lib), readFileSync(real), statSync(real).mode & 0o755);
    unpacked += statSync(real).size;
  }
  addFile('etc/passwd', 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n', 0o644);
  addFile('etc/group', 'root:x:0:\nnogroup:x:65534:\n', 0o644);
  addFile('etc/berth-installer-release', `${version}\n`, 0o644);

  log(`layer: ${entries.length} entries, ${(unpacked / 1048576).toFixed(1)} MiB of files, ${libraries.size} shared libraries from this host`);
  const tar = writeTar(entries);
  const diffId = sha256(tar);
  const layer = await promisify(gzip)(tar, { level: 6 });
  const layerDigest = sha256(layer);

  const arch = ({ x64: 'amd64', arm64: 'arm64' } as Record<string, string>)[process.arch] ?? process.arch;
  if (b.info.arch !== arch) throw new Error(`the bundle is for ${b.info.arch}, this build host is ${arch}: its libraries would not match`);
  const created = new Date(0).toISOString();
  const config = Buffer.from(
    JSON.stringify({
      created,
      architecture: arch,
      os: 'linux',
      config: {
        Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
        Cmd: ['berth'],
        WorkingDir: '/',
        Labels: { 'org.opencontainers.image.title': 'berth installer', 'org.opencontainers.image.version': version, 'org.opencontainers.image.revision': b.info.commit },
      },
      rootfs: { type: 'layers', diff_ids: [diffId] },
      history: [{ created, created_by: `berth release/image.ts from berth-${version}` }],
    }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA.manifest,
      config: { mediaType: MEDIA.config, digest: sha256(config), size: config.length },
      layers: [{ mediaType: MEDIA.layer, digest: layerDigest, size: layer.length }],
      annotations: { 'org.opencontainers.image.version': version },
    }),
  );
  const manifestDigest = sha256(manifest);
  const index = {
    schemaVersion: 2,
    mediaType: MEDIA.index,
    manifests: [{ mediaType: MEDIA.manifest, digest: manifestDigest, size: manifest.length, platform: { architecture: arch, os: 'linux' }, annotations: { 'org.opencontainers.image.ref.name': version } }],
  };

  if (existsSync(opts.out) && readdirSync(opts.out).length > 0) throw new Error(`${opts.out} exists and is not empty`);
  mkdirSync(join(opts.out, 'blobs/sha256'), { recursive: true });
  for (const blob of [layer, config, manifest]) writeFileSync(join(opts.out, 'blobs/sha256', sha256(blob).slice(7)), blob);
  writeFileSync(join(opts.out, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(join(opts.out, 'index.json'), JSON.stringify(index));
  return { layout: opts.out, version, manifestDigest, layerBytes: layer.length, layerUnpackedBytes: tar.length, libraries: [...libraries].sort() };
}

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

/** The one image of a layout this script wrote: its manifest descriptor and the blobs it needs. */
async function layoutImage(layout: string): Promise<{ manifest: Descriptor; blobs: Descriptor[] }> {
  const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as { manifests: Descriptor[] };
  const manifest = index.manifests[0];
  if (!manifest || index.manifests.length !== 1) throw new Error(`${layout}: expected one image in index.json`);
  const m = JSON.parse(await readFile(join(layout, 'blobs/sha256', manifest.digest.slice(7)), 'utf8')) as { config: Descriptor; layers: Descriptor[] };
  return { manifest, blobs: [...m.layers, m.config] };
}

/**
 * Pushes the layout's image to `http(s)://host[:port]/repo[:tag]` with the distribution API
 * (blobs the registry lacks in one monolithic upload each, then the manifest under the tag,
 * default the image's version). Returns the pushed reference.
 */
export async function pushLayout(layout: string, target: string, auth?: string): Promise<string> {
  const url = new URL(target);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`--push ${target}: give http(s)://registry/repository[:tag]`);
  const { manifest, blobs } = await layoutImage(layout);
  const path = url.pathname.replace(/^\/+/, '');
  const colon = path.lastIndexOf(':');
  const repo = colon > path.lastIndexOf('/') ? path.slice(0, colon) : path;
  const tag = colon > path.lastIndexOf('/') ? path.slice(colon + 1) : manifest.annotations?.['org.opencontainers.image.ref.name'];
  if (!/^[a-z0-9]+([._/-][a-z0-9]+)*$/.test(repo) || !tag || !/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(tag)) throw new Error(`--push ${target}: not a repository[:tag]`);
  const base = `${url.protocol}//${url.host}`;
  const headers: Record<string, string> = auth ? { authorization: `Basic ${Buffer.from(auth).toString('base64')}` } : {};
  const ok = async (res: Response, what: string) => {
    if (!res.ok) throw new Error(`${what}: HTTP ${res.status} ${(await res.text()).slice(0, 300)}`);
    return res;
  };
  for (const d of blobs) {
    if ((await fetch(`${base}/v2/${repo}/blobs/${d.digest}`, { method: 'HEAD', headers })).ok) continue;
    const start = await ok(await fetch(`${base}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers }), `start the upload of ${d.digest}`);
    const loc = new URL(start.headers.get('location') ?? '', base);
    loc.searchParams.set('digest', d.digest);
    const data = await readFile(join(layout, 'blobs/sha256', d.digest.slice(7)));
    await ok(await fetch(loc, { method: 'PUT', headers: { ...headers, 'content-type': 'application/octet-stream', 'content-length': String(data.length) }, body: data }), `upload of ${d.digest}`);
  }
  const body = await readFile(join(layout, 'blobs/sha256', manifest.digest.slice(7)));
  await ok(await fetch(`${base}/v2/${repo}/manifests/${tag}`, { method: 'PUT', headers: { ...headers, 'content-type': manifest.mediaType }, body }), `the manifest of ${repo}:${tag}`);
  return `${url.host}/${repo}:${tag}`;
}

/** FILE itself, or the newest berth-*-linux-*.tar.gz in a directory. */
function tarballIn(path: string): string {
  if (!statSync(path).isDirectory()) return path;
  const newest = readdirSync(path)
    .filter((n) => /^berth-.*-linux-.*\.tar\.gz$/.test(n))
    .map((n) => join(path, n))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
  if (!newest) throw new Error(`no berth-*-linux-*.tar.gz in ${path} (run npm run release first)`);
  return newest;
}

async function main(): Promise<void> {
  const repo = fileURLToPath(new URL('../../', import.meta.url));
  const { values } = parseArgs({
    options: { tarball: { type: 'string' }, bundle: { type: 'string' }, out: { type: 'string' }, push: { type: 'string' } },
    strict: true,
  });
  if (values.tarball && values.bundle) throw new Error('give --tarball or --bundle, not both');
  const started = Date.now();
  let bundle = values.bundle;
  let work: string | undefined;
  try {
    if (!bundle) {
      const tarball = tarballIn(values.tarball ?? resolve(repo, 'out'));
      work = mkdtempSync(join(tmpdir(), 'berth-image-'));
      const r = spawnSync('tar', ['-xzf', tarball, '-C', work], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`tar -xzf ${tarball}: ${r.stderr.trim()}`);
      bundle = join(work, readdirSync(work).find((n) => n.startsWith('berth-'))!);
      console.log(`image: from ${basename(tarball)}`);
    }
    const version = readBundle(bundle).info.version;
    const out = resolve(values.out ?? join(repo, 'out', `berth-installer-${version}-oci`));
    rmSync(out, { recursive: true, force: true });
    const r = await buildInstallerImage({ bundle, out, log: (l) => console.log(`image: ${l}`) });
    console.log(`image: ${r.layout} (OCI layout, ${r.manifestDigest}; layer ${(r.layerBytes / 1048576).toFixed(1)} MiB, ${(r.layerUnpackedBytes / 1048576).toFixed(1)} MiB unpacked) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    if (values.push) console.log(`image: pushed ${await pushLayout(r.layout, values.push, process.env.BERTH_REGISTRY_AUTH)}`);
  } finally {
    if (work) rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e: unknown) => {
    console.error(`image: ${(e as Error).message}`);
    process.exitCode = 1;
  });
}
