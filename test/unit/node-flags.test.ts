// berthd's node flags and environment (server/node-flags.ts): the #! line of server/main.ts
// carries exactly BERTHD_ENV and BERTHD_NODE_FLAGS, the test harness reads both from it,
// missing flags are found on the command line or in NODE_OPTIONS, and a GLIBC_TUNABLES
// without the mmap threshold counts as missing.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BERTHD_ENV, BERTHD_NODE_FLAGS, berthdEnvWords, missingBerthdEnv, missingNodeFlags } from '../../server/node-flags.js';
import { berthdLaunch } from '../helpers/berthd.js';

const MAIN = fileURLToPath(new URL('../../server/main.js', import.meta.url));

test("berthd's #! line carries exactly BERTHD_ENV and BERTHD_NODE_FLAGS, as the harness reads them", (t) => {
  // tsc keeps the #! line of server/main.ts: what the `berthd` command runs with.
  const first = readFileSync(MAIN, 'utf8').split('\n', 1)[0];
  t.is(first, `#!/usr/bin/env -S ${berthdEnvWords().join(' ')} node ${BERTHD_NODE_FLAGS.join(' ')}`);
  t.deepEqual(berthdLaunch(), { env: { ...BERTHD_ENV }, flags: [...BERTHD_NODE_FLAGS] });
  // Kernels before 5.1 (RHEL 8's 4.18) read 127 bytes of a #! line and cut the rest silently.
  t.true(Buffer.byteLength(first!) <= 127, `the #! line is ${Buffer.byteLength(first!)} bytes`);
});

test('missing environment: GLIBC_TUNABLES must set the mmap threshold, to any value', (t) => {
  t.deepEqual(missingBerthdEnv({}), berthdEnvWords());
  t.deepEqual(missingBerthdEnv({ ...BERTHD_ENV }), []);
  t.deepEqual(missingBerthdEnv({ GLIBC_TUNABLES: 'glibc.malloc.arena_max=2:glibc.malloc.mmap_threshold=65536' }), []);
  t.deepEqual(missingBerthdEnv({ GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' }), berthdEnvWords());
});

test('missing node flags: from the command line or NODE_OPTIONS', (t) => {
  t.deepEqual(missingNodeFlags([], ''), [...BERTHD_NODE_FLAGS]);
  t.deepEqual(missingNodeFlags([...BERTHD_NODE_FLAGS], ''), []);
  t.deepEqual(missingNodeFlags([], `--enable-source-maps ${BERTHD_NODE_FLAGS.join(' ')}`), []);
});
