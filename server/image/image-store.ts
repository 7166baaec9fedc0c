// Image metadata in meta.db: images by id, the names (tags and digests) that point at
// them, the blobs and layers they use, and leases that keep layers for containers.
import type { Db } from '../store/db.js';
import { killPoint } from '../kill-points.js';

export interface ImageRecord {
  id: string;
  manifestDigest: string;
  mediaType: string;
  /** The image config JSON as pulled. */
  config: string;
  size: number;
  createdAt: string;
}

export interface ImageRef {
  name: string;
  imageId: string;
  kind: 'tag' | 'digest';
}

export interface LayerRecord {
  chainId: string;
  diffId: string;
  parent: string | null;
  size: number;
  inodes: number;
  createdAt: string;
}

export interface ImageLayer {
  position: number;
  chainId: string;
  blobDigest: string;
}

export interface NewImage {
  image: ImageRecord;
  refs: { name: string; kind: 'tag' | 'digest' }[];
  blobs: { digest: string; size: number }[];
  layers: (LayerRecord & { blobDigest: string })[];
}

interface ImageRow {
  id: string;
  manifest_digest: string;
  media_type: string;
  config: string;
  size: number;
  created_at: string;
}
interface LayerRow {
  chain_id: string;
  diff_id: string;
  parent: string | null;
  size: number;
  inodes: number;
  created_at: string;
}

const toImage = (r: ImageRow): ImageRecord => ({
  id: r.id,
  manifestDigest: r.manifest_digest,
  mediaType: r.media_type,
  config: r.config,
  size: r.size,
  createdAt: r.created_at,
});
const toLayer = (r: LayerRow): LayerRecord => ({
  chainId: r.chain_id,
  diffId: r.diff_id,
  parent: r.parent,
  size: r.size,
  inodes: r.inodes,
  createdAt: r.created_at,
});

export class ImageStore {
  constructor(readonly db: Db) {}

  /**
   * Records a pulled image in one transaction: the image, its blobs and layers, and
   * its names (a tag that pointed elsewhere moves here). Returns the ids of images
   * left with no name, which are deleted (their content is then garbage).
   */
  add(n: NewImage): string[] {
    const db = this.db;
    const orphans = db.transaction(() => {
      db.prepare(
        `INSERT INTO images (id, manifest_digest, media_type, config, size, created_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT(id) DO UPDATE SET manifest_digest = excluded.manifest_digest, media_type = excluded.media_type, size = excluded.size`,
      ).run(n.image.id, n.image.manifestDigest, n.image.mediaType, n.image.config, n.image.size, n.image.createdAt);
      const blob = db.prepare('INSERT OR IGNORE INTO image_blobs (image_id, digest, size) VALUES (?, ?, ?)');
      for (const b of n.blobs) blob.run(n.image.id, b.digest, b.size);
      const layer = db.prepare('INSERT OR IGNORE INTO layers (chain_id, diff_id, parent, size, inodes, created_at) VALUES (?, ?, ?, ?, ?, ?)');
      const imageLayer = db.prepare('INSERT OR REPLACE INTO image_layers (image_id, position, chain_id, blob_digest) VALUES (?, ?, ?, ?)');
      n.layers.forEach((l, i) => {
        layer.run(l.chainId, l.diffId, l.parent, l.size, l.inodes, l.createdAt);
        imageLayer.run(n.image.id, i, l.chainId, l.blobDigest);
      });
      const previous = new Set<string>();
      const find = db.prepare('SELECT image_id FROM image_refs WHERE name = ?');
      const ref = db.prepare('INSERT OR REPLACE INTO image_refs (name, image_id, kind) VALUES (?, ?, ?)');
      for (const r of n.refs) {
        const old = find.get(r.name) as { image_id: string } | undefined;
        if (old && old.image_id !== n.image.id) previous.add(old.image_id);
        ref.run(r.name, n.image.id, r.kind);
      }
      const orphans: string[] = [];
      const count = db.prepare('SELECT COUNT(*) AS n FROM image_refs WHERE image_id = ?');
      for (const id of previous) {
        if ((count.get(id) as { n: number }).n === 0) {
          this.deleteImage(id);
          orphans.push(id);
        }
      }
      return orphans;
    })();
    killPoint('image.recorded');
    return orphans;
  }

  get(id: string): ImageRecord | undefined {
    const r = this.db.prepare('SELECT * FROM images WHERE id = ?').get(id) as ImageRow | undefined;
    return r && toImage(r);
  }

  /** Image ids starting with `sha256:<prefix>`. */
  byIdPrefix(hexPrefix: string): string[] {
    if (!/^[a-f0-9]+$/.test(hexPrefix)) return [];
    return (this.db.prepare('SELECT id FROM images WHERE id >= ? AND id < ? LIMIT 2').all(`sha256:${hexPrefix}`, `sha256:${hexPrefix}g`) as { id: string }[]).map(
      (r) => r.id,
    );
  }

  byRef(name: string): string | undefined {
    return (this.db.prepare('SELECT image_id FROM image_refs WHERE name = ?').get(name) as { image_id: string } | undefined)?.image_id;
  }

  /** Images whose digest refs end in `@digest` (any repository). */
  byDigest(digest: string): string[] {
    return (this.db.prepare("SELECT DISTINCT image_id FROM image_refs WHERE kind = 'digest' AND name LIKE ?").all(`%@${digest}`) as { image_id: string }[]).map(
      (r) => r.image_id,
    );
  }

  list(): ImageRecord[] {
    return (this.db.prepare('SELECT * FROM images ORDER BY created_at, id').all() as ImageRow[]).map(toImage);
  }

  refs(imageId: string): ImageRef[] {
    return (this.db.prepare('SELECT name, image_id, kind FROM image_refs WHERE image_id = ? ORDER BY name').all(imageId) as { name: string; image_id: string; kind: 'tag' | 'digest' }[]).map(
      (r) => ({ name: r.name, imageId: r.image_id, kind: r.kind }),
    );
  }

  allRefs(): ImageRef[] {
    return (this.db.prepare('SELECT name, image_id, kind FROM image_refs ORDER BY name').all() as { name: string; image_id: string; kind: 'tag' | 'digest' }[]).map(
      (r) => ({ name: r.name, imageId: r.image_id, kind: r.kind }),
    );
  }

  layers(imageId: string): ImageLayer[] {
    return (
      this.db.prepare('SELECT position, chain_id, blob_digest FROM image_layers WHERE image_id = ? ORDER BY position').all(imageId) as {
        position: number;
        chain_id: string;
        blob_digest: string;
      }[]
    ).map((r) => ({ position: r.position, chainId: r.chain_id, blobDigest: r.blob_digest }));
  }

  /** Deletes an image and its names; its layers and blobs become collectable. */
  deleteImage(id: string): void {
    this.db.prepare('DELETE FROM images WHERE id = ?').run(id);
    killPoint('image.record-deleted');
  }

  layer(chainId: string): LayerRecord | undefined {
    const r = this.db.prepare('SELECT * FROM layers WHERE chain_id = ?').get(chainId) as LayerRow | undefined;
    return r && toLayer(r);
  }

  allLayers(): LayerRecord[] {
    return (this.db.prepare('SELECT * FROM layers').all() as LayerRow[]).map(toLayer);
  }

  /** Layers no image and no lease uses. */
  unusedLayers(): string[] {
    return (
      this.db
        .prepare(
          `SELECT chain_id FROM layers l
           WHERE NOT EXISTS (SELECT 1 FROM image_layers i WHERE i.chain_id = l.chain_id)
             AND NOT EXISTS (SELECT 1 FROM layer_leases e WHERE e.chain_id = l.chain_id)`,
        )
        .all() as { chain_id: string }[]
    ).map((r) => r.chain_id);
  }

  /** Chain ids used by an image or a lease. */
  usedLayers(): Set<string> {
    const rows = this.db.prepare('SELECT chain_id FROM image_layers UNION SELECT chain_id FROM layer_leases').all() as { chain_id: string }[];
    return new Set(rows.map((r) => r.chain_id));
  }

  /** How many images and leases use a layer. */
  layerRefCount(chainId: string): number {
    const r = this.db
      .prepare('SELECT (SELECT COUNT(*) FROM image_layers WHERE chain_id = ?) + (SELECT COUNT(*) FROM layer_leases WHERE chain_id = ?) AS n')
      .get(chainId, chainId) as { n: number };
    return r.n;
  }

  /** Records an unpacked layer as soon as it exists on disk (unused until an image or
   *  lease names it; a running pull pins it against collection meanwhile). */
  addLayer(l: LayerRecord): void {
    this.db
      .prepare('INSERT OR REPLACE INTO layers (chain_id, diff_id, parent, size, inodes, created_at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(l.chainId, l.diffId, l.parent, l.size, l.inodes, l.createdAt);
    killPoint('image.layer.recorded');
  }

  deleteLayer(chainId: string): void {
    this.db.prepare('DELETE FROM layers WHERE chain_id = ?').run(chainId);
    killPoint('image.layer.record-deleted');
  }

  usedBlobs(): Set<string> {
    const rows = this.db.prepare('SELECT DISTINCT digest FROM image_blobs').all() as { digest: string }[];
    return new Set(rows.map((r) => r.digest));
  }

  addLease(holder: string, chainIds: readonly string[]): void {
    const ins = this.db.prepare('INSERT OR IGNORE INTO layer_leases (holder, chain_id) VALUES (?, ?)');
    this.db.transaction(() => {
      for (const c of chainIds) ins.run(holder, c);
    })();
    killPoint('image.lease.written');
  }

  releaseLease(holder: string): number {
    const n = this.db.prepare('DELETE FROM layer_leases WHERE holder = ?').run(holder).changes;
    killPoint('image.lease.released');
    return n;
  }

  leaseHolders(): string[] {
    return (this.db.prepare('SELECT DISTINCT holder FROM layer_leases ORDER BY holder').all() as { holder: string }[]).map((r) => r.holder);
  }

  /** Bytes and inodes the store accounts for: blobs once each, layers once each. */
  usage(): { blobBytes: number; blobs: number; layerBytes: number; layerInodes: number } {
    const b = this.db.prepare('SELECT COALESCE(SUM(size), 0) AS bytes, COUNT(*) AS n FROM (SELECT digest, MAX(size) AS size FROM image_blobs GROUP BY digest)').get() as {
      bytes: number;
      n: number;
    };
    const l = this.db.prepare('SELECT COALESCE(SUM(size), 0) AS bytes, COALESCE(SUM(inodes), 0) AS inodes FROM layers').get() as { bytes: number; inodes: number };
    return { blobBytes: b.bytes, blobs: b.n, layerBytes: l.bytes, layerInodes: l.inodes };
  }
}
