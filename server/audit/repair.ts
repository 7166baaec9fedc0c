// Removing what the leak auditor found (leaks.ts), in a safe order: processes first (so
// nothing holds a mount, a namespace or a cgroup), then mounts, pinned namespaces, network
// (veths, IP reservations), cgroups, directories, image content, and records last. Every
// step is idempotent: what is already gone counts as repaired. The caller decides how a
// step is guarded (berthd: under its per-id locks, after checking the owner is still
// unknown; offline: with berthd's socket held so berthd cannot start meanwhile).
import { readdir, readFile, rm, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../../hostutil/exec.js';
import { unmountAll } from '../../hostutil/mounts.js';
import { processStartTime } from '../sandbox/pod-init.js';
import { OciRuntime } from '../runtime/oci-runtime.js';
import type { Finding, LeakKind, RepairOutcome } from './types.js';

/** The order of repair, by kind. */
export const REPAIR_PHASES: readonly LeakKind[][] = [
  // conmon first: a container killed under a live conmon makes conmon write a new exit file.
  ['conmon', 'runtime-process', 'pod-init'],
  ['runtime-container'],
  ['rootfs-mount', 'shm-mount'],
  ['netns-pin'],
  ['veth', 'ip-reservation'],
  ['cgroup', 'systemd-unit'],
  ['directory'],
  ['lease', 'layer', 'blob'],
  ['record'],
];

/** What only the holder of berth's records can do (berthd through its stores, offline through meta.db). */
export interface RecordRepairs {
  releaseLease(holder: string): Promise<void>;
  deleteContainerRecord(id: string): Promise<void>;
  markContainerExited(id: string): Promise<void>;
  markSandboxNotReady(id: string): Promise<void>;
  forgetCreatedCgroup(setting: string, entry: string): Promise<void>;
  /** Removes unused layers/blobs (berthd: its garbage collector, which skips what a pull holds). */
  collectImageGarbage(key: string, path: string): Promise<void>;
}

export interface RepairContext {
  records: RecordRepairs;
  /**
   * Runs one repair, guarded as the caller needs; returns a reason to skip it instead (the
   * owner became known since the audit, for example).
   */
  guard(finding: Finding, repair: () => Promise<string>): Promise<string>;
  /** systemctl (systemd driver). */
  systemctl?: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function killChecked(pid: number, startTime: string): Promise<string> {
  if ((await processStartTime(pid)) !== startTime) return 'already gone';
  process.kill(pid, 'SIGKILL');
  for (let i = 0; i < 200; i++) {
    if ((await processStartTime(pid)) !== startTime) return 'killed';
    await sleep(10);
  }
  throw new Error(`pid ${pid} did not exit after SIGKILL`);
}

/** rmdir a cgroup directory and the (empty) cgroups below it, deepest first. */
async function rmdirCgroup(dir: string): Promise<boolean> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
  for (const e of entries) if (e.isDirectory()) await rmdirCgroup(join(dir, e.name));
  try {
    await rmdir(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return false;
    if (code === 'EBUSY') throw new Error(`${dir} still has processes (${(await readFile(join(dir, 'cgroup.procs'), 'utf8').catch(() => '')).trim().split('\n').join(' ') || 'unknown'})`);
    throw e;
  }
  return true;
}

async function repairOne(f: Finding, ctx: RepairContext): Promise<string> {
  const r = f.repair;
  switch (r.action) {
    case 'kill':
      return killChecked(r.pid, r.startTime);
    case 'runtime-delete':
      await new OciRuntime({ name: 'leaks', path: r.runtime, root: r.root }).delete(r.id);
      return 'deleted';
    case 'unmount':
      await unmountAll([r.path]);
      return 'unmounted';
    case 'link-delete': {
      const res = await run('ip', ['link', 'del', r.name], { allowFailure: true, timeoutMs: 15_000 });
      if (res.code === 0) return 'deleted';
      if (/Cannot find device|does not exist/i.test(res.stderr)) return 'already gone';
      throw new Error(`ip link del ${r.name}: ${res.stderr.trim()}`);
    }
    case 'ipam-release': {
      // host-local locks its directory with flock(2) on <dir>/lock: take the same lock.
      const res = await run('flock', ['-w', '10', r.lock, 'rm', '-f', '--', r.file], { allowFailure: true, timeoutMs: 20_000 });
      if (res.code !== 0) throw new Error(`releasing ${r.file}: ${res.stderr.trim() || `exit ${res.code}`}`);
      return 'released';
    }
    case 'rmdir-cgroup': {
      let removed = false;
      for (const p of r.paths) removed = (await rmdirCgroup(p)) || removed;
      if (r.forget) await ctx.records.forgetCreatedCgroup('pod_cgroup_dirs', r.forget);
      return removed ? 'removed' : 'already gone';
    }
    case 'stop-unit': {
      const res = await run(ctx.systemctl ?? 'systemctl', ['stop', r.unit], { allowFailure: true, timeoutMs: 60_000 });
      if (res.code !== 0 && !/not loaded/i.test(res.stderr)) throw new Error(`systemctl stop ${r.unit}: ${res.stderr.trim()}`);
      return 'stopped';
    }
    case 'remove-path':
      await rm(r.path, { recursive: true, force: true });
      return 'removed';
    case 'collect-image-garbage':
      await ctx.records.collectImageGarbage(r.key, r.path);
      return 'collected';
    case 'release-lease':
      await ctx.records.releaseLease(r.holder);
      return 'released';
    case 'delete-container-record':
      await ctx.records.deleteContainerRecord(r.id);
      return 'deleted';
    case 'mark-container-exited':
      await ctx.records.markContainerExited(r.id);
      return 'marked exited';
    case 'mark-sandbox-notready':
      await ctx.records.markSandboxNotReady(r.id);
      return 'marked not ready';
    case 'forget-created-cgroup':
      await ctx.records.forgetCreatedCgroup(r.setting, r.entry);
      return 'forgotten';
  }
}

/** Repairs every finding, phase by phase; within the cgroup phase deeper directories first. */
export async function repairFindings(findings: readonly Finding[], ctx: RepairContext): Promise<RepairOutcome[]> {
  const out: RepairOutcome[] = [];
  for (const phase of REPAIR_PHASES) {
    const items = findings.filter((f) => phase.includes(f.kind)).sort((a, b) => (b.path ?? b.id).split('/').length - (a.path ?? a.id).split('/').length);
    for (const f of items) {
      try {
        out.push({ finding: f, ok: true, result: await ctx.guard(f, () => repairOne(f, ctx)) });
      } catch (e) {
        out.push({ finding: f, ok: false, result: (e as Error).message });
      }
    }
  }
  return out;
}

/**
 * Audit → repair → audit again, up to `rounds` times while the repairs succeed and new
 * findings appear (a repair can make one: a process killed leaves a file behind).
 */
export async function repairUntilClean(
  audit: () => Promise<{ findings: Finding[]; warnings: string[] }>,
  repair: (findings: Finding[]) => Promise<RepairOutcome[]>,
  rounds = 3,
): Promise<{ before: Finding[]; repairs: RepairOutcome[]; after: Finding[]; warnings: string[] }> {
  const first = await audit();
  const warnings = [...first.warnings];
  const repairs: RepairOutcome[] = [];
  let current = first.findings;
  let after = first.findings;
  for (let i = 0; i < rounds && current.length; i++) {
    const done = await repair(current);
    repairs.push(...done);
    const next = await audit();
    warnings.push(...next.warnings);
    after = next.findings;
    if (done.some((d) => !d.ok)) break;
    current = next.findings;
  }
  return { before: first.findings, repairs, after, warnings: [...new Set(warnings)] };
}
