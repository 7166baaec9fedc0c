// A tiny fake Kubernetes API server for the installer's client (cli/kube.ts): HTTPS on
// 127.0.0.1 with a self-signed certificate made by openssl, Node objects held in memory,
// and every request recorded. It serves exactly what the client uses: GET a node, GET the
// node list with a label selector (`key` or `key=value`), PATCH with a JSON merge patch
// (metadata.labels/annotations, null deletes) and with a JSON patch (`test` on
// /metadata/resourceVersion, add/replace /spec/taints), each write bumping resourceVersion.
// Requests without the expected bearer token get 401. It is not a Kubernetes API server:
// no watch, no RBAC, no admission; no real cluster is involved anywhere in these tests.
import { createServer, type Server } from 'node:https';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import type { AddressInfo } from 'node:net';
import { run } from '../../server/exec.js';
import type { KubeApiOptions } from '../../cli/kube.js';
import type { Node } from '../../cli/kube.js';

export interface RecordedRequest {
  method: string;
  path: string;
  contentType: string | undefined;
  body: unknown;
}

export interface FakeKube {
  api: KubeApiOptions;
  nodes: Map<string, Node>;
  requests: RecordedRequest[];
  /** Before the next JSON patch of this node: bumps its resourceVersion and runs `change` (another writer). */
  interfere(node: string, change: (n: Node) => void): void;
  /** A CA that did not sign the server's certificate. */
  otherCa: Buffer;
  close(): Promise<void>;
}

export async function makeCert(dir: string, name: string): Promise<{ cert: Buffer; key: Buffer }> {
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', `/CN=${name}`, '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, `${name}.key`), '-out', join(dir, `${name}.crt`)]);
  return { cert: readFileSync(join(dir, `${name}.crt`)), key: readFileSync(join(dir, `${name}.key`)) };
}

function mergePatch(target: Record<string, unknown>, patch: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete target[k];
    else if (typeof v === 'object' && !Array.isArray(v)) {
      const t = (target[k] ??= {}) as Record<string, unknown>;
      mergePatch(t, v as Record<string, unknown>);
    } else target[k] = v;
  }
}

export async function startFakeKube(nodeNames: string[], token = 'installer-token'): Promise<FakeKube> {
  const dir = mkdtempSync(join(tmpdir(), 'berth-fake-kube-'));
  const { cert, key } = await makeCert(dir, 'apiserver');
  const other = await makeCert(dir, 'other');
  rmSync(dir, { recursive: true, force: true });
  const nodes = new Map<string, Node>();
  let rv = 100;
  for (const n of nodeNames) nodes.set(n, { metadata: { name: n, resourceVersion: String(rv++), labels: { 'kubernetes.io/hostname': n } }, spec: {} });
  const requests: RecordedRequest[] = [];
  const interference = new Map<string, (n: Node) => void>();
  const server: Server = createServer({ cert, key }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString();
      const body = text ? (JSON.parse(text) as unknown) : undefined;
      const url = new URL(req.url ?? '/', 'https://127.0.0.1');
      requests.push({ method: req.method ?? '', path: url.pathname + url.search, contentType: req.headers['content-type'], body });
      const reply = (code: number, obj: unknown) => {
        res.writeHead(code, { 'content-type': 'application/json' });
        res.end(JSON.stringify(obj));
      };
      const status = (code: number, message: string) => reply(code, { kind: 'Status', apiVersion: 'v1', status: 'Failure', message, code });
      if (req.headers.authorization !== `Bearer ${token}`) return status(401, 'Unauthorized');
      if (req.method === 'GET' && url.pathname === '/api/v1/nodes') {
        const sel = url.searchParams.get('labelSelector') ?? '';
        const [k, v] = sel.split('=');
        const items = [...nodes.values()].filter((n) => !sel || (v === undefined ? k! in (n.metadata.labels ?? {}) : n.metadata.labels?.[k!] === v));
        return reply(200, { kind: 'NodeList', items });
      }
      const m = /^\/api\/v1\/nodes\/([^/]+)$/.exec(url.pathname);
      const node = m ? nodes.get(decodeURIComponent(m[1]!)) : undefined;
      if (!m || !node) return status(404, `nodes "${m?.[1] ?? ''}" not found`);
      if (req.method === 'GET') return reply(200, node);
      if (req.method !== 'PATCH') return status(405, 'method not allowed');
      if (req.headers['content-type'] === 'application/merge-patch+json') {
        mergePatch(node as unknown as Record<string, unknown>, body as Record<string, unknown>);
      } else if (req.headers['content-type'] === 'application/json-patch+json') {
        const meddle = interference.get(node.metadata.name);
        if (meddle) {
          interference.delete(node.metadata.name);
          meddle(node);
          node.metadata.resourceVersion = String(rv++);
        }
        for (const op of body as Array<{ op: string; path: string; value: unknown }>) {
          if (op.op === 'test' && op.path === '/metadata/resourceVersion') {
            if (op.value !== node.metadata.resourceVersion) return status(422, 'the server rejected our request due to an error in our request: test operation failed');
          } else if ((op.op === 'add' || op.op === 'replace') && op.path === '/spec/taints') {
            (node.spec ??= {}).taints = op.value as Node['spec'] extends { taints?: infer T } ? T : never;
          } else return status(422, `unsupported op ${op.op} ${op.path}`);
        }
      } else return status(415, `unsupported media type ${req.headers['content-type']}`);
      node.metadata.resourceVersion = String(rv++);
      return reply(200, node);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    api: { baseUrl: `https://127.0.0.1:${port}`, token: async () => token, ca: cert },
    nodes,
    requests,
    otherCa: other.cert,
    interfere: (n, change) => interference.set(n, change),
    close: () =>
      new Promise((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}
