// PodSandboxStatus, and the CRI views of a sandbox record that list and events share.
import { nowNs } from '../time.js';
import type { SandboxDeps } from './deps.js';
import type { SandboxRecord } from './types.js';
import type { PodSandboxStatus } from '../../wire/cri/generated/runtime/v1/PodSandboxStatus.js';
import type { PodSandbox } from '../../wire/cri/generated/runtime/v1/PodSandbox.js';
import type { PodSandboxStatusRequest__Output } from '../../wire/cri/generated/runtime/v1/PodSandboxStatusRequest.js';
import type { PodSandboxStatusResponse } from '../../wire/cri/generated/runtime/v1/PodSandboxStatusResponse.js';
import type { ContainerEventResponse } from '../../wire/cri/generated/runtime/v1/ContainerEventResponse.js';
import type { ContainerEventType } from '../../wire/cri/generated/runtime/v1/ContainerEventType.js';

export function toPodSandbox(rec: SandboxRecord): PodSandbox {
  return {
    id: rec.id,
    metadata: rec.config.metadata,
    state: rec.state,
    created_at: rec.createdAt,
    labels: rec.config.labels,
    annotations: rec.config.annotations,
    runtime_handler: rec.handler,
  };
}

export function toPodSandboxStatus(rec: SandboxRecord): PodSandboxStatus {
  const nsOpts = rec.config.linux?.security_context?.namespace_options;
  const [ip, ...more] = rec.runtime.ips;
  return {
    ...toPodSandbox(rec),
    network: { ip: ip ?? '', additional_ips: more.map((a) => ({ ip: a })) },
    linux: {
      namespaces: {
        options: {
          network: rec.runtime.networkMode,
          pid: rec.runtime.pidMode,
          ipc: rec.runtime.ipcMode,
          target_id: nsOpts?.target_id ?? '',
          userns_options: nsOpts?.userns_options ?? null,
        },
      },
    },
  };
}

/** The `verbose` info: what berth built for the pod, as JSON under the key "info" (as containerd does). */
export function sandboxVerboseInfo(rec: SandboxRecord): Record<string, string> {
  const rt = rec.runtime;
  return {
    info: JSON.stringify({
      id: rec.id,
      state: rec.state,
      runtimeHandler: rec.handler,
      namespaces: { network: rt.namespaces.net ?? 'host', ipc: rt.namespaces.ipc ?? 'host', uts: rt.namespaces.uts ?? 'host', pid: rt.init?.pidns ?? (rt.pidMode === 'NODE' ? 'host' : 'per-container') },
      pid: rt.init?.pid ?? 0,
      files: { hostname: rt.hostnamePath, hosts: rt.hostsPath, resolvConf: rt.resolvConfPath, shm: rt.shmPath ?? '' },
      cgroup: rt.cgroup?.path ?? '',
      cni: rt.cni ? { network: (rt.cni.conflist as { name?: string }).name, ifname: rt.cni.ifname, result: rt.cni.result ?? null, deleted: rt.cni.deleted } : null,
      stoppedAt: rt.stoppedAt ?? '',
      config: rec.config,
    }),
  };
}

export function podSandboxStatus(deps: SandboxDeps, req: PodSandboxStatusRequest__Output): PodSandboxStatusResponse {
  const id = deps.store.resolve(req.pod_sandbox_id);
  const rec = deps.store.get(id)!;
  return {
    status: toPodSandboxStatus(rec),
    info: req.verbose ? sandboxVerboseInfo(rec) : {},
    containers_statuses: deps.containers.statuses(id),
    timestamp: nowNs().toString(),
  };
}

export function sandboxEvent(deps: SandboxDeps, rec: SandboxRecord, type: ContainerEventType): ContainerEventResponse {
  return {
    container_id: rec.id,
    container_event_type: type,
    created_at: nowNs().toString(),
    pod_sandbox_status: toPodSandboxStatus(rec),
    containers_statuses: type === 'CONTAINER_DELETED_EVENT' ? [] : deps.containers.statuses(rec.id),
  };
}
