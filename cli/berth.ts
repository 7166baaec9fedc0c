#!/usr/bin/env node
// berth: the operator's command-line tool next to berthd.
//   berth cni ensure-default [--conf-dir DIR]   write the default network if DIR has none
//   berth cni default                            print the default network config list
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { defaultConflist } from '../server/network/conflist.js';
import { loadConfig } from '../server/config.js';

const USAGE = `usage: berth cni default
       berth cni ensure-default [--conf-dir DIR]`;

async function main(argv: string[]): Promise<number> {
  const [group, cmd, ...rest] = argv;
  if (group === 'cni' && cmd === 'default') {
    process.stdout.write(JSON.stringify(defaultConflist(), null, 2) + '\n');
    return 0;
  }
  if (group === 'cni' && cmd === 'ensure-default') {
    const i = rest.indexOf('--conf-dir');
    const dir = i >= 0 ? rest[i + 1] : loadConfig([]).config.cni.conf_dir;
    if (!dir) throw new Error('--conf-dir needs a value');
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
  process.stderr.write(USAGE + '\n');
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`berth: ${(e as Error).message}\n`);
    process.exit(1);
  },
);
