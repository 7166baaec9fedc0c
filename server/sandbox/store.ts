// PodSandboxStore: sandbox records in meta.db, mirrored in memory for fast lists.
// Every change is written through before the call that made it returns. The config is
// written once (it never changes); an update writes only the state and the runtime JSON
// (namespaces, CNI result, cgroup, files). Why containers keep one JSON blob instead:
// see server/container/store.ts.
import type { Db } from '../store/db.js';
import type { SandboxRecord, SandboxState } from './types.js';
import { alreadyExists } from '../errors.js';
import { resolveId } from '../ids.js';
import { killPoint } from '../kill-points.js';

interface Row {
  id: string;
  name: string;
  namespace: string;
  uid: string;
  attempt: number;
  state: string;
  created_at: string;
  handler: string;
  config: string;
  runtime: string;
}

export class PodSandboxStore {
  private readonly byId = new Map<string, SandboxRecord>();
  private readonly stmts;

  constructor(private readonly db: Db) {
    this.stmts = {
      insert: db.prepare(
        'INSERT INTO sandboxes (id, name, namespace, uid, attempt, state, created_at, handler, config, runtime) VALUES (@id, @name, @namespace, @uid, @attempt, @state, @created_at, @handler, @config, @runtime)',
      ),
      update: db.prepare('UPDATE sandboxes SET state = @state, runtime = @runtime WHERE id = @id'),
      delete: db.prepare('DELETE FROM sandboxes WHERE id = ?'),
      all: db.prepare('SELECT * FROM sandboxes ORDER BY created_at'),
    };
    for (const row of this.stmts.all.all() as Row[]) this.byId.set(row.id, fromRow(row));
  }

  /** Adds a new record; the same name+namespace+uid+attempt twice is ALREADY_EXISTS. */
  add(rec: SandboxRecord): void {
    const dup = this.findByMetadata(rec.name, rec.namespace, rec.uid, rec.attempt);
    if (dup) {
      throw alreadyExists(`pod sandbox ${rec.namespace}/${rec.name} (uid ${rec.uid}, attempt ${rec.attempt}) already exists as ${dup.id}`);
    }
    this.stmts.insert.run(toRow(rec));
    killPoint('store.sandbox.added');
    this.byId.set(rec.id, structuredClone(rec));
  }

  update(rec: SandboxRecord): void {
    this.stmts.update.run({ id: rec.id, state: rec.state, runtime: JSON.stringify(rec.runtime) });
    killPoint('store.sandbox.updated');
    this.byId.set(rec.id, structuredClone(rec));
  }

  delete(id: string): void {
    this.stmts.delete.run(id);
    killPoint('store.sandbox.deleted');
    this.byId.delete(id);
  }

  /** A copy of the record: callers change it and `update` it back. */
  get(id: string): SandboxRecord | undefined {
    const r = this.byId.get(id);
    return r && structuredClone(r);
  }

  /** Resolves a full id or unique prefix (NOT_FOUND otherwise). */
  resolve(idOrPrefix: string): string {
    return resolveId(idOrPrefix, this.byId.keys(), 'pod sandbox');
  }

  list(): SandboxRecord[] {
    return [...this.byId.values()].map((r) => structuredClone(r));
  }

  /** The records themselves, not copies, for readers that change nothing (the metrics sampler, every round). */
  all(): ReadonlyArray<Readonly<SandboxRecord>> {
    return [...this.byId.values()];
  }

  ids(): string[] {
    return [...this.byId.keys()];
  }

  findByMetadata(name: string, namespace: string, uid: string, attempt: number): SandboxRecord | undefined {
    for (const r of this.byId.values()) {
      if (r.name === name && r.namespace === namespace && r.uid === uid && r.attempt === attempt) return r;
    }
    return undefined;
  }

  setState(rec: SandboxRecord, state: SandboxState): void {
    rec.state = state;
    this.update(rec);
  }
}

function toRow(r: SandboxRecord): Row {
  return {
    id: r.id,
    name: r.name,
    namespace: r.namespace,
    uid: r.uid,
    attempt: r.attempt,
    state: r.state,
    created_at: r.createdAt,
    handler: r.handler,
    config: JSON.stringify(r.config),
    runtime: JSON.stringify(r.runtime),
  };
}

function fromRow(r: Row): SandboxRecord {
  return {
    id: r.id,
    name: r.name,
    namespace: r.namespace,
    uid: r.uid,
    attempt: r.attempt,
    state: r.state as SandboxState,
    createdAt: r.created_at,
    handler: r.handler,
    config: JSON.parse(r.config) as SandboxRecord['config'],
    runtime: JSON.parse(r.runtime) as SandboxRecord['runtime'],
  };
}
