// ListPodSandbox and StreamPodSandboxes with the CRI filter: id (full or unique
// prefix, as crictl passes truncated ids), state, and a label selector (all must match).
import { toPodSandbox } from './status.js';
import { inBatches } from '../cri/rpc.js';
import type { SandboxDeps } from './deps.js';
import type { SandboxRecord } from './types.js';
import type { PodSandboxFilter__Output } from '../../wire/cri/generated/runtime/v1/PodSandboxFilter.js';
import type { ListPodSandboxRequest__Output } from '../../wire/cri/generated/runtime/v1/ListPodSandboxRequest.js';
import type { ListPodSandboxResponse } from '../../wire/cri/generated/runtime/v1/ListPodSandboxResponse.js';
import type { StreamPodSandboxesRequest__Output } from '../../wire/cri/generated/runtime/v1/StreamPodSandboxesRequest.js';
import type { StreamPodSandboxesResponse } from '../../wire/cri/generated/runtime/v1/StreamPodSandboxesResponse.js';

export function matchesLabels(labels: Record<string, string>, selector: Record<string, string>): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

export function sandboxMatches(rec: Pick<SandboxRecord, 'id' | 'state' | 'config'>, f: PodSandboxFilter__Output | null): boolean {
  if (!f) return true;
  if (f.id && !rec.id.startsWith(f.id)) return false;
  if (f.state && rec.state !== f.state.state) return false;
  return matchesLabels(rec.config.labels ?? {}, f.label_selector ?? {});
}

export function listPodSandbox(deps: SandboxDeps, req: ListPodSandboxRequest__Output): ListPodSandboxResponse {
  return { items: deps.store.list().filter((r) => sandboxMatches(r, req.filter)).map(toPodSandbox) };
}

export async function streamPodSandboxes(deps: SandboxDeps, req: StreamPodSandboxesRequest__Output, send: (r: StreamPodSandboxesResponse) => void): Promise<void> {
  const items = deps.store.list().filter((r) => sandboxMatches(r, req.filter)).map(toPodSandbox);
  for (const pod_sandboxes of inBatches(items)) send({ pod_sandboxes });
}
