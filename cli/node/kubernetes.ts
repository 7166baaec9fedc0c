// The chart's side of `berth node install` (--kubernetes-node, --node-label, --switch-taint,
// --stay) and `berth node uninstall-all` (its pre-delete hook), over cli/kube.ts.
//
// The node label (--node-label KEY) says where berth stands on the node:
//   installing → installed (berth answers CRI) → running (kubelet's endpoint is berth's socket),
//   failed (the install failed; the installer exits non-zero and kubelet retries it),
//   uninstalling → uninstalled, or uninstall-failed.
// RuntimeClasses select `running` nodes. --switch-taint KEY adds the taint KEY:NoSchedule
// just before kubelet is switched and removes it once the Node is Ready with berth as its
// runtime (status.nodeInfo.containerRuntimeVersion berth://…); a switch that fails or a node
// not Ready on berth in 5 minutes leaves it: nothing new lands there until an operator looks.
//
// Removal (the pre-delete hook): `uninstall-all` sets the annotation berth.io/uninstall=requested
// on every node carrying the label. Each node's installer (--stay) sees it on its own node,
// runs `berth node uninstall` on the host and answers with the annotation set to `done` (label
// `uninstalled`) or `failed` (label `uninstall-failed`, the reason in berth.io/uninstall-error).
// uninstall-all waits until every node has answered, then removes the label and annotations
// from the nodes that are done and exits 0; a failed node, or one that has not answered by
// --timeout, makes it exit 1 naming the nodes (and `helm uninstall` fails with it). Running
// it again asks the failed nodes again. An installer that starts while its node's
// annotation says `requested` does not install; after uninstalling it stays idle until it
// is stopped (the DaemonSet is deleted next).
import { existsSync } from 'node:fs';
import { parse } from '../args.js';
import { inClusterApi, KubeClient, type Node } from '../kube.js';
import { findEndpointSetting } from './kubelet.js';
import { nodeConfig } from './uninstall.js';

export const UNINSTALL_ANNOTATION = 'berth.io/uninstall';
export const UNINSTALL_ERROR_ANNOTATION = 'berth.io/uninstall-error';

export type NodeState = 'installing' | 'installed' | 'running' | 'failed' | 'uninstalling' | 'uninstalled' | 'uninstall-failed';

/** What the installer does to its own node. */
export class NodeReporter {
  constructor(
    readonly kube: KubeClient,
    readonly node: string,
    readonly labelKey: string,
    readonly taintKey: string | undefined,
    readonly log: (line: string) => void,
  ) {}

  async state(): Promise<Node> {
    return this.kube.getNode(this.node);
  }

  async label(state: NodeState): Promise<void> {
    await this.kube.patchMeta(this.node, { labels: { [this.labelKey]: state } });
    this.log(`node ${this.node}: ${this.labelKey}=${state}`);
  }

  async taint(): Promise<void> {
    const key = this.taintKey;
    if (!key) return;
    await this.kube.updateTaints(this.node, (ts) => (ts.some((t) => t.key === key && t.effect === 'NoSchedule') ? ts : [...ts, { key, value: 'true', effect: 'NoSchedule' }]));
    this.log(`node ${this.node}: tainted ${key}:NoSchedule while kubelet is switched`);
  }

  /**
   * After kubelet's restart: waits until the node is Ready with berth as its runtime (kubelet
   * reports CRI Version's name in status.nodeInfo.containerRuntimeVersion, "berth://<version>").
   */
  async waitReadyOnBerth(timeoutMs: number, pollMs = 2000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let seen = 'no status yet';
    for (;;) {
      const n = await this.kube.getNode(this.node);
      const runtime = n.status?.nodeInfo?.containerRuntimeVersion ?? '';
      const ready = n.status?.conditions?.find((c) => c.type === 'Ready')?.status;
      if (runtime.startsWith('berth://') && ready === 'True') {
        this.log(`node ${this.node}: Ready on ${runtime}`);
        return;
      }
      seen = `Ready=${ready ?? 'unknown'}, runtime ${runtime || 'unknown'}`;
      if (Date.now() >= deadline) throw new Error(`node ${this.node} is not Ready on berth ${Math.round(timeoutMs / 1000)} s after kubelet's switch (${seen}); it stays tainted ${this.taintKey ?? ''}:NoSchedule: see kubelet's log (journalctl -u kubelet)`);
      await new Promise((r) => setTimeout(r, pollMs));
    }
  }

  async untaint(): Promise<void> {
    const key = this.taintKey;
    if (!key) return;
    await this.kube.updateTaints(this.node, (ts) => ts.filter((t) => !(t.key === key && t.effect === 'NoSchedule')));
    this.log(`node ${this.node}: taint ${key}:NoSchedule removed`);
  }
}

/** `running` when kubelet's configured endpoint is berth's socket, else `installed`. */
export function installedState(hostRoot: string): 'installed' | 'running' {
  const k = findEndpointSetting(hostRoot);
  return k?.value === `unix://${nodeConfig(hostRoot).socket}` ? 'running' : 'installed';
}

export interface StayOptions {
  hostRoot: string;
  pollMs: number;
  /** Runs `berth node uninstall` on the host (the real one, or a test's). */
  uninstall: () => Promise<void>;
  /** Resolves when the installer should stop (SIGTERM). */
  stopped: Promise<void>;
}

/**
 * After the install: keeps the label current (the operator may switch kubelet later) and
 * uninstalls when the node's annotation asks. Returns when `stopped` resolves.
 */
export async function stay(r: NodeReporter, opts: StayOptions): Promise<void> {
  let done = false;
  let stop = false;
  void opts.stopped.then(() => (stop = true));
  let lastError = '';
  while (!stop) {
    try {
      const node = await r.state();
      const labels = node.metadata.labels ?? {};
      const asked = node.metadata.annotations?.[UNINSTALL_ANNOTATION];
      if (asked === 'requested' && !done) {
        await r.label('uninstalling');
        try {
          await opts.uninstall();
          done = true;
          await r.kube.patchMeta(r.node, { labels: { [r.labelKey]: 'uninstalled' }, annotations: { [UNINSTALL_ANNOTATION]: 'done', [UNINSTALL_ERROR_ANNOTATION]: null } });
          r.log(`node ${r.node}: berth uninstalled; waiting to be stopped`);
        } catch (e) {
          const why = (e as Error).message.slice(0, 1000);
          await r.kube.patchMeta(r.node, { labels: { [r.labelKey]: 'uninstall-failed' }, annotations: { [UNINSTALL_ANNOTATION]: 'failed', [UNINSTALL_ERROR_ANNOTATION]: why } });
          r.log(`node ${r.node}: uninstall failed: ${why}`);
        }
      } else if (!done && asked === undefined && existsSync(opts.hostRoot)) {
        const want = installedState(opts.hostRoot);
        if (labels[r.labelKey] !== want && ['installed', 'running'].includes(labels[r.labelKey] ?? '')) await r.label(want);
      }
      lastError = '';
    } catch (e) {
      const msg = (e as Error).message;
      if (msg !== lastError) r.log(`node ${r.node}: ${msg} (retrying)`);
      lastError = msg;
    }
    await Promise.race([new Promise((res) => setTimeout(res, opts.pollMs)), opts.stopped]);
  }
}

export interface UninstallAllOptions {
  labelKey: string;
  timeoutMs: number;
  pollMs: number;
  log: (line: string) => void;
}

/** The pre-delete hook. Resolves with the nodes uninstalled; throws naming those that failed or did not answer. */
export async function uninstallAll(kube: KubeClient, opts: UninstallAllOptions): Promise<string[]> {
  const nodes = (await kube.listNodes(opts.labelKey)).map((n) => n.metadata.name).sort();
  if (nodes.length === 0) {
    opts.log(`no node carries the label ${opts.labelKey}: nothing to uninstall`);
    return [];
  }
  for (const n of nodes) {
    await kube.patchMeta(n, { annotations: { [UNINSTALL_ANNOTATION]: 'requested', [UNINSTALL_ERROR_ANNOTATION]: null } });
  }
  opts.log(`asked ${nodes.length} node(s) to uninstall berth: ${nodes.join(', ')}`);
  const deadline = Date.now() + opts.timeoutMs;
  const answers = new Map<string, { state: string; error?: string }>();
  for (;;) {
    for (const n of nodes) {
      if (answers.has(n)) continue;
      try {
        const a = (await kube.getNode(n)).metadata.annotations ?? {};
        const s = a[UNINSTALL_ANNOTATION];
        if (s === 'done' || s === 'failed') {
          answers.set(n, { state: s, ...(a[UNINSTALL_ERROR_ANNOTATION] ? { error: a[UNINSTALL_ERROR_ANNOTATION] } : {}) });
          opts.log(`node ${n}: ${s === 'done' ? 'uninstalled' : `uninstall failed: ${a[UNINSTALL_ERROR_ANNOTATION] ?? 'no reason given'}`}`);
        }
      } catch (e) {
        if ((e as { status?: number }).status === 404) {
          answers.set(n, { state: 'gone' });
          opts.log(`node ${n}: deleted from the cluster meanwhile`);
        } else throw e;
      }
    }
    if (answers.size === nodes.length || Date.now() >= deadline) break;
    await new Promise((r) => setTimeout(r, opts.pollMs));
  }
  const done = nodes.filter((n) => answers.get(n)?.state === 'done');
  for (const n of done) {
    await kube.patchMeta(n, { labels: { [opts.labelKey]: null }, annotations: { [UNINSTALL_ANNOTATION]: null, [UNINSTALL_ERROR_ANNOTATION]: null } });
  }
  const failed = nodes.filter((n) => answers.get(n)?.state === 'failed');
  const silent = nodes.filter((n) => !answers.has(n));
  if (failed.length > 0 || silent.length > 0) {
    const parts = [
      ...(failed.length ? [`failed on ${failed.map((n) => `${n} (${answers.get(n)?.error ?? 'no reason given'})`).join(', ')}`] : []),
      ...(silent.length ? [`no answer within ${Math.round(opts.timeoutMs / 1000)} s from ${silent.join(', ')} (is the installer pod running there?)`] : []),
    ];
    throw new Error(`berth uninstall ${parts.join('; ')}; fix it and run helm uninstall again (nodes already done are not asked again)`);
  }
  return done;
}

/** "300s", "5m", "300" → milliseconds. */
export function parseDuration(s: string): number {
  const m = /^(\d+)(s|m)?$/.exec(s.trim());
  if (!m) throw new Error(`--timeout ${s}: give seconds (300, 300s) or minutes (5m)`);
  return Number(m[1]) * (m[2] === 'm' ? 60_000 : 1000);
}

export const UNINSTALL_ALL_USAGE = 'berth node uninstall-all --node-label KEY [--timeout 300s] [--poll-seconds N]';

export async function uninstallAllCommand(args: string[]): Promise<number> {
  const { values } = parse(args, { 'node-label': { type: 'string' }, timeout: { type: 'string', default: '300s' }, 'poll-seconds': { type: 'string', default: '3' } }, UNINSTALL_ALL_USAGE);
  if (!values['node-label']) throw new Error(`uninstall-all: --node-label is required\nusage: ${UNINSTALL_ALL_USAGE}`);
  const kube = new KubeClient(await inClusterApi(process.env, 'uninstall-all'));
  const done = await uninstallAll(kube, { labelKey: values['node-label'], timeoutMs: parseDuration(values.timeout), pollMs: Number(values['poll-seconds']) * 1000, log: (l) => console.log(`berth: ${l}`) });
  console.log(`berth: uninstalled from ${done.length} node(s)`);
  return 0;
}
