// npm run release [-- --out DIR] [--version V] [--unit FILE] [--with-debs]
// Builds the release bundle from the compiled tree (run by `npm run release` after the
// build) and prints where it went and how big its parts are.
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { buildBundle } from './bundle.js';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const dist = fileURLToPath(new URL('../', import.meta.url));

const { values } = parseArgs({
  options: {
    out: { type: 'string', default: resolve(repo, 'out') },
    version: { type: 'string' },
    unit: { type: 'string' },
    'with-debs': { type: 'boolean', default: false },
    'keep-stage': { type: 'boolean', default: false },
  },
  strict: true,
});

const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;
const started = Date.now();
buildBundle({ repo, dist, outDir: resolve(values.out), version: values.version, unit: values.unit, withDebs: values['with-debs'], log: (l) => console.log(`release: ${l}`) }).then(
  (r) => {
    if (!values['keep-stage']) rmSync(dirname(r.stage), { recursive: true, force: true });
    console.log(`release: ${r.tarball} (${mib(r.bytes.tarball)}; unpacked ${mib(r.bytes.unpacked)}: node ${mib(r.bytes.node)}, node_modules ${mib(r.bytes.nodeModules)}, lib ${mib(r.bytes.lib)}${r.info.debs.length ? `, ${r.info.debs.length} Debian packages ${mib(r.bytes.debs)}` : ''}) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    console.log(`release: ${r.sha256File}: ${r.sha256}`);
  },
  (e: unknown) => {
    console.error(`release: ${(e as Error).message}`);
    process.exit(1);
  },
);
