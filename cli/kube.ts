// A small Kubernetes API client for the chart's installer and its pre-delete hook: JSON over
// Node's https with the pod's ServiceAccount token and CA (inClusterApi), nothing else.
// Only what they need on Node objects: get, list by label selector, a JSON merge patch of
// labels/annotations, and taints changed with a JSON patch guarded by the object's
// resourceVersion (a `test` op: a concurrent change makes the API answer 409/422 and the
// change is retried on the fresh object, so another controller's taints are never lost).
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { KubeApiOptions } from './metrics-proxy.js';

export { inClusterApi, type KubeApiOptions } from './metrics-proxy.js';

export class KubeError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

export interface Taint {
  key: string;
  value?: string;
  effect: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
  timeAdded?: string;
}

export interface Node {
  metadata: { name: string; resourceVersion?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: { taints?: Taint[]; unschedulable?: boolean };
  status?: { conditions?: Array<{ type: string; status: string }>; nodeInfo?: { containerRuntimeVersion?: string } };
}

/** One API call; the answer's JSON, or a KubeError with the API's status and message. */
export async function kubeRequest(api: KubeApiOptions, method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<any> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const url = new URL(path, api.baseUrl);
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  const token = await api.token();
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  const timeout = api.timeoutMs ?? 10_000;
  return new Promise((resolve, reject) => {
    const req = send(
      url,
      {
        method,
        headers: {
          accept: 'application/json',
          authorization: `Bearer ${token}`,
          ...(payload ? { 'content-type': contentType, 'content-length': payload.length } : {}),
        },
        ...(api.ca ? { ca: api.ca } : {}),
        // A connection per call: a kept-alive one the server closes while idle fails the next
        // call with ECONNRESET (seen against our fake API server), and a call every few seconds
        // at most needs no pool.
        agent: false,
        timeout,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
          try {
            json = text === '' ? {} : JSON.parse(text);
          } catch {
            return reject(new KubeError(`${method} ${url.pathname}: HTTP ${res.statusCode}: the API server's answer is not JSON`, res.statusCode ?? 0));
          }
          const code = res.statusCode ?? 0;
          if (code >= 300) return reject(new KubeError(`${method} ${url.pathname}: HTTP ${code}: ${json?.message ?? text.slice(0, 200)}`, code));
          resolve(json);
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${url.pathname}: no answer from the API server in ${timeout} ms`)));
    req.on('error', reject);
    req.end(payload);
  });
}

const nodePath = (name: string) => `/api/v1/nodes/${encodeURIComponent(name)}`;

export class KubeClient {
  constructor(readonly api: KubeApiOptions) {}

  getNode(name: string): Promise<Node> {
    return kubeRequest(this.api, 'GET', nodePath(name));
  }

  async listNodes(labelSelector: string): Promise<Node[]> {
    const r = await kubeRequest(this.api, 'GET', `/api/v1/nodes?labelSelector=${encodeURIComponent(labelSelector)}`);
    return (r.items ?? []) as Node[];
  }

  /** Sets (string) or removes (null) labels and annotations: a JSON merge patch. */
  patchMeta(name: string, meta: { labels?: Record<string, string | null>; annotations?: Record<string, string | null> }): Promise<Node> {
    return kubeRequest(this.api, 'PATCH', nodePath(name), { metadata: meta }, 'application/merge-patch+json');
  }

  /** Changes the node's taints with `change` (which gets a copy), retried on a concurrent update. */
  async updateTaints(name: string, change: (taints: Taint[]) => Taint[]): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const node = await this.getNode(name);
      const before = node.spec?.taints ?? [];
      const after = change(before.map((t) => ({ ...t })));
      if (JSON.stringify(after) === JSON.stringify(before)) return;
      const ops = [
        { op: 'test', path: '/metadata/resourceVersion', value: node.metadata.resourceVersion },
        node.spec?.taints ? { op: 'replace', path: '/spec/taints', value: after } : { op: 'add', path: '/spec/taints', value: after },
      ];
      try {
        await kubeRequest(this.api, 'PATCH', nodePath(name), ops, 'application/json-patch+json');
        return;
      } catch (e) {
        if (e instanceof KubeError && (e.status === 409 || e.status === 422) && attempt < 5) continue;
        throw e;
      }
    }
  }
}
