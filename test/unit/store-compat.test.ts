// The store's rollback policy (server/store/migrations.ts, db.ts) with made-up migration
// lists: a newer release's additive migration leaves the store open to the older one, a
// breaking one makes the older one refuse with a message naming the release and the
// backup; migrating an existing store saves meta.db.schema-<old>.bak first; the marks
// (oldest reader, migrator) are recorded; the real list's oldest reader is its last
// breaking migration.
import test from 'ava';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { openDatabase, readStoreMarks, storeCompatibility } from '../../server/store/db.js';
import { migrations, minReaderSchema, type Migration } from '../../server/store/migrations.js';

const m1: Migration = { name: 'settings', compat: 'breaking', up: (db) => db.exec('CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)') };
const m2: Migration = { name: 'things', compat: 'breaking', up: (db) => db.exec('CREATE TABLE things (id TEXT PRIMARY KEY)') };
const additive: Migration = { name: 'an index', compat: 'additive', up: (db) => db.exec('CREATE INDEX things_id ON things(id)') };
const breaking: Migration = { name: 'a rename', compat: 'breaking', up: (db) => db.exec('ALTER TABLE things RENAME TO stuff') };

function tmp(t: { teardown(fn: () => void): void }): string {
  const d = mkdtempSync(join(tmpdir(), 'berth-store-compat-'));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return join(d, 'meta.db');
}

test('an older release runs on a store a newer one migrated additively, and says so', (t) => {
  const file = tmp(t);
  openDatabase(file, { migrations: [m1, m2], release: '1.0.0' }).close();
  t.false(existsSync(`${file}.schema-0.bak`), 'a new store needs no backup');
  const db = openDatabase(file, { migrations: [m1, m2, additive], release: '1.1.0' });
  t.deepEqual(readStoreMarks(db), { schema: 3, minReader: 2, migratedBy: '1.1.0' });
  db.close();
  t.true(existsSync(`${file}.schema-2.bak`), 'the store before the migration is kept');
  const notes: string[] = [];
  const old = openDatabase(file, { migrations: [m1, m2], release: '1.0.0', onNewerStore: (msg) => notes.push(msg) });
  t.deepEqual(readStoreMarks(old), { schema: 3, minReader: 2, migratedBy: '1.1.0' }, 'the older release changes nothing');
  old.close();
  t.is(notes.length, 1);
});

test('an older release refuses a store a newer one migrated with a breaking change, naming what to do', (t) => {
  const file = tmp(t);
  openDatabase(file, { migrations: [m1, m2], release: '1.0.0' }).close();
  openDatabase(file, { migrations: [m1, m2, additive, breaking], release: '2.0.0' }).close();
  const err = t.throws(() => openDatabase(file, { migrations: [m1, m2, additive], release: '1.1.0' }));
  t.is(
    err?.message,
    `refusing to run an older berthd on a newer store: ${file} has schema version 4, migrated by berth 2.0.0; this berth release knows schema versions up to 3, and that store needs at least 4. Run berth 2.0.0 or newer (berth node install --bundle /opt/berth/2.0.0), or, losing every change made since the migration, restore the copy it saved (${file}.schema-<N>.bak, N ≤ 3) with berthd stopped`,
  );
  t.true(existsSync(`${file}.schema-2.bak`));
});

test('a store without the marks (older than the policy) is readable only by its own schema or newer', (t) => {
  t.true(storeCompatibility({ schema: 3, minReader: 3, migratedBy: '' }, 3).ok);
  const c = storeCompatibility({ schema: 3, minReader: 3, migratedBy: '' }, 2, '/var/lib/berth/meta.db');
  t.false(c.ok);
  t.regex(c.message, /migrated by a newer berth; .* Run the newer berth release that migrated it \(berth node install --bundle \/opt\/berth\/<that version>\)/);
});

test('the oldest reader is the last breaking migration; berth\'s own list starts with breaking ones', (t) => {
  t.is(minReaderSchema([m1, m2, additive]), 2);
  t.is(minReaderSchema([m1, m2, additive, breaking, additive]), 4);
  t.is(minReaderSchema([]), 0);
  t.true(migrations.every((m) => m.compat === 'additive' || m.compat === 'breaking'));
  t.is(minReaderSchema(), migrations.map((m) => m.compat).lastIndexOf('breaking') + 1);
});
