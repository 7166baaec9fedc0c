// berth cni default | ensure-default: the default network config list (bridge berth0).
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { defaultConflist } from '../server/network/conflist.js';
import { loadConfig } from '../server/config.js';
import { parse } from './args.js';

export async function cniDefault(args: string[]): Promise<number> {
  parse(args, {}, 'berth cni default');
  process.stdout.write(JSON.stringify(defaultConflist(), null, 2) + '\n');
  return 0;
}

export async function cniEnsureDefault(args: string[]): Promise<number> {
  const { values } = parse(args, { 'conf-dir': { type: 'string' } }, 'berth cni ensure-default [--conf-dir DIR]');
  const dir = values['conf-dir'] ?? loadConfig([]).config.cni.conf_dir;
  await mkdir(dir, { recursive: true });
  const existing = (await readdir(dir)).filter((n) => /\.(conflist|conf|json)$/.test(n));
  if (existing.length) {
    console.log(`berth: ${dir} already has a network config (${existing.sort()[0]}); left as is`);
    return 0;
  }
  const file = join(dir, '10-berth.conflist');
  await writeFile(file, JSON.stringify(defaultConflist(), null, 2) + '\n', { mode: 0o644 });
  console.log(`berth: wrote ${file} (bridge berth0, 10.88.0.0/16)`);
  return 0;
}
