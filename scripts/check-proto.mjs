#!/usr/bin/env node
// npm run check-proto: checks proto/runtime/v1/api.proto against the upstream runtime.v1
// descriptor with the checker kept outside this repository, in ../shared/cri/ (beside the
// checkout), or in the directory named by BERTH_SHARED_DIR. Without it the check cannot run:
// say so plainly and fail, rather than letting node report a missing module.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const shared = resolve(process.env.BERTH_SHARED_DIR ?? join(repo, '..', 'shared'));
const checker = join(shared, 'cri', 'check-proto.mjs');
const proto = process.argv[2] ?? 'proto/runtime/v1/api.proto';

if (!existsSync(checker)) {
  console.error(
    `check-proto: ${checker} not found.\n` +
      `The proto check needs the shared CRI checker and its runtime.v1 descriptor (cri/check-proto.mjs,\n` +
      `cri/runtime-v1.descriptor.json) in ../shared beside this checkout (${shared}),\n` +
      `or in the directory named by BERTH_SHARED_DIR. Nothing was checked.`,
  );
  process.exit(2);
}
const res = spawnSync(process.execPath, [checker, proto], { cwd: repo, stdio: 'inherit' });
if (res.error) {
  console.error(`check-proto: cannot run ${checker}: ${res.error.message}`);
  process.exit(2);
}
process.exit(res.status ?? 1);
