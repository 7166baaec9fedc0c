// The OCI runtimes alone (`--oci-reference`): create+start of one prepared bundle with
// `<runtime> run --detach`, runc and crun alternately, each round then `delete --force`.
// No CRI, no berthd, no conmon: what crun can give over runc at best, the reference for
// berth+crun versus berth+runc. The bundle is a busybox-static rootfs running `sleep`, its
// cgroup under a parent the bench creates and removes (cgroupfs, as the bench's pods).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { TEST_PREFIX } from '../test/helpers/berthd.js';
import { createCgroupParent, removeCgroupParent } from './cgroups.js';
import { percentile, round } from './stats.js';

export const OCI_RUNTIMES = [
  { name: 'runc', binary: '/usr/sbin/runc' },
  { name: 'crun', binary: '/usr/bin/crun' },
] as const;

export interface OciFigures {
  status: 'ok' | 'error';
  reason?: string;
  /** ms of `run --detach`, one per timed round. */
  samples: number[];
  p50: number | null;
  p95: number | null;
}

export interface OciReference {
  title: string;
  rounds: number;
  warmup: number;
  runtimes: Record<string, OciFigures>;
  /** crun / runc */
  ratio: { p50: number | null; p95: number | null };
}

/**
 * Runs a runtime command to its exit. stderr goes to a file, not a pipe: the container of
 * `run --detach` inherits it and keeps it open, so waiting for a pipe's end would wait for the
 * container.
 */
async function exec(file: string, args: string[], errFile: string): Promise<{ code: number | null; stderr: string }> {
  const fd = openSync(errFile, 'w');
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      const p = spawn(file, args, { stdio: ['ignore', 'ignore', fd] });
      p.on('error', reject);
      p.on('exit', (c) => resolve(c));
    });
    return { code, stderr: readFileSync(errFile, 'utf8') };
  } finally {
    closeSync(fd);
  }
}

/** The runtime spec `runc spec` writes, made to run busybox `sleep` without a terminal in `cgroupsPath`. */
export function bundleConfig(spec: Record<string, any>, cgroupsPath: string): Record<string, any> {
  return {
    ...spec,
    process: { ...spec.process, terminal: false, args: ['/bin/sleep', '3600'] },
    root: { path: 'rootfs', readonly: true },
    hostname: 'oci-bench',
    linux: { ...spec.linux, cgroupsPath },
  };
}

export async function ociReference(opts: { rounds: number; warmup: number; log(msg: string): void }): Promise<OciReference> {
  const dir = await mkdtemp(`${TEST_PREFIX}bench-oci-`);
  const parent = `/berth-test-bench-${randomBytes(4).toString('hex')}-oci`;
  const out: OciReference = { title: 'OCI runtime alone: `run --detach` of a prepared bundle (create+start)', rounds: opts.rounds, warmup: opts.warmup, runtimes: {}, ratio: { p50: null, p95: null } };
  for (const r of OCI_RUNTIMES) out.runtimes[r.name] = { status: existsSync(r.binary) ? 'ok' : 'error', ...(existsSync(r.binary) ? {} : { reason: `${r.binary} is missing` }), samples: [], p50: null, p95: null };
  try {
    const bundle = join(dir, 'bundle');
    await mkdir(join(bundle, 'rootfs', 'bin'), { recursive: true });
    await copyFile('/bin/busybox', join(bundle, 'rootfs', 'bin', 'busybox'));
    await symlink('busybox', join(bundle, 'rootfs', 'bin', 'sleep'));
    for (const d of ['proc', 'sys', 'dev', 'tmp']) await mkdir(join(bundle, 'rootfs', d));
    const errFile = join(dir, 'stderr');
    const gen = await exec('/usr/sbin/runc', ['spec', '--bundle', bundle], errFile);
    if (gen.code !== 0) throw new Error(`runc spec: ${gen.stderr.trim()}`);
    const spec = JSON.parse(await readFile(join(bundle, 'config.json'), 'utf8')) as Record<string, any>;
    await createCgroupParent(parent);
    for (let i = 0; i < opts.warmup + opts.rounds; i++) {
      const order = i % 2 === 0 ? [...OCI_RUNTIMES] : [...OCI_RUNTIMES].reverse();
      for (const rt of order) {
        const f = out.runtimes[rt.name]!;
        if (f.status !== 'ok') continue;
        const id = `oci-${rt.name}-${i}`;
        const root = join(dir, `root-${rt.name}`);
        await writeFile(join(bundle, 'config.json'), JSON.stringify(bundleConfig(spec, `${parent}/${id}`)));
        const t0 = performance.now();
        const r = await exec(rt.binary, ['--root', root, 'run', '--detach', '--bundle', bundle, id], errFile);
        const ms = performance.now() - t0;
        const del = await exec(rt.binary, ['--root', root, 'delete', '--force', id], errFile);
        if (r.code !== 0 || del.code !== 0) {
          f.status = 'error';
          f.reason = r.code !== 0 ? `run --detach exited ${r.code}: ${r.stderr.trim()}` : `delete --force exited ${del.code}: ${del.stderr.trim()}`;
          opts.log(`oci reference: ${rt.name}: ${f.reason}`);
          continue;
        }
        if (i >= opts.warmup) f.samples.push(round(ms, 3));
      }
    }
  } finally {
    await removeCgroupParent(parent).catch((e: Error) => opts.log(`oci reference: ${e.message}`));
    await rm(dir, { recursive: true, force: true });
  }
  for (const f of Object.values(out.runtimes)) {
    if (f.status === 'ok' && f.samples.length) {
      f.p50 = round(percentile(f.samples, 0.5), 3);
      f.p95 = round(percentile(f.samples, 0.95), 3);
    }
  }
  const [runc, crun] = [out.runtimes.runc!, out.runtimes.crun!];
  const ratio = (a: number | null, b: number | null) => (a !== null && b !== null && b !== 0 ? round(a / b, 3) : null);
  out.ratio = { p50: ratio(crun.p50, runc.p50), p95: ratio(crun.p95, runc.p95) };
  return out;
}

export function formatOciReference(r: OciReference): string {
  const lines = [`== oci: ${r.title} (rounds ${r.rounds}, warmup ${r.warmup})`];
  const f = (v: number | null) => (v === null ? 'n/a' : v.toFixed(1));
  lines.push(`${'figure'.padEnd(22)}${'runc'.padStart(8)}  ${'crun'.padStart(8)}  crun / runc`);
  for (const k of ['p50', 'p95'] as const) {
    lines.push(`run --detach ${k} (ms)`.padEnd(22) + `${f(r.runtimes.runc![k]).padStart(8)}  ${f(r.runtimes.crun![k]).padStart(8)}  ${r.ratio[k] === null ? '-' : r.ratio[k]!.toFixed(2)}`);
  }
  for (const [n, x] of Object.entries(r.runtimes)) if (x.status !== 'ok') lines.push(`   ${n}: ERROR: ${x.reason}`);
  return lines.join('\n');
}
