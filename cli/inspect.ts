// berth inspect ID: everything berth knows about a pod, container or image, and the host
// facts behind it (issue 13, item 2).
import { openNodeSource } from './node-source.js';
import { announceMode, parseCommand, printJson, EXIT } from './output.js';
import { UsageError } from './args.js';

const SPEC = {
  usage: 'berth inspect ID [-o table|json]',
  description: `ID is a pod or container id or unique prefix, or an image id, id prefix or reference.
Shows the record berth keeps and what is on the host behind it. A container: its OCI spec
(-o json), bundle, rootfs, overlay lower/upper/work dirs as mounted, process and conmon (pid,
alive, files), the OCI runtime's own state (runc/crun state), cgroup path with its current
limits and usage, namespaces, log file and size with rotated files, and the last events berthd
saw. A pod: pinned namespaces (mounted or not), CNI attachment and result, IPs, init process,
/dev/shm, cgroup, its containers and events. An image: names, layers (present on disk, users),
the containers using it. The human view leaves out the record, the OCI spec and the image
config: use -o json (kind Inspect: { object: { kind: pod|container|image, id, summary, record, … } }).
Read-only (berthd down), events are null: berthd keeps them in memory.`,
  options: {},
  positionals: 1,
} as const;

export async function inspectCommand(args: string[]): Promise<number> {
  const p = parseCommand(args, SPEC);
  if (!p) return EXIT.OK;
  const id = p.positionals[0];
  if (!id) throw new UsageError(`an id is required\nusage: ${SPEC.usage}`);
  const src = await openNodeSource(p.config);
  try {
    announceMode(src.mode, p.config);
    const obj = await src.inspect(id);
    if (p.format === 'json') printJson('Inspect', src.mode, { object: obj });
    else process.stdout.write(renderInspect(obj));
    return EXIT.OK;
  } finally {
    src.close();
  }
}

/** Left out of the human view (large; in -o json). */
const HIDDEN = new Set(['record', 'spec', 'config']);

/** The human view: one section per top-level field, nested fields indented (pure). */
export function renderInspect(obj: Record<string, unknown>): string {
  const lines: string[] = [`${String(obj.kind)} ${String(obj.id)}`];
  for (const [k, v] of Object.entries(obj)) {
    if (k === 'kind' || k === 'id' || HIDDEN.has(k)) continue;
    if (k === 'events') {
      lines.push('events:');
      if (v === null) lines.push('  (not available: berthd is not running)');
      else if (Array.isArray(v) && v.length === 0) lines.push('  (none since berthd started)');
      else for (const e of v as Record<string, unknown>[]) lines.push(`  ${String(e.time)}  ${String(e.kind)} ${String(e.id).slice(0, 13)} ${String(e.type)}${e.state ? ' → ' + String(e.state) : ''}${e.exitCode !== undefined ? ` exit ${String(e.exitCode)}` : ''}${e.reason ? ' ' + String(e.reason) : ''}`);
      continue;
    }
    render(lines, k, v, 0);
  }
  lines.push('(-o json adds the record' + (obj.kind === 'container' ? ' and the OCI spec' : obj.kind === 'image' ? ' and the image config' : '') + ')');
  return lines.join('\n') + '\n';
}

function scalar(v: unknown): string {
  if (v === null || v === undefined) return '-';
  if (typeof v === 'string') return v === '' ? '""' : v;
  return String(v);
}

function render(lines: string[], key: string, v: unknown, depth: number): void {
  const pad = '  '.repeat(depth);
  if (Array.isArray(v)) {
    if (v.length === 0) lines.push(`${pad}${key}: []`);
    else if (v.every((x) => x === null || typeof x !== 'object')) lines.push(`${pad}${key}: ${v.map(scalar).join(', ')}`);
    else {
      lines.push(`${pad}${key}:`);
      for (const item of v) {
        const entries = Object.entries(item as Record<string, unknown>);
        entries.forEach(([k, x], i) => {
          const sub: string[] = [];
          render(sub, k, x, depth + 2);
          if (i === 0 && sub[0]) sub[0] = `${pad}  - ${sub[0].trimStart()}`;
          lines.push(...sub);
        });
      }
    }
  } else if (v !== null && typeof v === 'object' && Object.keys(v).join() === 'path,exists') {
    const f = v as { path: string; exists: boolean };
    lines.push(`${pad}${key}: ${f.path}${f.exists ? '' : ' (missing)'}`);
  } else if (v !== null && typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>);
    if (entries.length === 0) lines.push(`${pad}${key}: {}`);
    else {
      lines.push(`${pad}${key}:`);
      for (const [k, x] of entries) render(lines, k, x, depth + 1);
    }
  } else lines.push(`${pad}${key}: ${scalar(v)}`);
}
