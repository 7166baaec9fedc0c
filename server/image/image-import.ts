// Importing image archives for air-gapped nodes (`berth images import FILE`): an OCI
// image layout archive (skopeo's oci-archive, `docker save` since 25, containerd's
// export) or a classic `docker save` archive, optionally gzip- or zstd-compressed.
// Blobs stream into the content store (digests verified where the archive names them),
// layers are unpacked once per chain id, and each image is recorded with its names.
// A failed import records nothing and leaves nothing behind.
import { Readable } from 'node:stream';
import { canceled, failedPrecondition, invalidArgument } from '../errors.js';
import { openDecompressed } from './decompress.js';
import { chainIds, sha256Digest } from './digest.js';
import type { ImageContext } from './image-context.js';
import { collectGarbage } from './image-gc.js';
import type { LayerRecord } from './image-store.js';
import { parseImageConfig, parseIndex, parseManifest, type Descriptor, type ImageManifest } from './manifest.js';
import { isIndex, isManifest, MediaType } from './media-types.js';
import { selectManifest } from './platform.js';
import { digestReference, formatReference, parseReference, tagReference, type ImageReference } from './reference.js';
import { readTar } from './tar-reader.js';

export interface ImportOptions {
  signal?: AbortSignal;
  /** Reference for images the archive does not name (e.g. `example.com/app:v1`). */
  name?: string;
}

export interface ImportedImage {
  id: string;
  repoTags: string[];
  repoDigests: string[];
}

const MAX_METADATA = 16 << 20;

function cleanName(name: string): string {
  return name
    .split('/')
    .filter((c) => c !== '' && c !== '.')
    .join('/');
}

function resolveLink(from: string, target: string): string {
  if (target.startsWith('/')) return cleanName(target);
  const parts = from.split('/').slice(0, -1);
  for (const c of target.split('/')) {
    if (c === '..') parts.pop();
    else if (c !== '' && c !== '.') parts.push(c);
  }
  return parts.join('/');
}

async function readSmall(body: AsyncIterable<Buffer>, size: number, name: string): Promise<Buffer> {
  if (size > MAX_METADATA) throw failedPrecondition(`archive member ${name} is ${size} bytes, too large for metadata`);
  const parts: Buffer[] = [];
  for await (const c of body) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

function parseJson<T>(b: Buffer | undefined, what: string): T {
  if (!b) throw failedPrecondition(`archive has no ${what}`);
  try {
    return JSON.parse(b.toString('utf8')) as T;
  } catch {
    throw failedPrecondition(`archive's ${what} is not valid JSON`);
  }
}

interface Candidate {
  manifestDigest: string;
  manifest: ImageManifest;
  /** Index digests that lead to it, also kept as blobs. */
  extraBlobs: { digest: string; size: number }[];
  names: ImageReference[];
}

export async function importArchive(ctx: ImageContext, file: string, opts: ImportOptions = {}): Promise<ImportedImage[]> {
  const signal = opts.signal;
  const fallbackName = opts.name ? parseReference(opts.name) : undefined;
  const pinned: string[] = [];
  const pin = async (keys: string[]) => {
    pinned.push(...keys);
    await ctx.pins.pin(keys);
  };
  let ok = false;
  try {
    // One pass over the archive: blobs into the store, metadata into memory.
    const files = new Map<string, { digest: string; size: number }>();
    const metadata = new Map<string, Buffer>();
    const links = new Map<string, string>();
    let src;
    try {
      src = await openDecompressed(file, ctx.layers.tools?.zstd);
    } catch (e) {
      throw invalidArgument(`cannot read image archive ${file}: ${(e as Error).message}`, e);
    }
    try {
      for await (const { header, body } of readTar(src.chunks)) {
        if (signal?.aborted) throw canceled('import cancelled');
        const name = cleanName(header.name);
        if (header.type === 'symlink') links.set(name, resolveLink(name, header.linkname));
        else if (header.type === 'link') links.set(name, cleanName(header.linkname));
        if (header.type !== 'file') continue;
        const blob = /^blobs\/sha256\/([a-f0-9]{64})$/.exec(name);
        if (blob) {
          const digest = `sha256:${blob[1]}`;
          await pin([digest]);
          if (!(await ctx.content.has(digest, header.size))) {
            await ctx.content.write(digest, header.size, Readable.from(body), signal ?? new AbortController().signal);
          }
          files.set(name, { digest, size: header.size });
        } else if (name.endsWith('.json') || name === 'oci-layout' || name === 'repositories') {
          const data = await readSmall(body, header.size, name);
          metadata.set(name, data);
          if (name !== 'index.json' && name !== 'manifest.json') {
            const digest = sha256Digest(data);
            await pin([digest]);
            await ctx.content.put(digest, data);
            files.set(name, { digest, size: data.length });
          }
        } else if (/(^|\/)layer\.tar$/.test(name) || name.endsWith('.tar') || name.endsWith('.tar.gz')) {
          const info = await ctx.content.writeUnknown(body, signal, (d) => pin([d]));
          files.set(name, info);
        }
      }
      await src.finished();
    } finally {
      src.destroy();
    }
    const fileAt = (path: string, seen = 0): { digest: string; size: number } | undefined => {
      const p = cleanName(path);
      const f = files.get(p);
      if (f || seen > 8) return f;
      const l = links.get(p);
      return l ? fileAt(l, seen + 1) : undefined;
    };
    const readBlob = async (d: Descriptor, what: string): Promise<Buffer> => {
      if (!(await ctx.content.has(d.digest, d.size))) throw failedPrecondition(`archive lacks ${what} ${d.digest}`);
      return ctx.content.read(d.digest);
    };

    const candidates: Candidate[] = [];
    if (metadata.has('index.json')) {
      const top = parseIndex(metadata.get('index.json')!, MediaType.ociIndex, 'index.json of the archive');
      for (const d of top.manifests) {
        const names = namesFromAnnotations(d.annotations, fallbackName);
        if (isIndex(d.mediaType)) {
          const inner = parseIndex(await readBlob(d, 'index'), d.mediaType, `index ${d.digest}`);
          const chosen = selectManifest(inner.manifests, ctx.platform, `index ${d.digest} in the archive`);
          const m = await readBlob(chosen, 'manifest');
          candidates.push({ manifestDigest: chosen.digest, manifest: parseManifest(m, chosen.mediaType, `manifest ${chosen.digest}`), extraBlobs: [{ digest: d.digest, size: d.size }], names });
        } else if (isManifest(d.mediaType)) {
          const m = await readBlob(d, 'manifest');
          candidates.push({ manifestDigest: d.digest, manifest: parseManifest(m, d.mediaType, `manifest ${d.digest}`), extraBlobs: [], names });
        }
      }
    } else if (metadata.has('manifest.json')) {
      const entries = parseJson<{ Config: string; RepoTags?: string[] | null; Layers: string[] }[]>(metadata.get('manifest.json'), 'manifest.json');
      if (!Array.isArray(entries)) throw failedPrecondition("archive's manifest.json is not a list");
      for (const e of entries) {
        const config = fileAt(e.Config);
        if (!config) throw failedPrecondition(`archive lacks the config ${e.Config}`);
        const layers = e.Layers.map((l) => {
          const f = fileAt(l);
          if (!f) throw failedPrecondition(`archive lacks the layer ${l}`);
          return { mediaType: MediaType.dockerLayer, digest: f.digest, size: f.size };
        });
        // Classic docker save has no manifest: write the schema 2 one it implies.
        const manifest: ImageManifest = { mediaType: MediaType.dockerManifest, config: { mediaType: MediaType.dockerConfig, digest: config.digest, size: config.size }, layers };
        const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, ...manifest }));
        const digest = sha256Digest(bytes);
        await pin([digest]);
        await ctx.content.put(digest, bytes);
        const names = (e.RepoTags ?? []).map((t) => parseReference(t));
        candidates.push({ manifestDigest: digest, manifest, extraBlobs: [], names: names.length ? names : fallbackName ? [fallbackName] : [] });
      }
    } else {
      throw failedPrecondition(`${file} is neither an OCI image layout archive (index.json) nor a docker save archive (manifest.json)`);
    }
    if (candidates.length === 0) throw failedPrecondition(`${file} holds no image for ${ctx.platform.os}/${ctx.platform.architecture}`);

    const out: ImportedImage[] = [];
    for (const c of candidates) out.push(await recordImported(ctx, c, pin, signal));
    ok = true;
    ctx.logger.info('imported image archive', { file, images: out.map((i) => i.id) });
    return out;
  } finally {
    ctx.pins.unpin(pinned);
    if (!ok) await collectGarbage(ctx).catch((e) => ctx.logger.warn('garbage collection after a failed import failed', { error: String(e) }));
  }
}

function namesFromAnnotations(a: Record<string, string> | undefined, fallback: ImageReference | undefined): ImageReference[] {
  const full = a?.['io.containerd.image.name'];
  const ref = a?.['org.opencontainers.image.ref.name'];
  for (const n of [full, ref]) {
    if (n && (n.includes('/') || n.includes(':'))) {
      try {
        return [parseReference(n)];
      } catch {
        /* a bare tag or junk: try the next */
      }
    }
  }
  if (fallback && ref && fallback.digest === undefined) {
    // A bare tag in the layout names a tag of the given repository.
    try {
      return [parseReference(`${formatReference({ domain: fallback.domain, path: fallback.path })}:${ref}`)];
    } catch {
      /* not a valid tag */
    }
  }
  return fallback ? [fallback] : [];
}

async function recordImported(ctx: ImageContext, c: Candidate, pin: (k: string[]) => Promise<void>, signal: AbortSignal | undefined): Promise<ImportedImage> {
  const m = c.manifest;
  if (!(await ctx.content.has(m.config.digest, m.config.size))) throw failedPrecondition(`archive lacks the config ${m.config.digest}`);
  const configBytes = await ctx.content.read(m.config.digest);
  const config = parseImageConfig(configBytes, `config ${m.config.digest}`, m.layers.length);
  const chains = chainIds(config.rootfs.diff_ids);
  await pin([...chains, m.config.digest, c.manifestDigest, ...m.layers.map((l) => l.digest)]);
  const sig = signal ?? new AbortController().signal;
  const layers: LayerRecord[] = [];
  for (let i = 0; i < m.layers.length; i++) {
    const desc = m.layers[i]!;
    const chainId = chains[i]!;
    if (!(await ctx.content.has(desc.digest, desc.size))) throw failedPrecondition(`archive lacks the layer ${desc.digest}`);
    layers.push(
      await ctx.unpacks.run(chainId, sig, async (s) => {
        const existing = ctx.store.layer(chainId);
        if (existing && (await ctx.layers.exists(chainId))) return existing;
        if (await ctx.layers.exists(chainId)) await ctx.layers.delete(chainId);
        const res = await ctx.layers.unpackFile(chainId, ctx.content.path(desc.digest), config.rootfs.diff_ids[i]!, s);
        const rec: LayerRecord = { chainId, diffId: config.rootfs.diff_ids[i]!, parent: i === 0 ? null : chains[i - 1]!, size: res.size, inodes: res.inodes, createdAt: String(ctx.now()) };
        ctx.store.addLayer(rec);
        return rec;
      }),
    );
  }
  const manifestBytes = await ctx.content.read(c.manifestDigest);
  const blobs = [
    ...c.extraBlobs,
    { digest: c.manifestDigest, size: manifestBytes.length },
    { digest: m.config.digest, size: m.config.size },
    ...m.layers.map((l) => ({ digest: l.digest, size: l.size })),
  ];
  const refs: { name: string; kind: 'tag' | 'digest' }[] = [];
  for (const n of c.names) {
    const tag = n.digest === undefined ? tagReference(n) : undefined;
    if (tag) refs.push({ name: tag, kind: 'tag' });
    refs.push({ name: digestReference(n, c.extraBlobs[0]?.digest ?? c.manifestDigest), kind: 'digest' });
  }
  const unique = [...new Map(refs.map((r) => [r.name, r])).values()];
  const orphans = ctx.store.add({
    image: { id: m.config.digest, manifestDigest: c.manifestDigest, mediaType: m.mediaType, config: configBytes.toString('utf8'), size: blobs.reduce((a, b) => a + b.size, 0), createdAt: String(ctx.now()) },
    refs: unique,
    blobs,
    layers: layers.map((l, i) => ({ ...l, blobDigest: m.layers[i]!.digest })),
  });
  if (orphans.length) void collectGarbage(ctx).catch(() => {});
  return { id: m.config.digest, repoTags: unique.filter((r) => r.kind === 'tag').map((r) => r.name), repoDigests: unique.filter((r) => r.kind === 'digest').map((r) => r.name) };
}

