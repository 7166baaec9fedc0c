// berth ps: the pods on this node with their containers as a tree (issue 13, item 1).
import type { PsContainer, PsPod } from '../server/ops/views.js';
import { PS_STATES } from '../server/ops/views.js';
import { openNodeSource } from './node-source.js';
import { announceMode, humanDuration, parseCommand, printJson, shortId, table, EXIT } from './output.js';
import { UsageError } from './args.js';

const SPEC = {
  usage: 'berth ps [--pod ID|NAME] [--namespace NS] [--status STATE] [--label K[=V]]… [-o table|json]',
  description: `Pods and their containers as a tree: short ids, names, namespace, state and for how long,
restarts (the CRI attempt), pid, pod IP, image, runtime handler, cgroup, and the exit code and
reason of exited containers. Filters combine; --status is one of ${PS_STATES.join(', ')}
(a pod is listed when it or one of its containers is in that state). Containers whose pod has
no record are listed under "<no pod record>" (see berth leaks).
JSON (kind PodList): { pods: [ { id, name, namespace, uid, attempt, state, createdAt, stoppedAt,
handler, ips, pid, cgroup, labels, containers: [ { id, name, attempt, state, createdAt, startedAt,
finishedAt, pid, image, imageId, exitCode, reason, cgroupsPath } ] } ] }; times are ISO 8601 or null.`,
  options: {
    pod: { type: 'string' },
    namespace: { type: 'string', short: 'n' },
    status: { type: 'string', short: 's' },
    label: { type: 'string', short: 'l', multiple: true },
  },
} as const;

export async function ps(args: string[]): Promise<number> {
  const p = parseCommand(args, SPEC);
  if (!p) return EXIT.OK;
  const state = p.values.status as string | undefined;
  if (state && !PS_STATES.includes(state)) throw new UsageError(`--status must be one of ${PS_STATES.join(', ')}\nusage: ${SPEC.usage}`);
  const src = await openNodeSource(p.config);
  try {
    announceMode(src.mode, p.config);
    const pods = await src.pods({ pod: p.values.pod as string | undefined, namespace: p.values.namespace as string | undefined, state, labels: (p.values.label as string[] | undefined) ?? [] });
    if (p.format === 'json') printJson('PodList', src.mode, { pods });
    else process.stdout.write(renderPs(pods, new Date()));
    return EXIT.OK;
  } finally {
    src.close();
  }
}

const since = (iso: string | null, now: Date) => (iso ? humanDuration(now.getTime() - Date.parse(iso)) : '-');

function containerState(c: PsContainer): string {
  if (c.state !== 'exited') return c.state;
  return `exited(${c.exitCode ?? '?'}${c.reason ? ' ' + c.reason : ''})`;
}

function containerAge(c: PsContainer, now: Date): string {
  if (c.state === 'running') return since(c.startedAt, now);
  if (c.state === 'exited') return since(c.finishedAt, now);
  return since(c.createdAt, now);
}

/** The human tree (pure; `now` for the ages). */
export function renderPs(pods: readonly PsPod[], now: Date): string {
  if (pods.length === 0) return 'no pods\n';
  const rows: string[][] = [];
  for (const pod of pods) {
    const age = pod.state === 'notready' && pod.stoppedAt ? since(pod.stoppedAt, now) : since(pod.createdAt, now);
    rows.push([pod.name, shortId(pod.id), pod.namespace || '-', pod.state, age, String(pod.attempt), pod.pid ? String(pod.pid) : '-', pod.ips.join(',') || '-', '-', pod.handler || '-', pod.cgroup || '-']);
    pod.containers.forEach((c, i) => {
      const branch = i === pod.containers.length - 1 ? '└─ ' : '├─ ';
      rows.push([branch + c.name, shortId(c.id), '', containerState(c), containerAge(c, now), String(c.attempt), c.pid && c.state === 'running' ? String(c.pid) : '-', '', c.image || '-', '', c.cgroupsPath || '-']);
    });
  }
  return table(['POD / CONTAINER', 'ID', 'NAMESPACE', 'STATE', 'FOR', 'RESTARTS', 'PID', 'IP', 'IMAGE', 'HANDLER', 'CGROUP'], rows);
}
