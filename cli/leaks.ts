// berth leaks [--repair] [--dry-run]: what belongs to berth on this host but to no pod or
// container it knows, and records whose host resources are gone (server/audit/). With berthd
// running it asks berthd (admin socket), which audits and repairs under its own locks; with
// berthd down it reads the host and meta.db itself and, to repair, holds berthd's CRI socket
// so berthd cannot start in the middle. A dry run (the default) changes nothing.
// Exit status (the operator commands' codes, as cli/output.ts of ops-views has them): 0 nothing
// found / everything repaired, 5 leaks found (dry run) or left after a repair, 1 error, 2 usage.
// `-o json`: the operator commands' envelope { schemaVersion: 1, kind, mode, … } (README).
import { loadConfig, type BerthConfig } from '../server/config.js';
import { auditOffline, berthdRunning, repairOffline } from '../server/audit/offline.js';
import type { AuditReport, Finding, RepairReport } from '../server/audit/types.js';
import { admin } from './admin-client.js';
import { parse, UsageError } from './args.js';

export const LEAKS_USAGE = 'berth leaks [--repair] [--dry-run] [-o table|json] [--config FILE] [--root DIR] [--state DIR] [--socket PATH] [--cni-conf-dir DIR]';
/** "problems found" of the operator commands' exit codes. */
export const EXIT_LEAKS_FOUND = 5;
export const EXIT_REPAIR_INCOMPLETE = 5;
export const SCHEMA_VERSION = 1;

/** The `-o json` document of an audit: the operator commands' envelope around the report. */
export function auditJson(r: AuditReport): Record<string, unknown> {
  return { schemaVersion: SCHEMA_VERSION, kind: 'LeakReport', mode: r.mode, dryRun: true, findings: r.findings, warnings: r.warnings };
}

export function repairJson(r: RepairReport): Record<string, unknown> {
  return { schemaVersion: SCHEMA_VERSION, kind: 'LeakRepair', mode: r.mode, dryRun: false, before: r.before, repairs: r.repairs, after: r.after, warnings: r.warnings };
}

export const configOptions = {
  config: { type: 'string' },
  root: { type: 'string' },
  state: { type: 'string' },
  socket: { type: 'string' },
  'cni-conf-dir': { type: 'string' },
} as const;

/** berthd's configuration as the CLI's flags adjust it (same precedence as berthd's). */
export function cliConfig(values: { config?: string; root?: string; state?: string; socket?: string; 'cni-conf-dir'?: string }): BerthConfig {
  const argv: string[] = [];
  if (values.config) argv.push('--config', values.config);
  if (values.root) argv.push('--root', values.root);
  if (values.state) argv.push('--state', values.state);
  if (values.socket) argv.push('--socket', values.socket);
  if (values['cni-conf-dir']) argv.push('--cni-conf-dir', values['cni-conf-dir']);
  return loadConfig(argv).config;
}

const MODE: Record<AuditReport['mode'] | RepairReport['mode'], string> = {
  berthd: 'berthd is running: audited by berthd under its own locks',
  'read-only': 'berthd is NOT running: read-only view of the host and meta.db',
  direct: "berthd is NOT running: repaired directly, with berthd's socket held so it cannot start meanwhile",
};

/** The WHAT column: a pid, a mount point or directory, else the finding's id (a cgroup below the hierarchy roots, a link, an IP, a digest). */
const what = (f: Finding) => (f.pid ? `pid ${f.pid}` : ['rootfs-mount', 'shm-mount', 'netns-pin', 'directory', 'runtime-container'].includes(f.kind) ? (f.path ?? f.id) : f.id);

function table(findings: Finding[]): string[] {
  const kw = Math.max(4, ...findings.map((f) => f.kind.length));
  const ww = Math.max(4, ...findings.map((f) => what(f).length));
  const lines = [`${'KIND'.padEnd(kw)}  ${'WHAT'.padEnd(ww)}  OWNER`];
  for (const f of findings) {
    lines.push(`${f.kind.padEnd(kw)}  ${what(f).padEnd(ww)}  ${f.owner ? f.owner.slice(0, 13) : '-'}`);
    lines.push(`${' '.repeat(kw + 2)}why: ${f.why}`);
    lines.push(`${' '.repeat(kw + 2)}fix: ${f.fix}`);
  }
  return lines;
}

function counts(findings: Finding[]): string {
  const by = new Map<string, number>();
  for (const f of findings) by.set(f.kind, (by.get(f.kind) ?? 0) + 1);
  return [...by].map(([k, n]) => `${k} ${n}`).join(', ');
}

/** The human report of an audit (pure: the golden test feeds it fixed reports). */
export function formatAudit(r: AuditReport): string {
  const lines = [`berth leaks: ${MODE[r.mode]}; dry run`];
  for (const w of r.warnings) lines.push(`warning: ${w}`);
  if (r.findings.length === 0) {
    lines.push('no leaks: everything of berth\'s on this host belongs to a known pod or container, and every record\'s resources are there');
  } else {
    lines.push(...table(r.findings));
    lines.push(`${r.findings.length} leak${r.findings.length === 1 ? '' : 's'} found (${counts(r.findings)}); nothing was changed. Remove them with: berth leaks --repair`);
  }
  return lines.join('\n') + '\n';
}

/** The human report of a repair (pure). */
export function formatRepair(r: RepairReport): string {
  const lines = [`berth leaks --repair: ${MODE[r.mode]}`];
  for (const w of r.warnings) lines.push(`warning: ${w}`);
  if (r.before.length === 0) lines.push('no leaks found; nothing to repair');
  const kw = Math.max(4, ...r.repairs.map((x) => x.finding.kind.length));
  const ww = Math.max(4, ...r.repairs.map((x) => what(x.finding).length));
  for (const x of r.repairs) lines.push(`${(x.ok ? 'REPAIRED' : 'FAILED').padEnd(8)}  ${x.finding.kind.padEnd(kw)}  ${what(x.finding).padEnd(ww)}  ${x.result}`);
  const failed = r.repairs.filter((x) => !x.ok).length;
  if (r.before.length) lines.push(`${r.repairs.length - failed} of ${r.repairs.length} repaired${failed ? `, ${failed} failed` : ''}; checked again:`);
  if (r.after.length === 0) lines.push(r.before.length ? 'no leaks left' : '');
  else {
    lines.push(...table(r.after));
    lines.push(`${r.after.length} leak${r.after.length === 1 ? '' : 's'} left (${counts(r.after)})`);
  }
  return lines.filter((l, i) => l !== '' || i < lines.length - 1).join('\n') + '\n';
}

/** Audits through berthd when it runs, else offline. */
export async function leaksAudit(config: BerthConfig): Promise<AuditReport> {
  if (await berthdRunning(config)) return (await admin(config.state, 'GET', '/v1/leaks')) as AuditReport;
  return auditOffline(config);
}

export async function leaksRepair(config: BerthConfig): Promise<RepairReport> {
  if (await berthdRunning(config)) return (await admin(config.state, 'POST', '/v1/leaks/repair')) as RepairReport;
  return repairOffline(config);
}

export function repairExitCode(r: RepairReport): number {
  return r.after.length === 0 && r.repairs.every((x) => x.ok) ? 0 : EXIT_REPAIR_INCOMPLETE;
}

export async function leaksCommand(args: string[]): Promise<number> {
  const { values } = parse(args, { ...configOptions, repair: { type: 'boolean' }, 'dry-run': { type: 'boolean' }, output: { type: 'string', short: 'o', default: 'table' } }, LEAKS_USAGE);
  if (values.output !== 'table' && values.output !== 'json') throw new UsageError(`-o must be table or json\nusage: ${LEAKS_USAGE}`);
  if (values.repair && values['dry-run']) throw new UsageError(`--repair and --dry-run exclude each other\nusage: ${LEAKS_USAGE}`);
  const config = cliConfig(values);
  const json = values.output === 'json';
  if (values.repair) {
    const r = await leaksRepair(config);
    process.stdout.write(json ? JSON.stringify(repairJson(r), null, 2) + '\n' : formatRepair(r));
    return repairExitCode(r);
  }
  const r = await leaksAudit(config);
  process.stdout.write(json ? JSON.stringify(auditJson(r), null, 2) + '\n' : formatAudit(r));
  return r.findings.length ? EXIT_LEAKS_FOUND : 0;
}
