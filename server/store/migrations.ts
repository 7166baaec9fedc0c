// Schema migrations, applied in order; the index + 1 is the schema version stored in
// PRAGMA user_version. Never edit a released migration: append a new one.
//
// Compatibility policy for rollbacks (an older berthd on a store a newer one migrated):
// - Each migration says whether a berthd that does not know it can still run on a store
//   that has it. 'additive' migrations only add what older code never reads or writes
//   wrongly (a new table, an index, a nullable column no older query names); anything
//   else (renames, drops, new NOT NULL columns, new meanings for old columns, data older
//   code would delete or misread) is 'breaking'. Prefer additive ones.
// - The store records the oldest schema that can run on it (`store.min_reader_schema`,
//   the version of its last breaking migration) and which release migrated it last
//   (`store.migrated_by`), in the settings table every release has.
// - An older berthd starts on a newer store when its own schema version is at least that
//   minimum (it leaves the newer tables alone and does not migrate); otherwise it refuses
//   to start, naming the release that migrated the store and the backup to restore.
// - Before migrating an existing store, berthd copies it to meta.db.schema-<old>.bak
//   (VACUUM INTO), the way back when a rollback across a breaking migration is a must.
// - `berth node install` checks the same rule before it switches /opt/berth/current to an
//   older release, so a rollback that cannot run refuses before it stops the running berthd.
import type Database from 'better-sqlite3';

export interface Migration {
  name: string;
  /** Whether a berthd that does not know this migration can run on a store that has it (see above). */
  compat: 'additive' | 'breaking';
  up(db: Database.Database): void;
}

export const migrations: Migration[] = [
  {
    name: 'sandboxes and runtime settings',
    compat: 'breaking',
    up(db) {
      db.exec(`
        CREATE TABLE settings (
          key   TEXT PRIMARY KEY,
          value TEXT NOT NULL
        );
        CREATE TABLE sandboxes (
          id          TEXT PRIMARY KEY,
          name        TEXT NOT NULL,
          namespace   TEXT NOT NULL,
          uid         TEXT NOT NULL,
          attempt     INTEGER NOT NULL,
          state       TEXT NOT NULL,
          created_at  TEXT NOT NULL,          -- nanoseconds since the epoch, decimal
          handler     TEXT NOT NULL,
          config      TEXT NOT NULL,          -- the PodSandboxConfig as JSON
          runtime     TEXT NOT NULL,          -- what berth set up: namespaces, CNI, cgroup, files
          UNIQUE (name, namespace, uid, attempt)
        );
      `);
    },
  },
  // Images (issue 3): records keyed by image id (the config digest), the names that
  // point at them, the blobs and unpacked layers they use, and containers' leases on
  // layers. A layer's reference count is the number of image_layers + layer_leases rows
  // naming it (counted, not stored, so it cannot drift).
  {
    name: 'images, refs, blobs, layers and layer leases',
    // An older berthd would not lease the layers of containers it does not know.
    compat: 'breaking',
    up(db) {
      db.exec(`
        CREATE TABLE images (
          id               TEXT PRIMARY KEY,      -- sha256 of the image config
          manifest_digest  TEXT NOT NULL,         -- the platform manifest pulled
          media_type       TEXT NOT NULL,         -- that manifest's media type
          config           TEXT NOT NULL,         -- the image config JSON
          size             INTEGER NOT NULL,      -- manifest + config + compressed layers, bytes
          created_at       TEXT NOT NULL          -- when pulled, nanoseconds since the epoch, decimal
        );
        CREATE TABLE image_refs (
          name      TEXT PRIMARY KEY,             -- docker.io/library/busybox:latest or …@sha256:…
          image_id  TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
          kind      TEXT NOT NULL CHECK (kind IN ('tag', 'digest'))
        );
        CREATE INDEX image_refs_image ON image_refs(image_id);
        CREATE TABLE image_blobs (
          image_id  TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
          digest    TEXT NOT NULL,
          size      INTEGER NOT NULL,
          PRIMARY KEY (image_id, digest)
        );
        CREATE INDEX image_blobs_digest ON image_blobs(digest);
        CREATE TABLE layers (
          chain_id    TEXT PRIMARY KEY,
          diff_id     TEXT NOT NULL,
          parent      TEXT,                       -- chain id of the layer below, NULL for the base
          size        INTEGER NOT NULL,           -- bytes of file data unpacked
          inodes      INTEGER NOT NULL,
          created_at  TEXT NOT NULL
        );
        CREATE TABLE image_layers (
          image_id     TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
          position     INTEGER NOT NULL,          -- 0 = base layer
          chain_id     TEXT NOT NULL REFERENCES layers(chain_id),
          blob_digest  TEXT NOT NULL,
          PRIMARY KEY (image_id, position)
        );
        CREATE INDEX image_layers_chain ON image_layers(chain_id);
        CREATE TABLE layer_leases (
          holder    TEXT NOT NULL,                -- e.g. a container id
          chain_id  TEXT NOT NULL REFERENCES layers(chain_id),
          PRIMARY KEY (holder, chain_id)
        );
        CREATE INDEX layer_leases_chain ON layer_leases(chain_id);
      `);
    },
  },
  // Containers (issue 4): the whole record as JSON (config, paths, lifecycle), with the
  // columns lists and uniqueness need. Sandboxes split config and runtime instead; both
  // layouts and why they differ: server/container/store.ts.
  {
    name: 'containers',
    // An older berthd would remove pods without their containers.
    compat: 'breaking',
    up(db) {
      db.exec(`
        CREATE TABLE containers (
          id          TEXT PRIMARY KEY,
          sandbox_id  TEXT NOT NULL,
          name        TEXT NOT NULL,
          attempt     INTEGER NOT NULL,
          created_at  TEXT NOT NULL,          -- nanoseconds since the epoch, decimal
          record      TEXT NOT NULL,          -- server/container/types.ts ContainerRecord as JSON
          UNIQUE (sandbox_id, name, attempt)
        );
        CREATE INDEX containers_sandbox ON containers(sandbox_id);
      `);
    },
  },
];

/** The oldest schema version a berthd may have to run on a store migrated with `list`: the version of its last breaking migration. */
export function minReaderSchema(list: readonly Migration[] = migrations): number {
  for (let v = list.length; v > 0; v--) if (list[v - 1]!.compat === 'breaking') return v;
  return 0;
}
