// berthd's node flags (server/node-flags.ts): the #! line of server/main.ts carries exactly
// BERTHD_NODE_FLAGS, and missing flags are found on the command line or in NODE_OPTIONS.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BERTHD_NODE_FLAGS, missingNodeFlags } from '../../server/node-flags.js';

const MAIN = fileURLToPath(new URL('../../server/main.js', import.meta.url));

test("berthd's #! line carries exactly BERTHD_NODE_FLAGS", (t) => {
  // tsc keeps the #! line of server/main.ts: what the `berthd` command runs with.
  const first = readFileSync(MAIN, 'utf8').split('\n', 1)[0];
  t.is(first, `#!/usr/bin/env -S node ${BERTHD_NODE_FLAGS.join(' ')}`);
});

test('missing node flags: from the command line or NODE_OPTIONS', (t) => {
  t.deepEqual(missingNodeFlags([], ''), [...BERTHD_NODE_FLAGS]);
  t.deepEqual(missingNodeFlags([...BERTHD_NODE_FLAGS], ''), []);
  t.deepEqual(missingNodeFlags([], `--enable-source-maps ${BERTHD_NODE_FLAGS.join(' ')}`), []);
});
