// berthd's admin endpoint for the `berth` command line: HTTP on a root-only unix socket
// (<state>/admin.sock, mode 0600). It serves what CRI has no RPC for, such as importing
// an image archive on an air-gapped node, through the running berthd so that its store
// and garbage collector stay the only writers. Requests and answers carry the admin
// protocol's version (admin-protocol.ts); a request of another version is refused (412).
import { createServer, type IncomingMessage, type ServerResponse, type Server } from 'node:http';
import { chmod, rm } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import { BerthError, invalidArgument, notFound } from './errors.js';
import { resolveId } from './ids.js';
import type { ImageManager } from './image/index.js';
import type { Logger } from './logger.js';
import { ADMIN_PROTOCOL, ADMIN_PROTOCOL_HEADER, BERTH_VERSION_HEADER, adminProtocolMismatch } from './admin-protocol.js';
import { BERTH_VERSION } from './status/version.js';
import { SHIM_PROTOCOL } from '../shim/job.js';
import { migrations } from './store/migrations.js';
import type { LeakAuditor } from './audit/daemon.js';
import { inspect, podTree, type ViewSource } from './ops/views.js';
import type { TopSampler } from './ops/top.js';

const HTTP_STATUS: Record<string, number> = { InvalidArgument: 400, NotFound: 404, AlreadyExists: 409, FailedPrecondition: 412, PermissionDenied: 403, Canceled: 499, Unavailable: 503, ResourceExhausted: 507 };

async function body(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > 1 << 20) throw invalidArgument('request body too large');
    chunks.push(c as Buffer);
  }
  if (!size) return {};
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
  } catch {
    throw invalidArgument('request body is not JSON');
  }
}

export interface AdminDeps {
  images: ImageManager;
  log: Logger;
  /** berthd's own health for `berth doctor` (GET /v1/health): serving, recent warnings and errors. */
  health?: () => Record<string, unknown>;
  /** `berth leaks`: the leak auditor, auditing and repairing under berthd's locks. */
  leaks?: LeakAuditor;
  /** The operator views (berth ps, inspect, logs, top: issue 13). */
  views?: { source: ViewSource; top: TopSampler };
  /** Sizes of berthd's in-memory tables (GET /v1/debug/sizes): the soak checks they do not grow. */
  sizes?: () => Record<string, number>;
}

/** GET /v1/pods, /v1/inspect, /v1/containers/log, /v1/top: read-only views (server/ops/). */
async function viewRoute(v: NonNullable<AdminDeps['views']>, url: URL): Promise<unknown> {
  const q = (k: string) => url.searchParams.get(k) ?? undefined;
  switch (url.pathname) {
    case '/v1/pods':
      return { pods: podTree(v.source, { pod: q('pod'), namespace: q('namespace'), state: q('state'), labels: url.searchParams.getAll('label') }) };
    case '/v1/inspect':
      return inspect(v.source, q('id') ?? '');
    case '/v1/containers/log': {
      const id = resolveId(q('id') ?? '', v.source.containers().map((c) => c.id), 'container');
      const c = v.source.containers().find((x) => x.id === id)!;
      return { id: c.id, name: c.name, podId: c.sandboxId, state: c.state, logPath: c.logPath, monitorLogPath: c.monitorLogPath };
    }
    case '/v1/top':
      return v.top.sample(v.source.sandboxes(), v.source.containers());
    default:
      return undefined;
  }
}

/**
 * POST /v1/images/pull {"ref": "…"}: pulls through berthd's image manager and answers with
 * newline-delimited JSON, one PullEvent per line as the pull goes, then
 * {"type":"pulled",…} or {"type":"error","error":"…","kind":"…"} last. The status is 200
 * once the stream starts (a bad request before it is answered as any other). The client
 * closing the connection cancels the pull as a cancelled CRI PullImage does: nothing it
 * made is kept unless another pull (kubelet's) still wants it.
 */
async function streamPull(deps: AdminDeps, req: IncomingMessage, res: ServerResponse, signal: AbortSignal): Promise<void> {
  const b = await body(req);
  const ref = b.ref;
  if (typeof ref !== 'string' || !ref) throw invalidArgument('"ref" must be an image reference');
  res.statusCode = 200;
  res.setHeader('content-type', 'application/x-ndjson');
  res.flushHeaders();
  const line = (o: object) => {
    if (!res.writableEnded && !res.destroyed) res.write(JSON.stringify(o) + '\n');
  };
  try {
    await deps.images.pull(ref, { signal, onProgress: line });
    deps.log.info('image pulled through the admin socket', { ref });
  } catch (e) {
    line({ type: 'error', error: (e as Error).message, kind: e instanceof BerthError ? e.kind : 'Internal' });
  }
  res.end();
}

async function route(deps: AdminDeps, req: IncomingMessage, res: ServerResponse, signal: AbortSignal): Promise<unknown> {
  const url = new URL(req.url ?? '/', 'http://berthd');
  if (url.pathname === '/v1/version' && req.method === 'GET') {
    return { version: BERTH_VERSION, protocols: { admin: ADMIN_PROTOCOL, shim: SHIM_PROTOCOL }, store: { schema: migrations.length } };
  }
  if (url.pathname === '/v1/health' && req.method === 'GET') return { version: BERTH_VERSION, ...(deps.health?.() ?? {}) };
  if (url.pathname === '/v1/images' && req.method === 'GET') return deps.images.list(null);
  if (deps.views && req.method === 'GET') {
    const out = await viewRoute(deps.views, url);
    if (out !== undefined) return out;
  }
  if (url.pathname === '/v1/debug/sizes' && req.method === 'GET' && deps.sizes) return deps.sizes();
  if (url.pathname === '/v1/images/import' && req.method === 'POST') {
    const b = await body(req);
    const file = b.path;
    if (typeof file !== 'string' || !isAbsolute(file)) throw invalidArgument('"path" must be the absolute path of an image archive');
    const name = typeof b.name === 'string' && b.name ? b.name : undefined;
    const imported = await deps.images.importArchive(file, { name, signal });
    deps.log.info('image archive imported', { file, images: imported.map((i) => i.repoTags.join(',') || i.id) });
    return imported;
  }
  if (url.pathname === '/v1/images' && req.method === 'DELETE') {
    const ref = url.searchParams.get('ref') ?? '';
    if (!ref) throw invalidArgument('"ref" is required');
    if (!(await deps.images.remove(ref))) throw notFound(`image "${ref}" not found`);
    return { removed: ref };
  }
  if (url.pathname === '/v1/leaks' && req.method === 'GET' && deps.leaks) return deps.leaks.audit();
  if (url.pathname === '/v1/leaks/repair' && req.method === 'POST' && deps.leaks) {
    const report = await deps.leaks.repair();
    deps.log.info('leaks repaired', { found: report.before.length, failed: report.repairs.filter((r) => !r.ok).length, left: report.after.length });
    return report;
  }
  res.statusCode = 404;
  return { error: `no such endpoint: ${req.method} ${url.pathname}` };
}

export async function startAdminServer(socket: string, deps: AdminDeps): Promise<Server> {
  await rm(socket, { force: true });
  const server = createServer((req, res) => {
    const ac = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) ac.abort(new Error('the admin client went away'));
    });
    res.setHeader(ADMIN_PROTOCOL_HEADER, String(ADMIN_PROTOCOL));
    res.setHeader(BERTH_VERSION_HEADER, BERTH_VERSION);
    const theirs = req.headers[ADMIN_PROTOCOL_HEADER];
    if (theirs !== String(ADMIN_PROTOCOL)) {
      const error = adminProtocolMismatch(
        { protocol: typeof theirs === 'string' ? theirs : '', version: String(req.headers[BERTH_VERSION_HEADER] ?? '') },
        { protocol: String(ADMIN_PROTOCOL), version: BERTH_VERSION },
      );
      res.statusCode = 412;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ error }));
      req.resume();
      return;
    }
    if (new URL(req.url ?? '/', 'http://berthd').pathname === '/v1/images/pull' && req.method === 'POST') {
      streamPull(deps, req, res, ac.signal).catch((e: unknown) => {
        if (res.headersSent) return void res.end();
        res.statusCode = e instanceof BerthError ? (HTTP_STATUS[e.kind] ?? 500) : 500;
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ error: (e as Error).message }));
      });
      return;
    }
    route(deps, req, res, ac.signal).then(
      (out) => {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify(out));
      },
      (e: unknown) => {
        res.statusCode = e instanceof BerthError ? (HTTP_STATUS[e.kind] ?? 500) : 500;
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ error: (e as Error).message }));
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socket, () => resolve());
  });
  await chmod(socket, 0o600);
  return server;
}
