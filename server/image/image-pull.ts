// PullImage: reference → registry (mirrors, auth) → index → platform manifest →
// config → layers downloaded in parallel into the content store and unpacked once per
// chain id → one image record. Whatever fails or is cancelled, no record is written
// and the pull's own downloads and unpacks are stopped, cleaned and collected.
import { setMaxListeners } from 'node:events';
import { Readable } from 'node:stream';
import type { AuthConfig__Output } from '../../wire/cri/generated/runtime/v1/AuthConfig.js';
import type { PodSandboxConfig__Output } from '../../wire/cri/generated/runtime/v1/PodSandboxConfig.js';
import { BerthError, canceled, failedPrecondition, notFound } from '../errors.js';
import { credentialsFromAuthConfig } from './auth.js';
import { chainIds } from './digest.js';
import { withRetry } from './http.js';
import { BlobMismatchError, type BlobWriter } from './content-store.js';
import { decompress } from './decompress.js';
import type { ImageContext } from './image-context.js';
import { collectGarbage } from './image-gc.js';
import type { LayerRecord } from './image-store.js';
import type { UnpackResult } from './layer-unpack.js';
import { parseImageConfig, parseIndex, parseManifest, type Descriptor, type ImageConfig } from './manifest.js';
import { isIndex, isManifest } from './media-types.js';
import { formatPlatform, selectManifest } from './platform.js';
import { digestReference, formatReference, parseReference, repositoryName, tagReference } from './reference.js';
import type { Repository } from './registry-client.js';

export interface PullOptions {
  auth?: AuthConfig__Output | null;
  /** The pod the pull is for; used in log lines only. */
  sandboxConfig?: PodSandboxConfig__Output | null;
  signal?: AbortSignal;
  /** Called with the pull's progress (berth images pull streams it); never throws into the pull. */
  onProgress?: (e: PullEvent) => void;
}

/**
 * A pull's progress, for the admin socket's streaming pull: the layers once the manifest
 * is known, then per layer its download progress (polled from the shared download state,
 * so a pull that joined another pull's download sees it too) and its completion.
 */
export type PullEvent =
  | { type: 'resolved'; reference: string; id: string; layers: { digest: string; size: number }[] }
  | { type: 'layer'; digest: string; status: 'present' | 'downloading' | 'done'; done: number; total: number }
  | { type: 'pulled'; id: string; reference: string; repoTags: string[]; repoDigests: string[]; bytesDownloaded: number; seconds: number };

/** How often a pull with an onProgress callback reports download progress. */
export const PROGRESS_EVENT_MS = 200;

export interface PullResult {
  /** The image id: the digest of its config (what PullImageResponse.image_ref carries). */
  id: string;
  reference: string;
  repoTags: string[];
  repoDigests: string[];
  /** Bytes received from the registry by this pull (shared downloads count once). */
  bytesDownloaded: number;
  seconds: number;
  /** Layers whose blobs were already in the content store (berth_image_layers_reused_total). */
  layersReused: number;
}

const MAX_CONFIG_BYTES = 16 << 20;

/** Runs tasks together; on the first failure stops the rest (through `ctl`), waits for
 *  them to settle, and throws that first failure. */
async function allOrStop<T>(ctl: AbortController, tasks: (() => Promise<T>)[]): Promise<T[]> {
  let first: { e: unknown } | undefined;
  const running = tasks.map((t) =>
    t().catch((e) => {
      if (!first) {
        first = { e };
        ctl.abort(e instanceof BerthError ? e : canceled('stopped after another layer failed'));
      }
      throw e;
    }),
  );
  const settled = await Promise.allSettled(running);
  if (first) throw first.e;
  return settled.map((s) => (s as PromiseFulfilledResult<T>).value);
}

export async function pullImage(ctx: ImageContext, refString: string, opts: PullOptions = {}): Promise<PullResult> {
  const started = process.hrtime.bigint();
  const ref = parseReference(refString);
  const reference = formatReference(ref);
  const meta = podMeta(reference, opts.sandboxConfig);
  const ctl = new AbortController();
  // Every layer's download, unpack and request listens on this signal.
  setMaxListeners(0, ctl.signal);
  const onCallerAbort = () => ctl.abort(canceled(`pull of ${reference} was cancelled by the client`));
  if (opts.signal?.aborted) throw canceled(`pull of ${reference} was cancelled by the client`);
  opts.signal?.addEventListener('abort', onCallerAbort, { once: true });
  const signal = ctl.signal;
  const pinned: string[] = [];
  const pin = async (keys: string[]) => {
    pinned.push(...keys);
    await ctx.pins.pin(keys);
  };
  const layerBlobs: Descriptor[] = [];
  let bytesDownloaded = 0;
  let ticker: NodeJS.Timeout | undefined;
  let poller: NodeJS.Timeout | undefined;
  let ok = false;
  const emit = (e: PullEvent) => {
    try {
      opts.onProgress?.(e);
    } catch {
      /* a listener's failure is not the pull's */
    }
  };
  ctx.logger.info('pulling image', meta);
  try {
    const credentials = credentialsFromAuthConfig(opts.auth);
    const { repository, manifest: top } = await ctx.registry.resolve(ref, {
      ...(credentials ? { credentials } : {}),
      ...(opts.auth?.server_address ? { serverAddress: opts.auth.server_address } : {}),
      signal,
    });
    const repoDigest = top.digest;
    const blobs: { digest: string; size: number }[] = [];
    let manifestFetched = top;
    if (isIndex(top.mediaType)) {
      const index = parseIndex(top.body, top.mediaType, `index of ${reference}`);
      const chosen = selectManifest(index.manifests, ctx.platform, reference);
      if (!isManifest(chosen.mediaType)) throw failedPrecondition(`${reference}: platform entry ${chosen.digest} has media type ${chosen.mediaType}, not an image manifest`);
      await pin([top.digest]);
      await ctx.content.put(top.digest, top.body);
      blobs.push({ digest: top.digest, size: top.body.length });
      manifestFetched = await repository.getManifest(chosen.digest, signal);
      if (manifestFetched.body.length !== chosen.size) throw failedPrecondition(`${reference}: manifest ${chosen.digest} is ${manifestFetched.body.length} bytes, the index says ${chosen.size}`);
    } else if (!isManifest(top.mediaType)) {
      throw failedPrecondition(`${reference}: unsupported manifest media type ${JSON.stringify(top.mediaType)}`);
    }
    const manifest = parseManifest(manifestFetched.body, manifestFetched.mediaType, `manifest of ${reference}`);
    await pin([manifestFetched.digest]);
    await ctx.content.put(manifestFetched.digest, manifestFetched.body);
    blobs.push({ digest: manifestFetched.digest, size: manifestFetched.body.length });

    // Config: small, fetched into the store and read back.
    if (manifest.config.size > MAX_CONFIG_BYTES) throw failedPrecondition(`${reference}: image config of ${manifest.config.size} bytes is too large`);
    await pin([manifest.config.digest]);
    await fetchBlob(ctx, repository, manifest.config, signal);
    const configBytes = await ctx.content.read(manifest.config.digest);
    const config: ImageConfig = parseImageConfig(configBytes, `image config of ${reference}`, manifest.layers.length);
    if (config.architecture && config.architecture !== ctx.platform.architecture) {
      throw notFound(`${reference} is for ${formatPlatform({ os: config.os ?? 'linux', architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) })}, not ${formatPlatform(ctx.platform)}`);
    }
    blobs.push({ digest: manifest.config.digest, size: manifest.config.size });
    const id = manifest.config.digest;

    // Layers: download and unpack in parallel; each unpacks into its own directory.
    const diffIds = config.rootfs.diff_ids;
    const chains = chainIds(diffIds);
    await pin([...manifest.layers.map((l) => l.digest), ...chains]);
    layerBlobs.push(...manifest.layers);
    ticker = setInterval(() => logProgress(ctx, meta, layerBlobs), ctx.progressIntervalMs);
    ticker.unref();
    const downloadedBefore = new Map<string, boolean>();
    for (const l of manifest.layers) downloadedBefore.set(l.digest, await ctx.content.has(l.digest, l.size));
    const finished = new Set<string>();
    const reported = new Map<string, number>();
    if (opts.onProgress) {
      emit({ type: 'resolved', reference, id, layers: manifest.layers.map((l) => ({ digest: l.digest, size: l.size })) });
      for (const [i, l] of manifest.layers.entries()) {
        if (downloadedBefore.get(l.digest) && ctx.store.layer(chains[i]!)) {
          finished.add(l.digest);
          emit({ type: 'layer', digest: l.digest, status: 'present', done: l.size, total: l.size });
        }
      }
      poller = setInterval(() => {
        for (const l of manifest.layers) {
          const p = ctx.progress.get(l.digest);
          if (finished.has(l.digest) || !p || reported.get(l.digest) === p.done) continue;
          reported.set(l.digest, p.done);
          emit({ type: 'layer', digest: l.digest, status: 'downloading', done: p.done, total: p.total });
        }
      }, PROGRESS_EVENT_MS);
      poller.unref();
    }
    // From here on (synchronously) the pull waits on the shared per-layer work: a pull of
    // the same layers that is already running is joined, not repeated.
    ctx.logger.debug('fetching layers', { ...meta, layers: manifest.layers.length, present: finished.size });
    const layerRecords = await allOrStop(
      ctl,
      manifest.layers.map((desc, i) => async () => {
        const rec = await ensureLayer(ctx, repository, desc, diffIds[i]!, chains[i]!, i === 0 ? null : chains[i - 1]!, signal);
        if (opts.onProgress && !finished.has(desc.digest)) {
          finished.add(desc.digest);
          emit({ type: 'layer', digest: desc.digest, status: 'done', done: desc.size, total: desc.size });
        }
        return rec;
      }),
    );
    for (const l of manifest.layers) {
      blobs.push({ digest: l.digest, size: l.size });
      if (!downloadedBefore.get(l.digest)) bytesDownloaded += l.size;
    }
    if (signal.aborted) throw signal.reason;

    const refs: { name: string; kind: 'tag' | 'digest' }[] = [];
    // A reference with tag and digest is pulled by digest and named by digest, as containerd does.
    const tag = ref.digest === undefined ? tagReference(ref) : undefined;
    if (tag) refs.push({ name: tag, kind: 'tag' });
    refs.push({ name: digestReference(ref, repoDigest), kind: 'digest' });
    const size = blobs.reduce((n, b) => n + b.size, 0);
    const orphans = ctx.store.add({
      image: { id, manifestDigest: manifestFetched.digest, mediaType: manifestFetched.mediaType, config: configBytes.toString('utf8'), size, createdAt: String(ctx.now()) },
      refs,
      blobs,
      layers: layerRecords.map((l, i) => ({ ...l, blobDigest: manifest.layers[i]!.digest })),
    });
    ok = true;
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    ctx.logger.info('pulled image', {
      ...meta,
      id,
      repoDigest: digestReference(ref, repoDigest),
      layers: manifest.layers.length,
      bytes: bytesDownloaded,
      seconds: Math.round(seconds * 1000) / 1000,
      mbPerSecond: seconds > 0 ? Math.round((bytesDownloaded / 1e6 / seconds) * 10) / 10 : 0,
    });
    if (orphans.length) void collectGarbage(ctx).catch(() => {});
    const result: PullResult = {
      id,
      reference,
      repoTags: refs.filter((r) => r.kind === 'tag').map((r) => r.name),
      repoDigests: refs.filter((r) => r.kind === 'digest').map((r) => r.name),
      bytesDownloaded,
      seconds,
      layersReused: manifest.layers.filter((l) => downloadedBefore.get(l.digest)).length,
    };
    emit({ type: 'pulled', ...result });
    return result;
  } catch (e) {
    if (!signal.aborted) ctl.abort(e);
    const err = opts.signal?.aborted ? canceled(`pull of ${reference} was cancelled by the client`) : e;
    ctx.logger.warn('image pull failed', { ...meta, error: (err as Error).message });
    throw err;
  } finally {
    if (ticker) clearInterval(ticker);
    if (poller) clearInterval(poller);
    opts.signal?.removeEventListener('abort', onCallerAbort);
    ctx.pins.unpin(pinned);
    if (!ok) {
      // Complete blobs and layers this pull fetched are unreferenced now: collect them.
      await collectGarbage(ctx).catch((e) => ctx.logger.warn('garbage collection after a failed pull failed', { error: String(e) }));
    }
  }
}

function podMeta(reference: string, sb: PodSandboxConfig__Output | null | undefined): Record<string, string> {
  const m: Record<string, string> = { image: reference };
  if (sb?.metadata) {
    m.pod = sb.metadata.name;
    m.namespace = sb.metadata.namespace;
    m.podUid = sb.metadata.uid;
  }
  return m;
}

function logProgress(ctx: ImageContext, meta: Record<string, string>, layers: Descriptor[]): void {
  const active = layers
    .map((l) => ({ digest: l.digest, p: ctx.progress.get(l.digest) }))
    .filter((x) => x.p !== undefined)
    .map((x) => ({ layer: x.digest.slice(0, 19), done: x.p!.done, total: x.p!.total }));
  if (active.length === 0) return;
  ctx.logger.info('pull progress', { ...meta, layers: active });
}

/** Downloads a blob into the content store once, however many pulls want it. */
export function fetchBlob(ctx: ImageContext, repo: Repository, desc: Descriptor, signal: AbortSignal): Promise<void> {
  return ctx.downloads.run(desc.digest, signal, async (sig) => {
    if (await ctx.content.has(desc.digest, desc.size)) return;
    const progress = { done: 0, total: desc.size };
    try {
      await withRetry(
        `blob ${desc.digest} of ${repositoryName({ domain: repo.endpoint.host, path: repo.path })}`,
        {
          attempts: ctx.registry.config.retryAttempts,
          baseDelayMs: ctx.registry.config.retryBaseDelayMs,
          onRetry: (err, attempt, delayMs) => ctx.logger.warn('blob download failed, retrying', { digest: desc.digest, attempt, delayMs, error: err.message }),
        },
        sig,
        async () => {
          // A download slot per attempt: a retry's backoff holds none.
          const release = await ctx.downloadSlots.acquire(sig);
          progress.done = 0;
          ctx.progress.set(desc.digest, progress);
          try {
            await ctx.content.write(desc.digest, desc.size, Readable.from(repo.readBlob(desc.digest, sig)), sig, (n) => {
              progress.done += n;
            });
          } finally {
            release();
          }
        },
      );
    } finally {
      ctx.progress.delete(desc.digest);
    }
  });
}

/** A layer unpacked under its chain id, once. A layer whose blob is not here yet is
 *  unpacked while it downloads (one pass: the bytes go to the content store and to the
 *  decompressor together); the blob and the layer are committed only when both the
 *  blob digest and the diff ID verify. */
function ensureLayer(ctx: ImageContext, repo: Repository, desc: Descriptor, diffId: string, chainId: string, parent: string | null, signal: AbortSignal): Promise<LayerRecord> {
  return ctx.unpacks.run(chainId, signal, async (sig) => {
    const existing = ctx.store.layer(chainId);
    if (existing && (await ctx.layers.exists(chainId))) {
      // Images always keep their blobs; a layer kept by a lease may have lost its blob.
      await fetchBlob(ctx, repo, desc, sig);
      return existing;
    }
    if (!existing && (await ctx.layers.exists(chainId))) {
      // A directory without a record: a crash came between its rename and its record. Redo it.
      await ctx.layers.delete(chainId);
    }
    const res = (await ctx.content.has(desc.digest, desc.size))
      ? await ctx.layers.unpackFile(chainId, ctx.content.path(desc.digest), diffId, sig)
      : await downloadAndUnpack(ctx, repo, desc, diffId, chainId, sig);
    const rec: LayerRecord = { chainId, diffId, parent, size: res.size, inodes: res.inodes, createdAt: String(ctx.now()) };
    ctx.store.addLayer(rec);
    return rec;
  });
}

async function downloadAndUnpack(ctx: ImageContext, repo: Repository, desc: Descriptor, diffId: string, chainId: string, sig: AbortSignal): Promise<UnpackResult> {
  try {
    return await streamLayer(ctx, repo, desc, diffId, chainId, sig);
  } catch (e) {
    if (!(e instanceof BerthError && e.kind === 'FailedPrecondition') || (e instanceof BlobMismatchError && e.digest === desc.digest)) throw e;
    // The streamed bytes did not unpack. Whether the registry sent wrong bytes (digest
    // mismatch) or the layer itself is bad is known only from the whole, verified blob.
    await fetchBlob(ctx, repo, desc, sig);
    return ctx.layers.unpackFile(chainId, ctx.content.path(desc.digest), diffId, sig);
  }
}

async function streamLayer(ctx: ImageContext, repo: Repository, desc: Descriptor, diffId: string, chainId: string, sig: AbortSignal): Promise<UnpackResult> {
  const progress = { done: 0, total: desc.size };
  try {
    return await withRetry(
      `layer ${desc.digest} of ${repositoryName({ domain: repo.endpoint.host, path: repo.path })}`,
      {
        attempts: ctx.registry.config.retryAttempts,
        baseDelayMs: ctx.registry.config.retryBaseDelayMs,
        onRetry: (err, attempt, delayMs) => ctx.logger.warn('layer download failed, retrying', { digest: desc.digest, attempt, delayMs, error: err.message }),
      },
      sig,
      async () => {
        // A download slot is held while the bytes come in, not while the unpack catches
        // up with them or a retry waits: the next layer's download starts meanwhile.
        const release = await ctx.downloadSlots.acquire(sig);
        progress.done = 0;
        ctx.progress.set(desc.digest, progress);
        const body = repo.readBlob(desc.digest, sig);
        let writer: BlobWriter | undefined;
        try {
          writer = await ctx.content.writer(desc.digest, desc.size);
          const w = writer;
          // Each socket read goes to the content store (which gathers reads into one
          // writev, holding the read itself) and to the decompressor, which copies it
          // into its reused feed buffers (decompress.ts): no buffer per piece is made.
          const tee = (async function* () {
            try {
              for await (const chunk of body) {
                progress.done += (chunk as Buffer).length;
                await w.write(chunk as Buffer);
                yield chunk as Buffer;
              }
            } finally {
              release();
            }
          })();
          return await ctx.layers.unpack(chainId, () => decompress(tee, ctx.layers.tools?.zstd), diffId, sig, () => w.commit());
        } catch (e) {
          void body.return(undefined).catch(() => {}); // not awaited: it may be waiting on the network
          await writer?.abort();
          throw e;
        } finally {
          release();
        }
      },
    );
  } finally {
    ctx.progress.delete(desc.digest);
  }
}
