// Builds OCI (or Docker schema 2) images in memory for tests: layers from tar entries
// (gzip, zstd or uncompressed), a config with user/entrypoint/env…, multi-platform
// indexes; and pushes them to a registry with the distribution API.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { writeTar, type TarFile } from './tar.js';

export type LayerCompression = 'gzip' | 'zstd' | 'none';

export interface LayerSpec {
  entries: readonly TarFile[];
  compression?: LayerCompression;
  /** Override the media type (to test unknown ones). */
  mediaType?: string;
  /** Use these bytes as the uncompressed tar instead of writing `entries`. */
  rawTar?: Buffer;
}

export interface ImageConfigSpec {
  User?: string;
  Entrypoint?: string[];
  Cmd?: string[];
  Env?: string[];
  WorkingDir?: string;
  Labels?: Record<string, string>;
  ExposedPorts?: Record<string, object>;
  Volumes?: Record<string, object>;
  StopSignal?: string;
}

export interface ImageSpec {
  layers: readonly LayerSpec[];
  config?: ImageConfigSpec;
  os?: string;
  architecture?: string;
  variant?: string;
  /** 'oci' (default) or 'docker' (schema 2 media types). */
  format?: 'oci' | 'docker';
}

export interface Blob {
  digest: string;
  mediaType: string;
  size: number;
  data: Buffer;
}

export interface BuiltImage {
  manifest: Blob;
  config: Blob;
  layers: (Blob & { diffId: string; tar: Buffer })[];
  platform: { os: string; architecture: string; variant?: string };
}

export interface BuiltIndex {
  index: Blob;
  images: BuiltImage[];
}

export function sha256(b: Buffer | string): string {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`;
}

/** The architecture name images use for this machine. */
export function hostArchitecture(): string {
  return ({ x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386' } as Record<string, string>)[process.arch] ?? process.arch;
}

export function zstdCompress(data: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const p = spawn('zstd', ['-q', '-c', '-3'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    p.stdout.on('data', (b: Buffer) => out.push(b));
    p.stderr.on('data', (b: Buffer) => (err += b.toString()));
    p.on('error', reject);
    p.on('close', (code) => (code === 0 ? resolve(Buffer.concat(out)) : reject(new Error(`zstd exited ${code}: ${err}`))));
    p.stdin.end(data);
  });
}

const MT = {
  oci: {
    manifest: 'application/vnd.oci.image.manifest.v1+json',
    index: 'application/vnd.oci.image.index.v1+json',
    config: 'application/vnd.oci.image.config.v1+json',
    layer: { none: 'application/vnd.oci.image.layer.v1.tar', gzip: 'application/vnd.oci.image.layer.v1.tar+gzip', zstd: 'application/vnd.oci.image.layer.v1.tar+zstd' },
  },
  docker: {
    manifest: 'application/vnd.docker.distribution.manifest.v2+json',
    index: 'application/vnd.docker.distribution.manifest.list.v2+json',
    config: 'application/vnd.docker.container.image.v1+json',
    layer: { none: 'application/vnd.docker.image.rootfs.diff.tar', gzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip', zstd: 'application/vnd.oci.image.layer.v1.tar+zstd' },
  },
} as const;

function blob(mediaType: string, data: Buffer): Blob {
  return { digest: sha256(data), mediaType, size: data.length, data };
}

export async function buildLayer(spec: LayerSpec, format: 'oci' | 'docker' = 'oci'): Promise<Blob & { diffId: string; tar: Buffer }> {
  const tar = spec.rawTar ?? writeTar(spec.entries);
  const c = spec.compression ?? 'gzip';
  const data = c === 'gzip' ? gzipSync(tar) : c === 'zstd' ? await zstdCompress(tar) : tar;
  return { ...blob(spec.mediaType ?? MT[format].layer[c], data), diffId: sha256(tar), tar };
}

export async function buildImage(spec: ImageSpec): Promise<BuiltImage> {
  const format = spec.format ?? 'oci';
  const layers = [];
  for (const l of spec.layers) layers.push(await buildLayer(l, format));
  const platform = { os: spec.os ?? 'linux', architecture: spec.architecture ?? hostArchitecture(), ...(spec.variant ? { variant: spec.variant } : {}) };
  const configJson = {
    created: '2024-01-01T00:00:00Z',
    ...platform,
    config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], ...(spec.config ?? {}) },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    history: layers.map(() => ({ created: '2024-01-01T00:00:00Z', created_by: 'berth test image builder' })),
  };
  const config = blob(MT[format].config, Buffer.from(JSON.stringify(configJson)));
  const manifestJson = {
    schemaVersion: 2,
    mediaType: MT[format].manifest,
    config: { mediaType: config.mediaType, digest: config.digest, size: config.size },
    layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
  };
  const manifest = blob(MT[format].manifest, Buffer.from(JSON.stringify(manifestJson)));
  return { manifest, config, layers, platform };
}

export function buildIndex(images: readonly BuiltImage[], format: 'oci' | 'docker' = 'oci'): BuiltIndex {
  const json = {
    schemaVersion: 2,
    mediaType: MT[format].index,
    manifests: images.map((i) => ({ mediaType: i.manifest.mediaType, digest: i.manifest.digest, size: i.manifest.size, platform: i.platform })),
  };
  return { index: blob(MT[format].index, Buffer.from(JSON.stringify(json))), images: [...images] };
}

/** A base layer from Debian's static busybox: /bin/busybox, applet links, /etc files. */
export function busyboxLayer(opts: { applets?: string[]; hardlinks?: boolean; extra?: TarFile[] } = {}): LayerSpec {
  const applets = opts.applets ?? ['sh', 'ls', 'cat', 'echo', 'sleep', 'id', 'env', 'true', 'false', 'touch', 'mkdir', 'rm', 'ps', 'top', 'hostname', 'wget', 'nc', 'grep', 'head', 'tail', 'test', 'date', 'stat', 'kill', 'mount'];
  const entries: TarFile[] = [
    { path: 'bin', type: 'dir' },
    { path: 'bin/busybox', content: readFileSync('/bin/busybox'), mode: 0o755 },
    ...applets.map((a): TarFile => (opts.hardlinks ? { path: `bin/${a}`, type: 'link', linkname: 'bin/busybox' } : { path: `bin/${a}`, type: 'symlink', linkname: 'busybox' })),
    { path: 'etc', type: 'dir' },
    { path: 'etc/passwd', content: 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' },
    { path: 'etc/group', content: 'root:x:0:\nnogroup:x:65534:\n' },
    { path: 'tmp', type: 'dir', mode: 0o1777 },
    { path: 'root', type: 'dir', mode: 0o700 },
    ...(opts.extra ?? []),
  ];
  return { entries, compression: 'gzip' };
}

export interface PushAuth {
  username: string;
  password: string;
}

async function check(res: Response, what: string): Promise<Response> {
  if (!res.ok) throw new Error(`${what}: HTTP ${res.status} ${await res.text()}`);
  return res;
}

/** Pushes a blob unless the registry has it. */
export async function pushBlob(base: string, repo: string, b: Blob, auth?: PushAuth): Promise<void> {
  const headers: Record<string, string> = auth ? { authorization: `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}` } : {};
  const head = await fetch(`${base}/v2/${repo}/blobs/${b.digest}`, { method: 'HEAD', headers });
  if (head.ok) return;
  const start = await check(await fetch(`${base}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers }), `start upload of ${b.digest}`);
  const loc = new URL(start.headers.get('location')!, base);
  loc.searchParams.set('digest', b.digest);
  await check(
    await fetch(loc, { method: 'PUT', headers: { ...headers, 'content-type': 'application/octet-stream', 'content-length': String(b.size) }, body: b.data }),
    `upload of ${b.digest}`,
  );
}

export async function pushManifest(base: string, repo: string, reference: string, m: Blob, auth?: PushAuth): Promise<void> {
  const headers: Record<string, string> = { 'content-type': m.mediaType, ...(auth ? { authorization: `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}` } : {}) };
  await check(await fetch(`${base}/v2/${repo}/manifests/${reference}`, { method: 'PUT', headers, body: m.data }), `manifest ${repo}:${reference}`);
}

/** Pushes an image (blobs, then manifest under `tag`; by digest if tag is omitted). */
export async function pushImage(base: string, repo: string, tag: string | undefined, img: BuiltImage, auth?: PushAuth): Promise<void> {
  for (const l of img.layers) await pushBlob(base, repo, l, auth);
  await pushBlob(base, repo, img.config, auth);
  await pushManifest(base, repo, tag ?? img.manifest.digest, img.manifest, auth);
}

/** Pushes every image of an index by digest, then the index under `tag`. */
export async function pushIndex(base: string, repo: string, tag: string, idx: BuiltIndex, auth?: PushAuth): Promise<void> {
  for (const img of idx.images) await pushImage(base, repo, undefined, img, auth);
  await pushManifest(base, repo, tag, idx.index, auth);
}
