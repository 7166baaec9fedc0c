// Where the operator views (berth ps, inspect, logs, top) get berth's state: the running
// berthd's admin socket when it answers, or else berth's store opened read-only and the host
// (mode "read-only": no event ring, nothing written, records as the last berthd left them).
// Both run the same code (server/ops/views.ts, server/ops/top.ts), so the answers match.
import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { BerthConfig } from '../server/config.js';
import { BerthError } from '../server/errors.js';
import { readStoreMarks, storeCompatibility, type Db } from '../server/store/db.js';
import { migrations } from '../server/store/migrations.js';
import { PodSandboxStore } from '../server/sandbox/store.js';
import { ContainerStore } from '../server/container/store.js';
import { ImageStore } from '../server/image/image-store.js';
import { SettingsStore } from '../server/store/settings.js';
import { detectCgroupHost } from '../server/cgroups/detect.js';
import { createCgroups } from '../server/cgroups/manager.js';
import { resolveId } from '../server/ids.js';
import { inspect, podTree, type PsFilter, type PsPod, type ViewSource } from '../server/ops/views.js';
import { TopSampler, type TopSample } from '../server/ops/top.js';
import { admin, AdminError, BerthdDown } from './admin-client.js';
import { CliError, EXIT, type Mode } from './output.js';

export interface LogInfo {
  id: string;
  name: string;
  podId: string;
  state: string;
  logPath: string;
  monitorLogPath: string;
}

export interface NodeSource {
  readonly mode: Mode;
  pods(filter: PsFilter): Promise<PsPod[]>;
  inspect(id: string): Promise<Record<string, unknown>>;
  logInfo(id: string): Promise<LogInfo>;
  /** One sample; rates are relative to this source's previous sample. */
  top(): Promise<TopSample>;
  close(): void;
}

/** A berthd or store error as the exit code scripts see (3 for not found). */
export function cliError(e: unknown): Error {
  if (e instanceof CliError) return e;
  if (e instanceof AdminError && e.message.startsWith('no such endpoint')) {
    // A berthd of a release before these views (same admin protocol, fewer endpoints).
    return new CliError(`the running berthd does not serve this view (${e.message}): it is older than this berth command line; restart berthd on the installed release (systemctl restart berth)`, EXIT.ERROR);
  }
  if (e instanceof AdminError) return new CliError(e.message, e.status === 404 ? EXIT.NOT_FOUND : EXIT.ERROR);
  if (e instanceof BerthError) return new CliError(e.message, e.kind === 'NotFound' ? EXIT.NOT_FOUND : EXIT.ERROR);
  return e as Error;
}

async function call<T>(p: Promise<unknown>): Promise<T> {
  try {
    return (await p) as T;
  } catch (e) {
    throw cliError(e);
  }
}

/** The running berthd's views, or read-only ones when it does not answer. */
export async function openNodeSource(config: Pick<BerthConfig, 'root' | 'state' | 'cgroup_driver'>): Promise<NodeSource> {
  try {
    await admin(config.state, 'GET', '/v1/version');
    return berthdSource(config.state);
  } catch (e) {
    if (!(e instanceof BerthdDown)) throw e;
  }
  return readOnlySource(config);
}

function berthdSource(state: string): NodeSource {
  const get = <T>(path: string) => call<T>(admin(state, 'GET', path));
  return {
    mode: 'berthd',
    async pods(f) {
      const q = new URLSearchParams();
      if (f.pod) q.set('pod', f.pod);
      if (f.namespace) q.set('namespace', f.namespace);
      if (f.state) q.set('state', f.state);
      for (const l of f.labels ?? []) q.append('label', l);
      return (await get<{ pods: PsPod[] }>(`/v1/pods?${q}`)).pods;
    },
    inspect: (id) => get(`/v1/inspect?id=${encodeURIComponent(id)}`),
    logInfo: (id) => get(`/v1/containers/log?id=${encodeURIComponent(id)}`),
    top: () => get('/v1/top'),
    close() {},
  };
}

/** Opens meta.db read-only (never migrating, never writing) after the store policy's check. */
export function openStoreReadOnly(root: string): Db {
  const file = join(root, 'meta.db');
  if (!existsSync(file)) throw new CliError(`berthd is not running and there is no store at ${file} (wrong --root or --config?)`, EXIT.BERTHD_DOWN);
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    const c = storeCompatibility(readStoreMarks(db), migrations.length, file);
    if (!c.ok) throw new CliError(`cannot read the store: ${c.message}`, EXIT.ERROR);
    return db;
  } catch (e) {
    db.close();
    throw e;
  }
}

async function readOnlySource(config: Pick<BerthConfig, 'root' | 'state' | 'cgroup_driver'>): Promise<NodeSource> {
  const db = openStoreReadOnly(config.root);
  const sandboxes = new PodSandboxStore(db);
  const containers = new ContainerStore(db);
  let cgroups;
  try {
    cgroups = createCgroups(await detectCgroupHost(), { setting: config.cgroup_driver, settings: new SettingsStore(db) });
  } catch {
    cgroups = undefined; // no cgroup facts, the records still answer
  }
  const source: ViewSource = { sandboxes: () => sandboxes.list(), containers: () => containers.all(), images: new ImageStore(db), root: config.root, ...(cgroups ? { cgroups } : {}) };
  const sampler = cgroups ? new TopSampler(cgroups) : undefined;
  const wrap = async <T>(f: () => T | Promise<T>): Promise<T> => {
    try {
      return await f();
    } catch (e) {
      throw cliError(e);
    }
  };
  return {
    mode: 'read-only',
    pods: (f) => wrap(() => podTree(source, f)),
    inspect: (id) => wrap(() => inspect(source, id)),
    logInfo: (id) =>
      wrap(() => {
        const c = containers.peek(resolveId(id, containers.all().map((x) => x.id), 'container'))!;
        return { id: c.id, name: c.name, podId: c.sandboxId, state: c.state, logPath: c.logPath, monitorLogPath: c.monitorLogPath };
      }),
    top: () =>
      wrap(() => {
        if (!sampler) throw new CliError("cannot read this host's cgroups", EXIT.ERROR);
        return sampler.sample(sandboxes.list(), containers.all());
      }),
    close: () => db.close(),
  };
}
