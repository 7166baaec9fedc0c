// ContainerStatus, and the CRI views of a container record that lists, events and pod
// status share.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { nowNs } from '../time.js';
import { toPodSandboxStatus } from '../sandbox/status.js';
import type { ContainerDeps } from './deps.js';
import type { ContainerRecord } from './types.js';
import type { Container } from '../../wire/cri/generated/runtime/v1/Container.js';
import type { ContainerStatus } from '../../wire/cri/generated/runtime/v1/ContainerStatus.js';
import type { ContainerStatusRequest__Output } from '../../wire/cri/generated/runtime/v1/ContainerStatusRequest.js';
import type { ContainerStatusResponse } from '../../wire/cri/generated/runtime/v1/ContainerStatusResponse.js';
import type { ContainerEventResponse } from '../../wire/cri/generated/runtime/v1/ContainerEventResponse.js';
import type { ContainerEventType } from '../../wire/cri/generated/runtime/v1/ContainerEventType.js';

export function toContainer(rec: Readonly<ContainerRecord>): Container {
  return {
    id: rec.id,
    pod_sandbox_id: rec.sandboxId,
    metadata: rec.config.metadata,
    image: { image: rec.image.id, annotations: rec.config.image?.annotations ?? {}, user_specified_image: rec.image.ref },
    image_ref: rec.image.imageRef,
    image_id: rec.image.id,
    state: rec.state,
    created_at: rec.createdAt,
    labels: rec.config.labels,
    annotations: rec.config.annotations,
  };
}

export function toContainerStatus(rec: Readonly<ContainerRecord>): ContainerStatus {
  return {
    id: rec.id,
    metadata: rec.config.metadata,
    state: rec.state,
    created_at: rec.createdAt,
    started_at: rec.startedAt,
    finished_at: rec.finishedAt,
    exit_code: rec.exitCode,
    image: { image: rec.image.id, annotations: rec.config.image?.annotations ?? {}, user_specified_image: rec.image.ref },
    image_ref: rec.image.imageRef,
    image_id: rec.image.id,
    reason: rec.reason,
    message: rec.message,
    labels: rec.config.labels,
    annotations: rec.config.annotations,
    mounts: rec.config.mounts,
    log_path: rec.logPath,
    resources: rec.resources ? { linux: rec.resources } : null,
    ...(rec.user ? { user: { linux: { uid: String(rec.user.uid), gid: String(rec.user.gid), supplemental_groups: (rec.user.additionalGids ?? []).map(String) } } } : {}),
  };
}

export async function containerVerboseInfo(rec: Readonly<ContainerRecord>): Promise<Record<string, string>> {
  let runtimeSpec: unknown = null;
  try {
    runtimeSpec = JSON.parse(await readFile(join(rec.paths.bundle, 'config.json'), 'utf8'));
  } catch {
    /* removed or never written */
  }
  return {
    info: JSON.stringify({
      sandboxID: rec.sandboxId,
      pid: rec.state === 'CONTAINER_RUNNING' || rec.state === 'CONTAINER_CREATED' ? rec.pid : 0,
      conmonPid: rec.conmonPid,
      runtimeHandler: rec.handler,
      runtime: { path: rec.runtimePath, root: rec.runtimeRoot },
      bundle: rec.paths.bundle,
      rootfs: rec.paths.rootfs,
      cgroupsPath: rec.cgroupsPath,
      config: rec.config,
      runtimeSpec,
    }),
  };
}

export async function containerStatus(deps: ContainerDeps, req: ContainerStatusRequest__Output): Promise<ContainerStatusResponse> {
  const id = deps.store.resolve(req.container_id);
  const rec = deps.store.peek(id)!;
  return { status: toContainerStatus(rec), info: req.verbose ? await containerVerboseInfo(rec) : {} };
}

export function containerEvent(deps: ContainerDeps, rec: Readonly<ContainerRecord>, type: ContainerEventType): ContainerEventResponse {
  const sb = deps.sandboxes.store.get(rec.sandboxId);
  return {
    container_id: rec.id,
    container_event_type: type,
    created_at: nowNs().toString(),
    pod_sandbox_status: sb ? toPodSandboxStatus(sb) : null,
    containers_statuses: [toContainerStatus(rec)],
  };
}
