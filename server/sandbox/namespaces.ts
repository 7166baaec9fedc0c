// Pinning a pod's network, IPC and UTS namespaces as nsfs bind mounts under
// <state>/ns/<sandbox-id>/, so they outlive every process (pods have no pause process).
// util-linux's unshare does the unshare(2) + bind mount; Node cannot.
import { mkdir, open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../exec.js';
import { unmountAll } from '../mounts.js';
import { internal } from '../errors.js';
import type { PinnedNamespaces } from './types.js';
import { killPoint } from '../kill-points.js';

export interface PinRequest {
  dir: string;
  net: boolean;
  ipc: boolean;
  uts: boolean;
  /** Set inside the new UTS namespace (runc refuses a hostname when it joins one). */
  hostname: string;
}

export async function pinNamespaces(req: PinRequest): Promise<PinnedNamespaces> {
  const pins: PinnedNamespaces = { dir: req.dir };
  if (!req.net && !req.ipc && !req.uts) return pins;
  await mkdir(req.dir, { recursive: true, mode: 0o711 });
  const args: string[] = [];
  for (const kind of ['net', 'ipc', 'uts'] as const) {
    if (!req[kind]) continue;
    const file = join(req.dir, kind);
    await (await open(file, 'w', 0o444)).close();
    pins[kind] = file;
    args.push(`--${kind}=${file}`);
  }
  killPoint('namespaces.files.made');
  const cmd = req.uts && req.hostname ? ['hostname', '--', req.hostname] : ['true'];
  try {
    await run('unshare', [...args, '--', ...cmd], { timeoutMs: 30_000 });
  } catch (e) {
    await releaseNamespaces(pins).catch(() => undefined);
    throw internal(`cannot create the pod's namespaces: ${(e as Error).message}`, e);
  }
  return pins;
}

/** Unmounts and removes every pinned namespace file and the directory; safe to repeat. */
export async function releaseNamespaces(pins: PinnedNamespaces): Promise<void> {
  await unmountAll([pins.dir]);
  await rm(pins.dir, { recursive: true, force: true });
}

/** nsenter arguments that enter the pinned namespaces present in `pins` (kinds as given). */
export function nsenterArgs(pins: PinnedNamespaces, kinds: ReadonlyArray<'net' | 'ipc' | 'uts'>): string[] {
  const out: string[] = [];
  for (const k of kinds) {
    const p = pins[k];
    if (p) out.push(`--${k}=${p}`);
  }
  return out;
}
