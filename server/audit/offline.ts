// The leak auditor with berthd down: berth's records read straight from meta.db (read-only
// for an audit, never migrated), repairs of records written to it directly, and berthd's
// lock. berthd guards against a second instance through its CRI socket (a live socket is
// refused, server/cri/socket.ts), so `berth leaks --repair` holds that socket — listening
// on it — for as long as it repairs: a berthd started meanwhile (systemd's restart, an
// operator) refuses to start instead of racing the repair.
import Database from 'better-sqlite3';
import { connect, createServer, type Server } from 'node:net';
import { lstat, mkdir, rm, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { BerthConfig } from '../config.js';
import { detectCgroupHost } from '../cgroups/detect.js';
import { resolveCgroupDriver } from '../cgroups/config.js';
import { runtimeHandle } from '../runtime/handlers.js';
import { migrations } from '../store/migrations.js';
import { nowNs } from '../time.js';
import type { ContainerRecord } from '../container/types.js';
import type { SandboxRuntime, SandboxState } from '../sandbox/types.js';
import { auditLeaks, podCgroupPath, sortFindings } from './leaks.js';
import { repairFindings, repairUntilClean, type RecordRepairs } from './repair.js';
import type { AuditRecords, AuditReport, AuditScope, RepairReport } from './types.js';

/** Where this instance keeps things, from its configuration and the host's cgroup layout. */
export async function auditScope(config: BerthConfig): Promise<AuditScope> {
  const host = await detectCgroupHost();
  let driver: AuditScope['cgroups']['driver'];
  try {
    driver = resolveCgroupDriver(config.cgroup_driver, host);
  } catch {
    driver = 'cgroupfs';
  }
  return {
    root: config.root,
    state: config.state,
    runtimes: Object.keys(config.runtimes).map((n) => runtimeHandle(config, n)),
    cni: { confDir: config.cni.conf_dir, binDirs: config.cni.bin_dirs },
    cgroups: { layout: host.layout, driver },
  };
}

function openStore(file: string, readonly: boolean): Database.Database {
  let db: Database.Database;
  try {
    db = new Database(file, { readonly, fileMustExist: true });
    db.pragma('busy_timeout = 5000');
  } catch (e) {
    if ((e as { code?: string }).code === 'SQLITE_CANTOPEN') throw new Error(`no berth store at ${file}`);
    throw e;
  }
  const schema = db.pragma('user_version', { simple: true }) as number;
  if (schema !== migrations.length) {
    db.close();
    throw new Error(`${file} has schema version ${schema}; this berth knows ${migrations.length}: run the berth of the release that last ran berthd (or start berthd once to migrate it)`);
  }
  return db;
}

const setting = (db: Database.Database, key: string): string[] => {
  const v = (db.prepare('SELECT value FROM settings WHERE key = ?').get(key) as { value: string } | undefined)?.value;
  try {
    return v ? (JSON.parse(v) as string[]) : [];
  } catch {
    return [];
  }
};

/** berth's records as stored in meta.db. */
export function storeRecords(db: Database.Database, driver: 'cgroupfs' | 'systemd' = 'cgroupfs'): AuditRecords {
  const sandboxes = (db.prepare('SELECT id, state, runtime, config FROM sandboxes').all() as Array<{ id: string; state: string; runtime: string; config: string }>).map((r) => {
    const cgroupParent = podCgroupPath(JSON.parse(r.config) as { linux?: { cgroup_parent?: string } }, driver);
    return { id: r.id, state: r.state as SandboxState, runtime: JSON.parse(r.runtime) as SandboxRuntime, ...(cgroupParent ? { cgroupParent } : {}) };
  });
  const containers = (db.prepare('SELECT record FROM containers').all() as Array<{ record: string }>).map((r) => {
    const c = JSON.parse(r.record) as ContainerRecord;
    return { id: c.id, sandboxId: c.sandboxId, state: c.state, creating: c.creating, inFlight: false, conmonPid: c.conmonPid, paths: c.paths, cgroupsPath: c.cgroupsPath, handler: c.handler, runtimePath: c.runtimePath, runtimeRoot: c.runtimeRoot };
  });
  const col = (sql: string, name: string) => (db.prepare(sql).all() as Array<Record<string, string>>).map((r) => r[name]!);
  return {
    sandboxes,
    containers,
    podCgroupDirs: setting(db, 'pod_cgroup_dirs'),
    podSlices: setting(db, 'pod_slices'),
    layers: col('SELECT chain_id FROM layers', 'chain_id').map((chainId) => ({ chainId })),
    usedLayers: new Set(col('SELECT chain_id FROM image_layers UNION SELECT chain_id FROM layer_leases', 'chain_id')),
    usedBlobs: new Set(col('SELECT DISTINCT digest FROM image_blobs', 'digest')),
    leaseHolders: col('SELECT DISTINCT holder FROM layer_leases ORDER BY holder', 'holder'),
    pinned: () => false,
  };
}

/** Record repairs written to meta.db directly (berthd is down and cannot start meanwhile). */
export function storeRepairs(db: Database.Database, root: string): RecordRepairs {
  const updateContainer = (id: string, change: (c: ContainerRecord) => void) => {
    const row = db.prepare('SELECT record FROM containers WHERE id = ?').get(id) as { record: string } | undefined;
    if (!row) return;
    const c = JSON.parse(row.record) as ContainerRecord;
    change(c);
    db.prepare('UPDATE containers SET record = ? WHERE id = ?').run(JSON.stringify(c), id);
  };
  return {
    async releaseLease(holder) {
      db.prepare('DELETE FROM layer_leases WHERE holder = ?').run(holder);
    },
    async deleteContainerRecord(id) {
      db.transaction(() => {
        db.prepare('DELETE FROM layer_leases WHERE holder = ?').run(id);
        db.prepare('DELETE FROM containers WHERE id = ?').run(id);
      })();
    },
    async markContainerExited(id) {
      updateContainer(id, (c) => {
        c.state = 'CONTAINER_EXITED';
        c.exitCode = 255;
        c.reason = 'Error';
        c.message = "the container's monitor is gone and left no exit code (berth leaks)";
        c.finishedAt = nowNs().toString();
      });
    },
    async markSandboxNotReady(id) {
      db.prepare("UPDATE sandboxes SET state = 'SANDBOX_NOTREADY' WHERE id = ?").run(id);
    },
    async forgetCreatedCgroup(key, entry) {
      const list = setting(db, key).filter((e) => e !== entry);
      db.prepare('INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value').run(key, JSON.stringify(list.sort()));
    },
    async collectImageGarbage(key, path) {
      // Same rule as berthd's collector: only what no image and no lease uses.
      if (key.startsWith('sha256:') && path.startsWith(join(root, 'layers'))) {
        const used = db.prepare('SELECT 1 FROM image_layers WHERE chain_id = ? UNION SELECT 1 FROM layer_leases WHERE chain_id = ?').get(key, key);
        if (used) throw new Error(`layer ${key} is in use again`);
        db.prepare('DELETE FROM layers WHERE chain_id = ?').run(key);
      } else if (db.prepare('SELECT 1 FROM image_blobs WHERE digest = ?').get(key)) throw new Error(`blob ${key} is in use again`);
      await rm(path, { recursive: true, force: true });
    },
  };
}

function probe(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    const done = (live: boolean) => {
      s.destroy();
      resolve(live);
    };
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
    s.setTimeout(2000, () => done(true));
  });
}

/** Whether a berthd serves this configuration (its admin or CRI socket answers). */
export async function berthdRunning(config: Pick<BerthConfig, 'socket' | 'state'>): Promise<boolean> {
  return (await probe(join(config.state, 'admin.sock'))) || (await probe(config.socket));
}

/**
 * Takes berthd's lock: listens on its CRI socket, so a berthd that starts now refuses ("another
 * process is already serving"). Throws when a berthd runs. Release it with the returned function.
 */
export async function takeBerthdLock(config: Pick<BerthConfig, 'socket' | 'state'>): Promise<() => Promise<void>> {
  if (await berthdRunning(config)) throw new Error(`berthd is running (${config.socket} answers): use it (berth leaks --repair asks it) or stop it first`);
  await mkdir(dirname(config.socket), { recursive: true, mode: 0o711 });
  try {
    if ((await lstat(config.socket)).isSocket()) await unlink(config.socket);
    else throw new Error(`${config.socket} exists and is not a socket; refusing to replace it`);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const server: Server = createServer((s) => s.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => reject(e.code === 'EADDRINUSE' ? new Error(`berthd started meanwhile (${config.socket} is taken)`) : e));
    server.listen(config.socket, () => resolve());
  });
  return async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(config.socket, { force: true });
  };
}

/** Audits with berthd down (read-only). */
export async function auditOffline(config: BerthConfig, scope?: AuditScope): Promise<AuditReport> {
  const sc = scope ?? (await auditScope(config));
  const db = openStore(join(config.root, 'meta.db'), true);
  try {
    const { findings, warnings } = await auditLeaks(sc, () => storeRecords(db, sc.cgroups.driver));
    return { mode: 'read-only', findings: sortFindings(findings), warnings };
  } finally {
    db.close();
  }
}

/** Repairs with berthd down: takes berthd's lock, repairs in order, audits again, releases the lock. */
export async function repairOffline(config: BerthConfig, scope?: AuditScope): Promise<RepairReport> {
  const sc = scope ?? (await auditScope(config));
  const release = await takeBerthdLock(config);
  try {
    const db = openStore(join(config.root, 'meta.db'), false);
    try {
      const r = await repairUntilClean(
        () => auditLeaks(sc, () => storeRecords(db, sc.cgroups.driver)),
        (findings) => repairFindings(findings, { records: storeRepairs(db, config.root), guard: (_f, fn) => fn() }),
      );
      return { mode: 'direct', before: sortFindings(r.before), repairs: r.repairs, after: sortFindings(r.after), warnings: r.warnings };
    } finally {
      db.close();
    }
  } finally {
    await release();
  }
}
