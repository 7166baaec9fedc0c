// Kill points: a fault-injection facility for crash-consistency testing. Named points sit
// inside every mutating CRI call (after each store commit, mount, CNI ADD/DEL, namespace
// pin, cgroup directory, shim job, conmon start, runtime command, layer and blob commit,
// lease write and record delete). When armed, reaching the named point for the N-th time
// within one call of the named RPC makes berthd SIGKILL itself on the spot, the way a
// power cut or an OOM kill would stop it; the restarted berthd must then find everything
// either whole or gone.
//
// Off by default and free when off: `killPoint()` is one boolean check. The facility is
// enabled only when berthd starts with BERTH_KILL_POINTS=<file> in its environment (never
// set by the unit, the chart or the installer); that file, read at the start of each CRI
// call, arms one point as JSON:
//   {"rpc":"RunPodSandbox","point":"sandbox.cni.added","hit":1}
// or asks for a trace of every point reached ({"trace":true}: one JSON line per point on
// stderr), which is how a test enumerates the points of a call. An empty or missing file
// disarms. Points named `shim.*` are reached inside berth-shim; the armed point travels
// with the create job (shim/job.ts), and `"victim":"shim"` kills the shim instead of berthd.
import { AsyncLocalStorage } from 'node:async_hooks';
import { readFile } from 'node:fs/promises';

export interface KillPointArming {
  rpc?: string;
  point?: string;
  /** The N-th time the point is reached within one call of `rpc` (1 = first). */
  hit?: number;
  /** Who dies at a `shim.*` point: berthd (default) or the shim itself. */
  victim?: 'berthd' | 'shim';
  trace?: boolean;
}

interface Scope {
  rpc: string;
  arming: KillPointArming;
  counts: Map<string, number>;
}

const FILE = process.env.BERTH_KILL_POINTS ?? '';
/** True only when berthd was started with BERTH_KILL_POINTS set. */
export const killPointsEnabled = FILE !== '';
const scopes = killPointsEnabled ? new AsyncLocalStorage<Scope>() : undefined;

async function readArming(): Promise<KillPointArming> {
  try {
    const text = (await readFile(FILE, 'utf8')).trim();
    return text ? (JSON.parse(text) as KillPointArming) : {};
  } catch {
    return {};
  }
}

/** Runs one CRI call inside a kill-point scope (called by the RPC layer only when enabled). */
export async function withKillPointScope<T>(rpc: string, fn: () => Promise<T>): Promise<T> {
  const arming = await readArming();
  return scopes!.run({ rpc, arming, counts: new Map() }, fn);
}

/**
 * A named instant inside a mutating call. Does nothing unless the facility is enabled; then
 * traces it or, when it is the armed point and hit, SIGKILLs berthd (this never returns).
 */
export function killPoint(point: string): void {
  if (!killPointsEnabled) return;
  reached(point);
}

function reached(point: string): void {
  const scope = scopes!.getStore();
  if (!scope) return;
  const hit = (scope.counts.get(point) ?? 0) + 1;
  scope.counts.set(point, hit);
  const a = scope.arming;
  // Pipes to stderr are written synchronously on Linux: the line is out before the kill.
  if (a.trace) process.stderr.write(JSON.stringify({ msg: 'kill point reached', rpc: scope.rpc, point, hit }) + '\n');
  if (a.rpc === scope.rpc && a.point === point && (a.hit ?? 1) === hit) {
    process.stderr.write(JSON.stringify({ msg: 'kill point: berthd kills itself', rpc: scope.rpc, point, hit }) + '\n');
    process.kill(process.pid, 'SIGKILL');
  }
}

/** The armed `shim.*` point of the current call, for the create job (undefined when none). */
export function shimKillPoint(): { point: string; victim: 'berthd' | 'shim' } | undefined {
  if (!killPointsEnabled) return undefined;
  const scope = scopes!.getStore();
  const a = scope?.arming;
  if (!a || a.rpc !== scope.rpc || !a.point?.startsWith('shim.')) return undefined;
  // A shim point is reached once per job: count the job as the hit.
  const n = (scope.counts.get('shim.job') ?? 0) + 1;
  scope.counts.set('shim.job', n);
  if ((a.hit ?? 1) !== n) return undefined;
  return { point: a.point, victim: a.victim ?? 'berthd' };
}
