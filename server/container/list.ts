// ListContainers and StreamContainers with the CRI filter: id (full or prefix), state,
// pod_sandbox_id (full or prefix, as crictl passes truncated ids) and a label selector.
import { matchesLabels } from '../sandbox/list.js';
import { toContainer } from './status.js';
import { inBatches } from '../cri/rpc.js';
import type { ContainerDeps } from './deps.js';
import type { ContainerRecord } from './types.js';
import type { ContainerFilter__Output } from '../../wire/cri/generated/runtime/v1/ContainerFilter.js';
import type { ListContainersRequest__Output } from '../../wire/cri/generated/runtime/v1/ListContainersRequest.js';
import type { ListContainersResponse } from '../../wire/cri/generated/runtime/v1/ListContainersResponse.js';
import type { StreamContainersRequest__Output } from '../../wire/cri/generated/runtime/v1/StreamContainersRequest.js';
import type { StreamContainersResponse } from '../../wire/cri/generated/runtime/v1/StreamContainersResponse.js';

export function containerMatches(rec: Readonly<ContainerRecord>, f: ContainerFilter__Output | null): boolean {
  if (rec.creating) return false;
  if (!f) return true;
  if (f.id && !rec.id.startsWith(f.id)) return false;
  if (f.state && rec.state !== f.state.state) return false;
  if (f.pod_sandbox_id && !rec.sandboxId.startsWith(f.pod_sandbox_id)) return false;
  return matchesLabels(rec.config.labels ?? {}, f.label_selector ?? {});
}

export function listContainers(deps: ContainerDeps, req: ListContainersRequest__Output): ListContainersResponse {
  return { containers: deps.store.all().filter((r) => containerMatches(r, req.filter)).map(toContainer) };
}

export async function streamContainers(deps: ContainerDeps, req: StreamContainersRequest__Output, send: (r: StreamContainersResponse) => void): Promise<void> {
  const items = deps.store.all().filter((r) => containerMatches(r, req.filter)).map(toContainer);
  for (const containers of inBatches(items)) send({ containers });
}
