// berth top: pods and containers with CPU, memory, I/O and pids against their limits, live
// on a terminal, once for scripts (issue 13, item 4). The numbers come from one place
// (GET /v1/top: berthd's sampler; read-only, the CLI's own over the same code).
import type { TopRow, TopSample } from '../server/ops/top.js';
import { openNodeSource } from './node-source.js';
import { announceMode, humanBytes, parseCommand, printJson, shortId, table, EXIT } from './output.js';
import { UsageError } from './args.js';

const SORTS = ['cpu', 'mem', 'io', 'pids', 'name'] as const;
type Sort = (typeof SORTS)[number];

const SPEC = {
  usage: 'berth top [--sort cpu|mem|io|pids|name] [--once] [--interval SECONDS] [-o table|json]',
  description: `Running pods and their running containers with CPU (percent of one core, against the
CPU limit), memory working set against the limit, I/O read and write rates since the previous
sample, and pids against pids.max; pods sorted by --sort (default cpu), each pod's containers
below it sorted the same way. On a terminal it refreshes every --interval seconds (default 2;
q or Ctrl-C quits). --once, -o json or output that is not a terminal print one table: two
samples --interval apart (default 1 s then) so that rates are known.
JSON (kind Top): { time, interval, rows: [ { kind: pod|container, id, podId, name, namespace,
state, cpu, cpuLimit (cores), memory, memoryLimit, ioReadRate, ioWriteRate (bytes/s),
ioReadBytes, ioWriteBytes, pids, pidsLimit } ] }; null = not known or no limit.`,
  options: {
    sort: { type: 'string', short: 's' },
    once: { type: 'boolean' },
    interval: { type: 'string' },
  },
} as const;

export async function top(args: string[]): Promise<number> {
  const p = parseCommand(args, SPEC);
  if (!p) return EXIT.OK;
  const sort = ((p.values.sort as string | undefined) ?? 'cpu') as Sort;
  if (!SORTS.includes(sort)) throw new UsageError(`--sort must be one of ${SORTS.join(', ')}\nusage: ${SPEC.usage}`);
  const once = p.values.once === true || p.format === 'json' || !process.stdout.isTTY;
  const intervalText = p.values.interval as string | undefined;
  const interval = intervalText === undefined ? (once ? 1 : 2) : Number(intervalText);
  if (!(interval > 0 && interval <= 3600)) throw new UsageError(`--interval takes seconds (> 0)\nusage: ${SPEC.usage}`);
  const src = await openNodeSource(p.config);
  try {
    announceMode(src.mode, p.config);
    if (once) {
      await src.top();
      await new Promise((r) => setTimeout(r, interval * 1000));
      const s = await src.top();
      if (p.format === 'json') printJson('Top', src.mode, { ...s });
      else process.stdout.write(renderTop(s, sort));
      return EXIT.OK;
    }
    await live(() => src.top(), sort, interval, src.mode);
    return EXIT.OK;
  } finally {
    src.close();
  }
}

async function live(sample: () => Promise<TopSample>, sort: Sort, interval: number, mode: string): Promise<void> {
  let stop: () => void = () => undefined;
  const stopped = new Promise<void>((r) => (stop = r));
  const onKey = (b: Buffer) => {
    const k = b.toString();
    if (k === 'q' || k === '\u0003') stop();
    const i = ['c', 'm', 'i', 'p', 'n'].indexOf(k);
    if (i >= 0) sort = SORTS[i]!;
  };
  process.once('SIGINT', () => stop());
  process.once('SIGTERM', () => stop());
  if (process.stdin.isTTY) {
    process.stdin.setRawMode(true);
    process.stdin.on('data', onKey);
  }
  process.stdout.write('\x1b[?1049h'); // the terminal's alternate screen, restored on exit
  try {
    let done = false;
    void stopped.then(() => (done = true));
    while (!done) {
      const s = await sample();
      process.stdout.write('\x1b[H\x1b[2J' + `berth top (${mode}) ${s.time}  sort: ${sort}  [c]pu [m]em [i]o [p]ids [n]ame, [q]uit\n\n` + renderTop(s, sort));
      await Promise.race([stopped, new Promise((r) => setTimeout(r, interval * 1000))]);
    }
  } finally {
    process.stdout.write('\x1b[?1049l');
    if (process.stdin.isTTY) {
      process.stdin.off('data', onKey);
      process.stdin.setRawMode(false);
      process.stdin.pause();
    }
  }
}

function key(r: TopRow, sort: Sort): number | string {
  switch (sort) {
    case 'cpu':
      return r.cpu ?? -1;
    case 'mem':
      return r.memory ?? -1;
    case 'io':
      return (r.ioReadRate ?? 0) + (r.ioWriteRate ?? 0);
    case 'pids':
      return r.pids ?? -1;
    case 'name':
      return r.kind === 'pod' ? `${r.namespace}/${r.name}` : r.name;
  }
}

function order(rows: TopRow[], sort: Sort): TopRow[] {
  return rows.sort((a, b) => {
    const x = key(a, sort);
    const y = key(b, sort);
    if (typeof x === 'string' || typeof y === 'string') return String(x).localeCompare(String(y)) || a.id.localeCompare(b.id);
    return y - x || a.id.localeCompare(b.id);
  });
}

const pct = (v: number | null) => (v === null ? '-' : `${(v * 100).toFixed(1)}%`);
const rate = (v: number | null) => (v === null ? '-' : `${humanBytes(Math.round(v))}/s`);
const limited = (v: string, l: string | null) => (l === null ? v : `${v} / ${l}`);

/** The table (pure): pods by `sort`, each with its containers below it. */
export function renderTop(s: TopSample, sort: Sort): string {
  const pods = order(s.rows.filter((r) => r.kind === 'pod'), sort);
  const known = new Set(pods.map((p) => p.id));
  const byPod = new Map<string, TopRow[]>();
  for (const c of s.rows.filter((r) => r.kind === 'container')) byPod.set(c.podId, [...(byPod.get(c.podId) ?? []), c]);
  const out: string[][] = [];
  const line = (r: TopRow, name: string) => [
    name,
    shortId(r.id),
    limited(pct(r.cpu), r.cpuLimit === null ? null : pct(r.cpuLimit)),
    limited(humanBytes(r.memory), r.memoryLimit === null ? null : humanBytes(r.memoryLimit)),
    rate(r.ioReadRate),
    rate(r.ioWriteRate),
    limited(r.pids === null ? '-' : String(r.pids), r.pidsLimit === null ? null : String(r.pidsLimit)),
  ];
  for (const p of pods) {
    out.push(line(p, `${p.namespace}/${p.name}`));
    const cs = order(byPod.get(p.id) ?? [], sort);
    cs.forEach((c, i) => out.push(line(c, (i === cs.length - 1 ? '└─ ' : '├─ ') + c.name)));
  }
  for (const [podId, cs] of byPod) if (!known.has(podId)) for (const c of order(cs, sort)) out.push(line(c, `${c.name} (pod ${shortId(podId)})`));
  if (out.length === 0) return 'no running pods or containers\n';
  return table(['POD / CONTAINER', 'ID', 'CPU / LIMIT', 'MEMORY / LIMIT', 'IO READ', 'IO WRITE', 'PIDS / LIMIT'], out);
}
