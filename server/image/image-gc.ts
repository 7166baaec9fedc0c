// Garbage collection: blobs no image uses, unpacked layers no image or lease uses,
// and layer directories or blobs without a record (left by a crash). Pinned content
// (a pull in progress) is never touched.
import type { ImageContext } from './image-context.js';

export interface GcResult {
  removedBlobs: string[];
  removedLayers: string[];
}

const queues = new WeakMap<ImageContext, Promise<unknown>>();

/** Runs a collection after any that is running (so it sees everything done before the call). */
export function collectGarbage(ctx: ImageContext): Promise<GcResult> {
  const prev = queues.get(ctx) ?? Promise.resolve();
  const next = prev.catch(() => {}).then(() => collectOnce(ctx));
  queues.set(ctx, next);
  return next;
}

async function collectOnce(ctx: ImageContext): Promise<GcResult> {
  const { store, content, layers, pins } = ctx;
  const onDiskLayers = await layers.list();
  const onDiskBlobs = await content.list();
  // From here to the claims below everything is synchronous: the picture of what is
  // used cannot change under us.
  const usedLayers = store.usedLayers();
  const layerCandidates = new Set([...onDiskLayers, ...store.allLayers().map((l) => l.chainId)]);
  const layerDeletions: Promise<void>[] = [];
  const removedLayers: string[] = [];
  for (const chainId of layerCandidates) {
    if (usedLayers.has(chainId)) continue;
    const p = pins.claimForDeletion(chainId, async () => {
      store.deleteLayer(chainId);
      await layers.delete(chainId);
    });
    if (p) {
      layerDeletions.push(p);
      removedLayers.push(chainId);
    }
  }
  const usedBlobs = store.usedBlobs();
  const blobDeletions: Promise<void>[] = [];
  const removedBlobs: string[] = [];
  for (const b of onDiskBlobs) {
    if (usedBlobs.has(b.digest)) continue;
    const p = pins.claimForDeletion(b.digest, () => content.delete(b.digest));
    if (p) {
      blobDeletions.push(p);
      removedBlobs.push(b.digest);
    }
  }
  const results = await Promise.allSettled([...layerDeletions, ...blobDeletions]);
  for (const r of results) {
    if (r.status === 'rejected') ctx.logger.warn('image garbage collection could not remove an item', { error: String(r.reason) });
  }
  if (removedBlobs.length || removedLayers.length) {
    ctx.logger.info('image garbage collection', { removedBlobs: removedBlobs.length, removedLayers: removedLayers.length });
  }
  return { removedBlobs, removedLayers };
}
