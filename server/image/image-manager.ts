// The image domain as the ImageService (and container creation) sees it: pull, list,
// status, remove, filesystem usage, garbage collection, and leases that keep an
// image's layers while containers use them. The gRPC handlers stay thin over this.
import { mkdir, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import type { Image__Output } from '../../wire/cri/generated/runtime/v1/Image.js';
import type { ImageFilter__Output } from '../../wire/cri/generated/runtime/v1/ImageFilter.js';
import type { FilesystemUsage__Output } from '../../wire/cri/generated/runtime/v1/FilesystemUsage.js';
import { invalidArgument, notFound } from '../errors.js';
import { shown } from '../validate/text.js';
import type { Db } from '../store/db.js';
import { ContentStore } from './content-store.js';
import { toCriImage } from './cri-image.js';
import { collectGarbage, type GcResult } from './image-gc.js';
import { Pins, type ImageContext } from './image-context.js';
import { importArchive, type ImportedImage, type ImportOptions } from './image-import.js';
import { pullImage, type PullOptions, type PullResult } from './image-pull.js';
import { ImageStore, type ImageRecord } from './image-store.js';
import { LayerStore } from './layer-store.js';
import type { UnpackTools } from './layer-unpack.js';
import { silentLogger, type Logger } from '../logger.js';
import type { ImageConfig } from './manifest.js';
import { hostPlatform, type Platform } from './platform.js';
import { formatReference, parseNormalizedNamed, parseReference, repositoryName } from './reference.js';
import { RegistryClient } from './registry-client.js';
import { registryConfig, type RegistryConfig } from './registry-config.js';
import { Semaphore } from '../util/semaphore.js';
import { SharedTasks } from '../util/shared-tasks.js';

export interface ImageManagerOptions {
  /** State root (/var/lib/berth): blobs go to <root>/content, layers to <root>/layers. */
  root: string;
  db: Db;
  registry?: Partial<RegistryConfig>;
  logger?: Logger;
  /** References reported as pinned (the sandbox image); kubelet never removes those. */
  pinnedImages?: string[];
  /** Defaults to this machine (linux, its architecture and variant). */
  platform?: Platform;
  /** Layer downloads at once, across all pulls. Default 3. */
  maxConcurrentDownloads?: number;
  /** Progress log interval for a running pull. Default 10 s. */
  progressIntervalMs?: number;
  /** Flush unpacked layers to disk before recording them (default true). */
  durableLayers?: boolean;
  /** Host tools (paths), for hosts where they are elsewhere. */
  tools?: Partial<UnpackTools> & { zstd?: string };
  /** Nanoseconds since the epoch. */
  now?: () => bigint;
}

/** What a container needs of an image. */
export interface ResolvedImage {
  id: string;
  config: ImageConfig;
  /** Unpacked layers, base first (overlay wants them top first: reverse). */
  layers: { chainId: string; diffId: string; path: string }[];
  repoTags: string[];
  repoDigests: string[];
}

export class ImageManager {
  private constructor(
    private readonly ctx: ImageContext,
    private readonly pinned: Set<string>,
  ) {}

  /** Opens the stores under `root`, clears interrupted writes and collects garbage
   *  (content a crash left without a record). */
  static async open(opts: ImageManagerOptions): Promise<ImageManager> {
    await mkdir(opts.root, { recursive: true, mode: 0o711 });
    const content = new ContentStore(join(opts.root, 'content'));
    const tools = { mknod: opts.tools?.mknod ?? 'mknod', setfattr: opts.tools?.setfattr ?? 'setfattr', ...(opts.tools?.zstd ? { zstd: opts.tools.zstd } : {}) };
    const layers = new LayerStore(join(opts.root, 'layers'), tools, opts.durableLayers ?? true);
    await content.init();
    await layers.init();
    const logger = opts.logger ?? silentLogger();
    const ctx: ImageContext = {
      root: opts.root,
      store: new ImageStore(opts.db),
      content,
      layers,
      registry: new RegistryClient(registryConfig(opts.registry ?? {}), logger),
      logger,
      platform: opts.platform ?? hostPlatform(),
      pins: new Pins(),
      downloads: new SharedTasks(),
      unpacks: new SharedTasks(),
      downloadSlots: new Semaphore(opts.maxConcurrentDownloads ?? 3),
      progress: new Map(),
      progressIntervalMs: opts.progressIntervalMs ?? 10_000,
      now: opts.now ?? (() => BigInt(Date.now()) * 1_000_000n),
    };
    const pinned = new Set<string>();
    for (const p of opts.pinnedImages ?? []) pinned.add(formatReference(parseReference(p)));
    const m = new ImageManager(ctx, pinned);
    await m.gc();
    return m;
  }

  /** Stops the unpack thread; pulls still running fail. */
  close(): Promise<void> {
    return this.ctx.layers.close();
  }

  get root(): string {
    return this.ctx.root;
  }

  /** PullImage: returns the image id (sha256 of the config). */
  pull(ref: string, opts: PullOptions = {}): Promise<PullResult> {
    return pullImage(this.ctx, ref, opts);
  }

  /** Imports an OCI layout or `docker save` archive (air-gapped nodes). */
  importArchive(file: string, opts: ImportOptions = {}): Promise<ImportedImage[]> {
    return importArchive(this.ctx, file, opts);
  }

  /**
   * Finds a local image by id (`sha256:…`, bare hex, or a unique hex prefix), by name
   * (`busybox`, `host:5000/repo:tag`, `repo@sha256:…`) or by manifest digest alone.
   * Undefined if there is none; invalidArgument for an empty reference.
   */
  resolveId(ref: string): string | undefined {
    return resolveImageRef(this.ctx.store, ref);
  }

  private criImage(rec: ImageRecord): Image__Output {
    const refs = this.ctx.store.refs(rec.id);
    const pinned = this.pinned.has(rec.id) || refs.some((r) => this.pinned.has(r.name));
    return toCriImage(rec, refs, pinned);
  }

  /** ListImages: all images, or those matching the filter's reference. */
  list(filter?: ImageFilter__Output | null): Image__Output[] {
    const want = filter?.image?.image;
    if (want) {
      const id = this.resolveId(want);
      const rec = id ? this.ctx.store.get(id) : undefined;
      return rec ? [this.criImage(rec)] : [];
    }
    return this.ctx.store.list().map((r) => this.criImage(r));
  }

  /** ImageStatus: `image` null when there is no such image (not an error, per the CRI). */
  status(ref: string, verbose = false): { image: Image__Output | null; info: Record<string, string> } {
    const id = this.resolveId(ref);
    const rec = id ? this.ctx.store.get(id) : undefined;
    if (!rec) return { image: null, info: {} };
    const image = this.criImage(rec);
    if (!verbose) return { image, info: {} };
    const layers = this.ctx.store.layers(rec.id).map((l) => {
      const lr = this.ctx.store.layer(l.chainId);
      return { digest: l.blobDigest, diffID: lr?.diffId, chainID: l.chainId, path: this.ctx.layers.path(l.chainId), size: lr?.size };
    });
    const info = {
      id: rec.id,
      manifestDigest: rec.manifestDigest,
      mediaType: rec.mediaType,
      chainID: layers[layers.length - 1]?.chainID ?? '',
      layers,
      pulledAt: rec.createdAt,
      imageSpec: JSON.parse(rec.config) as unknown,
    };
    return { image, info: { info: JSON.stringify(info) } };
  }

  /** The image a container is created from; notFound if it is not here. */
  resolve(ref: string): ResolvedImage {
    const id = this.resolveId(ref);
    const rec = id ? this.ctx.store.get(id) : undefined;
    if (!rec) throw notFound(`image ${shown(ref)} not found`);
    const refs = this.ctx.store.refs(rec.id);
    return {
      id: rec.id,
      config: JSON.parse(rec.config) as ImageConfig,
      layers: this.ctx.store.layers(rec.id).map((l) => ({ chainId: l.chainId, diffId: this.ctx.store.layer(l.chainId)?.diffId ?? '', path: this.ctx.layers.path(l.chainId) })),
      repoTags: refs.filter((r) => r.kind === 'tag').map((r) => r.name),
      repoDigests: refs.filter((r) => r.kind === 'digest').map((r) => r.name),
    };
  }

  /**
   * Takes a lease for `holder` (a container id) on the layers of image `ref`: they stay
   * on disk after the image is removed, until `releaseLayers(holder)`. Idempotent.
   */
  leaseLayers(holder: string, ref: string): ResolvedImage {
    if (!holder) throw invalidArgument('lease holder is empty');
    const img = this.resolve(ref);
    this.ctx.store.addLease(
      holder,
      img.layers.map((l) => l.chainId),
    );
    return img;
  }

  /** Drops `holder`'s lease; layers nobody uses any more are collected. Idempotent. */
  async releaseLayers(holder: string): Promise<void> {
    if (this.ctx.store.releaseLease(holder) > 0) await this.gc();
  }

  /** Whether a running pull holds this blob digest or chain id (the garbage collector skips it). */
  contentPinned(key: string): boolean {
    return this.ctx.pins.isPinned(key);
  }

  /** Layers and blobs as the garbage collector sees them (for the leak auditor). */
  contentRecords(): { layers: string[]; usedLayers: Set<string>; usedBlobs: Set<string> } {
    return { layers: this.ctx.store.allLayers().map((l) => l.chainId), usedLayers: this.ctx.store.usedLayers(), usedBlobs: this.ctx.store.usedBlobs() };
  }

  /** Holders with a lease (for reconciling with the containers that exist). */
  leaseHolders(): string[] {
    return this.ctx.store.leaseHolders();
  }

  /** RemoveImage: removes the image with all its names; idempotent (false if absent).
   *  Layers still leased by containers stay until released. */
  async remove(ref: string): Promise<boolean> {
    const id = this.resolveId(ref);
    if (!id) return false;
    this.ctx.store.deleteImage(id);
    this.ctx.logger.info('removed image', { id, ref });
    await this.gc();
    return true;
  }

  /** ImageFsInfo's image filesystem: what the store accounts for, on the root's filesystem. */
  async fsUsage(): Promise<FilesystemUsage__Output> {
    const u = this.ctx.store.usage();
    // Recorded sizes, not a walk of the tree: cheap enough for kubelet's frequent calls.
    await statfs(this.ctx.root); // the root must be there; throws a clear error if not
    return {
      timestamp: String(this.ctx.now()),
      fs_id: { mountpoint: this.ctx.root },
      used_bytes: { value: String(u.blobBytes + u.layerBytes) },
      inodes_used: { value: String(u.blobs + u.layerInodes) },
    };
  }

  /** Removes blobs and layers that no image or lease uses. */
  gc(): Promise<GcResult> {
    return collectGarbage(this.ctx);
  }

  /** Path of an unpacked layer by chain id. */
  layerPath(chainId: string): string {
    return this.ctx.layers.path(chainId);
  }

  /** For tests and diagnostics: the registry client (token cache, config). */
  get registry(): RegistryClient {
    return this.ctx.registry;
  }
}

/** ImageManager.resolveId over a store alone (also for `berth inspect` reading the store read-only). */
export function resolveImageRef(s: ImageStore, ref: string): string | undefined {
  if (typeof ref !== 'string' || ref === '') throw invalidArgument('image reference is empty');
  if (/^sha256:[a-f0-9]{64}$/.test(ref)) return s.get(ref) ? ref : s.byDigest(ref)[0];
  if (/^[a-f0-9]{64}$/.test(ref)) return s.get(`sha256:${ref}`) ? `sha256:${ref}` : undefined;
  let named: ReturnType<typeof parseNormalizedNamed> | undefined;
  try {
    named = parseNormalizedNamed(ref);
  } catch {
    named = undefined;
  }
  if (named) {
    const name = named.digest ? `${repositoryName(named)}@${named.digest}` : `${repositoryName(named)}:${named.tag ?? 'latest'}`;
    const id = s.byRef(name);
    if (id) return id;
  }
  const m = /^(?:sha256:)?([a-f0-9]{3,63})$/.exec(ref);
  if (m) {
    const ids = s.byIdPrefix(m[1]!);
    if (ids.length === 1) return ids[0];
  }
  return undefined;
}
