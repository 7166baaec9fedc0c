// What the pull, GC and remove paths share: stores, registry client, in-flight work,
// and the pins that keep the collector off content a running pull is using.
import type { ContentStore } from './content-store.js';
import type { ImageStore, LayerRecord } from './image-store.js';
import type { LayerStore } from './layer-store.js';
import type { Logger } from '../logger.js';
import type { Platform } from './platform.js';
import type { RegistryClient } from './registry-client.js';
import type { Semaphore } from '../util/semaphore.js';
import type { SharedTasks } from '../util/shared-tasks.js';

/**
 * Pins on blob digests and chain ids. A pull pins a key before it looks at whether the
 * content exists; the collector deletes only unpinned keys and marks them as being
 * deleted first, so a pull that pins a key during a deletion waits for it to finish
 * and then fetches the content afresh. Both checks are synchronous, so they cannot
 * interleave.
 */
export class Pins {
  private readonly counts = new Map<string, number>();
  private readonly deleting = new Map<string, Promise<void>>();

  async pin(keys: readonly string[]): Promise<void> {
    for (const k of keys) this.counts.set(k, (this.counts.get(k) ?? 0) + 1);
    await Promise.all(keys.map((k) => this.deleting.get(k)));
  }

  unpin(keys: readonly string[]): void {
    for (const k of keys) {
      const n = (this.counts.get(k) ?? 0) - 1;
      if (n <= 0) this.counts.delete(k);
      else this.counts.set(k, n);
    }
  }

  isPinned(key: string): boolean {
    return this.counts.has(key);
  }

  /** Claims an unpinned key for deletion; false if pinned or already being deleted. */
  claimForDeletion(key: string, deletion: () => Promise<void>): Promise<void> | undefined {
    if (this.counts.has(key) || this.deleting.has(key)) return undefined;
    const p = deletion().finally(() => this.deleting.delete(key));
    this.deleting.set(key, p.catch(() => {}));
    return p;
  }
}

export interface DownloadProgress {
  done: number;
  total: number;
}

export interface ImageContext {
  root: string;
  store: ImageStore;
  content: ContentStore;
  layers: LayerStore;
  registry: RegistryClient;
  logger: Logger;
  platform: Platform;
  pins: Pins;
  downloads: SharedTasks<void>;
  unpacks: SharedTasks<LayerRecord>;
  downloadSlots: Semaphore;
  /** Bytes received per blob digest while its download runs. */
  progress: Map<string, DownloadProgress>;
  progressIntervalMs: number;
  now(): bigint;
}
