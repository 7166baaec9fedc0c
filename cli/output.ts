// The operator commands' shared output layer (issue 13): option parsing with `--help` on
// every command, the node options (--config/--root/--state: where berthd's store and
// sockets are), human tables, `-o json` documents with a stable envelope, the line that
// says whether a command talks to berthd or reads its state read-only, and the exit codes
// scripts rely on. Each operator command (ps, inspect, logs, top, leaks, doctor, …) uses it.
//
// Exit codes (documented in the README, `berth --help`):
//   0 ok · 1 error · 2 usage · 3 not found · 4 berthd needed but not running ·
//   5 a check failed / something was found (doctor FAIL, leaks found)
//
// JSON envelope (every `-o json` document): { "schemaVersion": 1, "kind": "<Kind>",
// "mode": "berthd" | "read-only" | "none", ...the command's fields }. A field is only ever
// added within a schemaVersion; renaming or removing one bumps it.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { loadConfig } from '../server/config.js';
import type { BerthConfig } from '../server/config.js';
import { UsageError } from './args.js';

export const EXIT = { OK: 0, ERROR: 1, USAGE: 2, NOT_FOUND: 3, BERTHD_DOWN: 4, FOUND: 5 } as const;
export const SCHEMA_VERSION = 1;

/** An error with the exit code it ends the command with (cli/berth.ts reads `exitCode`). */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}
export const notFound = (message: string) => new CliError(message, EXIT.NOT_FOUND);

/** How a command reached berth's state: through the running berthd, or read-only from disk. */
export type Mode = 'berthd' | 'read-only';

type Options = NonNullable<ParseArgsConfig['options']>;

/** --config, --root, --state (berthd's own flags) and -o/--output, -h/--help. */
export const COMMON_OPTIONS = {
  config: { type: 'string' },
  root: { type: 'string' },
  state: { type: 'string' },
  output: { type: 'string', short: 'o' },
  help: { type: 'boolean', short: 'h' },
} as const;

const COMMON_HELP = `common options:
  -o, --output table|json   human table (default) or JSON (schemaVersion ${SCHEMA_VERSION})
  --config FILE             berthd's config file (default /etc/berth/config.toml when present)
  --root DIR, --state DIR   berthd's directories (default from the config: /var/lib/berth, /run/berth)
  -h, --help                this help
exit codes: 0 ok, 1 error, 2 usage, 3 not found, 4 berthd needed but not running, 5 problems found`;

export interface CommandSpec<O extends Options> {
  /** One line: `berth ps [--pod ID] …`. */
  usage: string;
  /** What the command is for, and what else the user should know (a few lines). */
  description: string;
  options: O;
  /** Positional arguments allowed (at most). */
  positionals?: number;
}

export interface Parsed<O extends Options> {
  /** Option values by name (strings, booleans, or lists of them for `multiple` options). */
  values: Record<keyof O | keyof typeof COMMON_OPTIONS, string | boolean | (string | boolean)[] | undefined>;
  positionals: string[];
  format: 'table' | 'json';
  config: BerthConfig;
}

/** Parses a command's arguments; undefined when --help was asked for (the help is printed). */
export function parseCommand<O extends Options>(args: string[], spec: CommandSpec<O>): Parsed<O> | undefined {
  const options = { ...COMMON_OPTIONS, ...spec.options } as O & typeof COMMON_OPTIONS;
  let r;
  try {
    r = parseArgs({ args, options, strict: true, allowPositionals: true });
    if (r.positionals.length > (spec.positionals ?? 0)) throw new Error(`unexpected argument "${r.positionals[spec.positionals ?? 0]}"`);
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\nusage: ${spec.usage}\n(berth ${spec.usage.split(' ')[1] ?? ''} --help for more)`);
  }
  const values = r.values as unknown as Parsed<O>['values'];
  if (values.help === true) {
    process.stdout.write(`usage: ${spec.usage}\n\n${spec.description.trim()}\n\n${COMMON_HELP}\n`);
    return undefined;
  }
  const output = (values as { output?: string }).output ?? 'table';
  if (output !== 'table' && output !== 'json') throw new UsageError(`-o must be table or json, not "${output}"\nusage: ${spec.usage}`);
  const v = values as { config?: string; root?: string; state?: string };
  const argv = [...(v.config ? ['--config', v.config] : []), ...(v.root ? ['--root', v.root] : []), ...(v.state ? ['--state', v.state] : [])];
  return { values, positionals: r.positionals, format: output, config: loadConfig(argv).config };
}

/** The stderr line that says which mode a command runs in (only for read-only: the unusual one). */
export function announceMode(mode: Mode, config: Pick<BerthConfig, 'root' | 'state'>): void {
  if (mode === 'read-only') {
    process.stderr.write(`berth: berthd is not running (no answer on ${config.state}/admin.sock): read-only view of ${config.root}/meta.db and the host\n`);
  }
}

/** A JSON document with the common envelope, on stdout. */
export function printJson(kind: string, mode: Mode | 'none', body: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify({ schemaVersion: SCHEMA_VERSION, kind, mode, ...body }, null, 2) + '\n');
}

/** Columns aligned by display width, two spaces apart, the last column not padded. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [headers, ...rows];
  const widths = headers.map((_, i) => Math.max(...all.map((r) => width(r[i] ?? ''))));
  return all.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell + ' '.repeat(widths[i]! - width(cell)))).join('  ').trimEnd()).join('\n') + '\n';
}

/** Display width: code points, box-drawing characters count one. */
function width(s: string): number {
  return [...s].length;
}

/** 13-character short id (crictl's width), without a sha256: prefix. */
export function shortId(id: string): string {
  return id.replace(/^sha256:/, '').slice(0, 13);
}

/** A duration in the largest unit that fits, like kubectl: 45s, 12m, 3h, 5d. */
export function humanDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 120) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h`;
  return `${Math.floor(h / 24)}d`;
}

/** Bytes in binary units with one decimal below 10: 512B, 1.5KiB, 34MiB. */
export function humanBytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '-';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v}B` : `${v < 10 ? v.toFixed(1) : Math.round(v)}${units[u]}`;
}

/** Nanoseconds since the epoch (decimal string, '0' = never) → ISO 8601, or null. */
export function isoFromNs(ns: string | undefined): string | null {
  if (!ns || ns === '0') return null;
  return new Date(Number(BigInt(ns) / 1_000_000n)).toISOString();
}
