// berth node status [--host-root DIR]: whether `berth node install` installed berth here
// and it answers CRI with the installed release (exit 0), or what is wrong (exit 1). The
// chart's installer pod uses it as its readiness probe.
import { existsSync } from 'node:fs';
import { posix } from 'node:path';
import { parse } from '../args.js';
import { Manifest, MANIFEST_PATH } from './manifest.js';
import { inRoot } from './paths.js';
import { criCall } from './cri.js';
import { nodeConfig } from './uninstall.js';

export async function statusCommand(args: string[]): Promise<number> {
  const { values } = parse(args, { 'host-root': { type: 'string', default: '/' } }, 'berth node status [--host-root DIR]');
  const hostRoot = posix.resolve(values['host-root']);
  if (!Manifest.exists(hostRoot)) {
    console.log(`berth: not installed by berth node install (no ${MANIFEST_PATH})`);
    return 1;
  }
  const m = Manifest.load(hostRoot, true);
  const pending = m.data.entries.filter((e) => e.state === 'pending').map((e) => e.id);
  if (!m.data.version || pending.length) {
    console.log(`berth: an install is unfinished (${pending.join(', ') || 'no release recorded'}): run berth node install again`);
    return 1;
  }
  const socket = nodeConfig(hostRoot).socket;
  if (!existsSync(inRoot(hostRoot, socket))) {
    console.log(`berth: ${m.data.version} is installed but nothing listens on ${socket}`);
    return 1;
  }
  try {
    const v = await criCall<{ runtime_version: string }>(inRoot(hostRoot, socket), 'Version', {}, 4000);
    if (v.runtime_version !== m.data.version) {
      console.log(`berth: ${m.data.version} is installed but ${socket} answers with ${v.runtime_version}`);
      return 1;
    }
  } catch (e) {
    console.log(`berth: ${m.data.version} is installed but does not answer on ${socket}: ${(e as Error).message}`);
    return 1;
  }
  console.log(`berth: ${m.data.version} is installed and answers CRI on unix://${socket}`);
  return 0;
}
