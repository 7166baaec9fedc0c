// Which namespaces a container joins and which it gets new. Pods have no pause process:
// their network, IPC and UTS namespaces are pinned files, and a pod-wide PID namespace
// belongs to the pod's init (catatonit); the caller passes the paths.
import { failedPrecondition, invalidArgument, unimplemented } from '../errors.js';
import { shown } from '../validate/text.js';
import type { OciNamespace } from './types.js';

/** CRI NamespaceOption fields we read (generated `NamespaceOption__Output`). */
export interface CriNamespaceOptions {
  network: string;
  pid: string;
  ipc: string;
  target_id: string;
  userns_options: { mode: string } | null;
}

export interface NamespacePaths {
  /** The pod's pinned namespaces (absent when the pod uses the host's). */
  network?: string;
  ipc?: string;
  uts?: string;
  /** PID namespace of the pod's init, for pid mode POD (e.g. /proc/<init pid>/ns/pid). */
  podPid?: string;
  /** PID namespace of the target container, for pid mode TARGET. */
  targetPid?: string;
}

export interface NamespacePlan {
  namespaces: OciNamespace[];
  /** A new UTS namespace is created: only then may the spec carry a hostname (runc refuses it otherwise). */
  newUts: boolean;
  hostNetwork: boolean;
  hostIpc: boolean;
  hostPid: boolean;
}

const DEFAULT_OPTIONS: CriNamespaceOptions = { network: 'POD', pid: 'CONTAINER', ipc: 'POD', target_id: '', userns_options: null };

/**
 * - network, IPC: the pod's pinned namespace, or none (the host's) in NODE mode; UTS follows
 *   the network mode, as in Kubernetes (host network ⇒ host hostname).
 * - PID: CONTAINER new, POD the pod init's, TARGET another container's, NODE the host's.
 * - mount: always new. cgroup: new when asked (cgroup v2 and not privileged, as containerd).
 * Options come from the container's security context, else the sandbox's.
 */
export function containerNamespaces(
  containerOptions: CriNamespaceOptions | null,
  sandboxOptions: CriNamespaceOptions | null,
  paths: NamespacePaths,
  cgroupNamespace: boolean,
): NamespacePlan {
  const o = containerOptions ?? sandboxOptions ?? DEFAULT_OPTIONS;
  const namespaces: OciNamespace[] = [];
  const join = (type: OciNamespace['type'], path: string | undefined, what: string) => {
    if (!path) throw failedPrecondition(`the pod has no ${what} namespace to join`);
    namespaces.push({ type, path });
  };

  switch (o.pid) {
    case 'CONTAINER':
      namespaces.push({ type: 'pid' });
      break;
    case 'POD':
      join('pid', paths.podPid, 'shared PID');
      break;
    case 'TARGET':
      if (!o.target_id) throw invalidArgument('pid namespace mode TARGET needs a target_id');
      if (!paths.targetPid) throw failedPrecondition(`target container ${o.target_id} has no PID namespace to join`);
      namespaces.push({ type: 'pid', path: paths.targetPid });
      break;
    case 'NODE':
      break;
    default:
      throw invalidArgument(`unknown pid namespace mode ${shown(o.pid)}`);
  }

  const hostNetwork = o.network === 'NODE';
  if (!hostNetwork) join('network', paths.network, 'network');
  const hostIpc = o.ipc === 'NODE';
  if (!hostIpc) join('ipc', paths.ipc, 'IPC');

  let newUts = false;
  if (!hostNetwork) {
    if (paths.uts) namespaces.push({ type: 'uts', path: paths.uts });
    else {
      namespaces.push({ type: 'uts' });
      newUts = true;
    }
  }
  namespaces.push({ type: 'mount' });
  if (cgroupNamespace) namespaces.push({ type: 'cgroup' });

  const userns = o.userns_options;
  if (userns && userns.mode !== 'NODE') {
    throw unimplemented(`user namespace mode ${userns.mode} is not supported`);
  }
  return { namespaces, newUts, hostNetwork, hostIpc, hostPid: o.pid === 'NODE' };
}
