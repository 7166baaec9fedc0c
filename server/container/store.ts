// ContainerStore: container records in meta.db, mirrored in memory for fast lists. Every
// change is written through before the call that made it returns.
//
// Both record stores follow one rule: columns hold what SQLite must enforce or order by
// (identity, the UNIQUE metadata, created_at), JSON holds the rest, and nothing queries the
// JSON (every record is loaded at start and served from memory). They differ in how the
// JSON is cut: a container's record is one blob rewritten on every change, because its
// lifecycle touches many fields at once (state, pid, started/finished times, exit code,
// reason, log path) and the whole record, config included, stays small. A sandbox keeps its
// config (immutable, and the larger part) apart from its mutable state and runtime columns,
// so its frequent updates do not rewrite the config (see server/sandbox/store.ts). Moving
// either to the other's layout would be a migration of live state for no change in behaviour.
import type { Db } from '../store/db.js';
import type { ContainerRecord } from './types.js';
import { alreadyExists } from '../errors.js';
import { resolveId } from '../ids.js';
import { killPoint } from '../kill-points.js';

interface Row {
  id: string;
  sandbox_id: string;
  name: string;
  attempt: number;
  created_at: string;
  record: string;
}

export class ContainerStore {
  private readonly byId = new Map<string, ContainerRecord>();
  private readonly stmts;

  constructor(db: Db) {
    this.stmts = {
      insert: db.prepare('INSERT INTO containers (id, sandbox_id, name, attempt, created_at, record) VALUES (@id, @sandbox_id, @name, @attempt, @created_at, @record)'),
      update: db.prepare('UPDATE containers SET record = @record WHERE id = @id'),
      delete: db.prepare('DELETE FROM containers WHERE id = ?'),
      all: db.prepare('SELECT * FROM containers ORDER BY created_at'),
    };
    for (const row of this.stmts.all.all() as Row[]) this.byId.set(row.id, JSON.parse(row.record) as ContainerRecord);
  }

  /** Adds a new record; the same name+attempt twice in one pod is ALREADY_EXISTS. */
  add(rec: ContainerRecord): void {
    for (const r of this.byId.values()) {
      if (r.sandboxId === rec.sandboxId && r.name === rec.name && r.attempt === rec.attempt) {
        throw alreadyExists(`container ${rec.name} (attempt ${rec.attempt}) already exists in pod sandbox ${rec.sandboxId} as ${r.id}`);
      }
    }
    this.stmts.insert.run({ id: rec.id, sandbox_id: rec.sandboxId, name: rec.name, attempt: rec.attempt, created_at: rec.createdAt, record: JSON.stringify(rec) });
    this.byId.set(rec.id, structuredClone(rec));
  }

  update(rec: ContainerRecord): void {
    this.stmts.update.run({ id: rec.id, record: JSON.stringify(rec) });
    killPoint('store.container.updated');
    this.byId.set(rec.id, structuredClone(rec));
  }

  delete(id: string): void {
    this.stmts.delete.run(id);
    killPoint('store.container.deleted');
    this.byId.delete(id);
  }

  /** A copy of the record: callers change it and `update` it back. */
  get(id: string): ContainerRecord | undefined {
    const r = this.byId.get(id);
    return r && structuredClone(r);
  }

  /** Read-only view without copying (lists, statuses). */
  peek(id: string): Readonly<ContainerRecord> | undefined {
    return this.byId.get(id);
  }

  resolve(idOrPrefix: string): string {
    return resolveId(idOrPrefix, this.byId.keys(), 'container');
  }

  all(): ReadonlyArray<Readonly<ContainerRecord>> {
    return [...this.byId.values()];
  }

  ofSandbox(sandboxId: string): string[] {
    return [...this.byId.values()].filter((r) => r.sandboxId === sandboxId).map((r) => r.id);
  }
}
