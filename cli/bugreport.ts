// berth bugreport: one tar.gz to attach to an issue — berthd's recent logs (the journal of
// berth.service under systemd, or the file given with --log-file), the effective
// configuration with secrets redacted, versions (berth, berthd, node, runc, crun, conmon,
// kernel), `berth doctor` and `berth ps` (run as this CLI's own subcommands, so the report
// picks them up as soon as this build has them; a build without them says so in the file),
// `berth leaks` (a dry run: nothing is changed), and the store's schema version.
// The archive is written with the system tar, as the release bundle is (no new dependency).
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { hostname, release, tmpdir, version as osVersion } from 'node:os';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { run } from '../hostutil/exec.js';
import { printConfig, type BerthConfig } from '../server/config.js';
import { BERTH_VERSION } from '../server/status/version.js';
import { ADMIN_PROTOCOL } from '../server/admin-protocol.js';
import { migrations } from '../server/store/migrations.js';
import { berthdRunning } from '../server/audit/offline.js';
import { admin } from './admin-client.js';
import { parse } from './args.js';
import { auditJson, cliConfig, configOptions, formatAudit, leaksAudit } from './leaks.js';

export const BUGREPORT_USAGE = 'berth bugreport [--out FILE] [--log-file FILE] [--log-lines N] [--config FILE] [--root DIR] [--state DIR] [--socket PATH]';

const SECRET_KEY = /pass(word)?|token|secret|auth|credential|private/i;

/** A copy of `v` with the values of secret-looking keys replaced (pure). */
export function redact(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(redact);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = SECRET_KEY.test(k) && (typeof x === 'string' || typeof x === 'number') ? '<redacted>' : redact(x);
    return out;
  }
  return v;
}

async function tool(file: string, args: string[]): Promise<string> {
  const r = await run(file, args, { allowFailure: true, timeoutMs: 30_000, maxOutputBytes: 16 << 20 }).catch((e: Error) => ({ code: -1, stdout: '', stderr: e.message, signal: null }));
  return (r.stdout + r.stderr).trim() || `(exit ${r.code}, no output)`;
}

/** Runs one of this CLI's own commands; a build that lacks it says so instead of failing the report. */
async function self(args: string[]): Promise<string> {
  const script = process.argv[1] ?? '';
  const r = await run(process.execPath, [script, ...args], { allowFailure: true, timeoutMs: 120_000, maxOutputBytes: 16 << 20 }).catch((e: Error) => ({ code: -1, stdout: '', stderr: e.message, signal: null }));
  if (r.code === 2 && /^usage:/m.test(r.stderr) && !r.stdout) return `(this berth build has no \`berth ${args[0]}\` command)\n`;
  return r.stdout + (r.stderr ? `\n--- stderr (exit ${r.code}) ---\n${r.stderr}` : '');
}

async function berthdLogs(logFile: string | undefined, lines: number): Promise<string> {
  if (logFile) return tool('tail', ['-n', String(lines), logFile]);
  const unit = await run('systemctl', ['show', '-p', 'LoadState', '--value', 'berth.service'], { allowFailure: true, timeoutMs: 10_000 }).catch(() => undefined);
  if (unit?.code === 0 && unit.stdout.trim() === 'loaded') return tool('journalctl', ['-u', 'berth.service', '-n', String(lines), '--no-pager', '-o', 'short-iso-precise']);
  return 'no berthd log source: berth.service is not loaded in systemd (berthd logs to its stderr); give the file its stderr goes to with --log-file FILE\n';
}

function storeSchema(config: BerthConfig): string {
  try {
    const db = new Database(join(config.root, 'meta.db'), { readonly: true, fileMustExist: true });
    try {
      const v = db.pragma('user_version', { simple: true }) as number;
      const marks = db.prepare("SELECT key, value FROM settings WHERE key LIKE 'store.%'").all() as Array<{ key: string; value: string }>;
      return `meta.db schema ${v} (this berth knows ${migrations.length})\n${marks.map((m) => `${m.key} = ${m.value}`).join('\n')}\n`;
    } finally {
      db.close();
    }
  } catch (e) {
    return `meta.db: ${(e as Error).message}\n`;
  }
}

export async function bugreportCommand(args: string[]): Promise<number> {
  const { values } = parse(args, { ...configOptions, out: { type: 'string' }, 'log-file': { type: 'string' }, 'log-lines': { type: 'string', default: '5000' } }, BUGREPORT_USAGE);
  const config = cliConfig(values);
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const name = `berth-bugreport-${hostname()}-${stamp}`;
  const out = resolve(values.out ?? `${name}.tar.gz`);
  const dir = await mkdtemp(join(tmpdir(), 'berth-bugreport-'));
  try {
    const top = join(dir, name);
    await mkdir(top, { mode: 0o700 });
    const running = await berthdRunning(config);
    const files: Record<string, string> = {};
    files['berthd.log'] = await berthdLogs(values['log-file'], Number(values['log-lines']) || 5000);
    files['config.toml'] = `# effective configuration of this berth CLI's view of berthd (${values.config ?? 'default config file and embedded defaults'}); secrets redacted\n` + printConfig(redact(config) as BerthConfig);
    let berthd = 'berthd: not running';
    if (running) {
      berthd = await admin(config.state, 'GET', '/v1/version').then(
        (v) => `berthd: ${JSON.stringify(v)}`,
        (e: Error) => `berthd: ${e.message}`,
      );
    }
    files['versions.txt'] = [
      `berth ${BERTH_VERSION} (admin protocol ${ADMIN_PROTOCOL}, store schema ${migrations.length})`,
      berthd,
      `node ${process.version}`,
      `kernel ${release()} ${osVersion()}`,
      ...(await Promise.all(
        [...new Set([...Object.values(config.runtimes).map((r) => r.path), '/usr/bin/conmon'])].map(async (p) => `${p}: ${(await tool(p, ['--version'])).split('\n').slice(0, 3).join(' | ')}`),
      )),
    ].join('\n') + '\n';
    files['store.txt'] = (running ? `berthd is running; its view: ${berthd}\n` : '') + storeSchema(config);
    const nodeArgs = [...(values.config ? ['--config', values.config] : []), ...(values.root ? ['--root', values.root] : []), ...(values.state ? ['--state', values.state] : [])];
    const cfgArgs = [...nodeArgs, ...(values.socket ? ['--socket', values.socket] : [])];
    files['doctor.txt'] = await self(['doctor', ...nodeArgs]);
    files['ps.json'] = await self(['ps', '-o', 'json', ...nodeArgs]);
    try {
      const leaks = await leaksAudit(config);
      files['leaks.txt'] = formatAudit(leaks);
      files['leaks.json'] = JSON.stringify(auditJson(leaks), null, 2) + '\n';
    } catch (e) {
      files['leaks.txt'] = `berth leaks failed: ${(e as Error).message}\n`;
    }
    files['README.txt'] = [
      `berth bug report, ${new Date().toISOString()}, host ${hostname()}, berthd ${running ? 'running' : 'not running'}`,
      `made by: berth bugreport ${cfgArgs.join(' ')}`.trim(),
      ...Object.keys(files).map((f) => `  ${f}`),
      'Secrets in the configuration (registry passwords, tokens, auth) are replaced by <redacted>. Read the files before you attach the archive.',
    ].join('\n') + '\n';
    for (const [f, text] of Object.entries(files)) await writeFile(join(top, f), text, { mode: 0o600 });
    await run('tar', ['--owner=0', '--group=0', '--numeric-owner', '-C', dir, '-czf', out, name]);
    process.stdout.write(`wrote ${out} (${(await stat(out)).size} bytes): ${Object.keys(files).join(', ')}\n`);
    return 0;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
