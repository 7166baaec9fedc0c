// Runs after the whole suite: proves that the tests left nothing behind on the host —
// no mounts, network namespaces, test bridges or veths, cgroups, processes or temp dirs.
// Exits non-zero with a list of what remains.
// What belongs to a test berthd whose directory is still there (conmon, runtime state,
// mounts, pinned namespaces, cgroups, veths, IP reservations, bundles, layers, leases) is
// found by berth's own leak auditor (server/audit, the module behind `berth leaks`), run
// on that instance's directories; the checks below cover what the auditor cannot know
// (the tests' own markers: BERTH_TEST_RUN, /tmp/berth-test-*, bt-* bridges, berth-test* cgroups,
// and berthd's default cgroup parent /berth, which the last container under it removes).
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { run } from '../hostutil/exec.js';
import { mountPoints } from '../hostutil/mounts.js';
import { auditOffline, instanceConfig } from '../server/audit/index.js';

/** berth's leak auditor over a test berthd's directories (test/helpers/berthd.ts's layout) left in /tmp. */
async function auditTestInstance(dir: string): Promise<string[]> {
  if (!existsSync(`${dir}/root/meta.db`)) return [];
  try {
    const r = await auditOffline(instanceConfig({ root: `${dir}/root`, state: `${dir}/state`, socket: `${dir}/berth.sock`, cniConfDir: `${dir}/cni` }));
    return r.findings.map((f) => `berth leak of test berthd ${dir}: ${f.kind} ${f.pid ? `pid ${f.pid}` : (f.path ?? f.id)} (${f.why})`);
  } catch (e) {
    return [`berth leak audit of test berthd ${dir} failed: ${(e as Error).message}`];
  }
}

export async function findLeftovers(): Promise<string[]> {
  const found: string[] = [];
  for (const m of await mountPoints()) if (m.startsWith('/tmp/berth-test-')) found.push(`mount ${m}`);

  const links = (await run('ip', ['-o', 'link', 'show'], { allowFailure: true })).stdout.split('\n');
  for (const l of links) {
    const name = l.split(':')[1]?.trim().split('@')[0];
    if (!name) continue;
    if (name.startsWith('bt-')) found.push(`test bridge ${name}`);
    else if (/ master bt-/.test(l)) found.push(`veth ${name} on a test bridge`);
  }
  const netns = (await run('ip', ['netns', 'list'], { allowFailure: true })).stdout;
  for (const n of netns.split('\n')) if (/berth/i.test(n)) found.push(`netns ${n.trim()}`);

  let hierarchies: string[] = [];
  try {
    hierarchies = await readdir('/sys/fs/cgroup');
  } catch {
    /* no cgroupfs */
  }
  for (const h of hierarchies) {
    let names: string[] = [];
    try {
      names = await readdir(`/sys/fs/cgroup/${h}`);
    } catch {
      continue;
    }
    // berth-test*: the tests' own parents; berth: berthd's default parent of pods without a cgroup of their own.
    for (const n of names) if (n.startsWith('berth-test') || n === 'berth') found.push(`cgroup /sys/fs/cgroup/${h}/${n}`);
  }

  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    try {
      const env = await readFile(`/proc/${pid}/environ`, 'latin1');
      if (env.includes('BERTH_TEST_RUN=')) {
        const cmd = (await readFile(`/proc/${pid}/cmdline`, 'latin1')).replace(/\0/g, ' ').trim();
        found.push(`process ${pid}: ${cmd}`);
      }
    } catch {
      /* gone or not ours to read */
    }
  }
  for (const d of await readdir('/tmp')) {
    if (!d.startsWith('berth-test-')) continue;
    found.push(`directory /tmp/${d}`);
    found.push(...(await auditTestInstance(`/tmp/${d}`)));
  }
  return found;
}

// `--before FILE` records what already exists before the suite runs (an earlier run killed
// hard, a bench stopped by SIGKILL): that is not this suite's doing, so the final check
// (`--since FILE`) reports it as a warning and fails only on what the suite added.
if (import.meta.url === `file://${process.argv[1]}`) {
  const [flag, file] = process.argv.slice(2);
  const now = await findLeftovers();
  if (flag === '--before' && file) {
    await writeFile(file, JSON.stringify(now));
    if (now.length) console.warn(`leftovers: ${now.length} thing(s) already on the host before the suite ran (not counted):\n  ${now.join('\n  ')}`);
    process.exit(0);
  }
  let before = new Set<string>();
  if (flag === '--since' && file) {
    try {
      before = new Set(JSON.parse(await readFile(file, 'utf8')) as string[]);
    } catch {
      /* no record: everything counts */
    }
  }
  const left = now.filter((x) => !before.has(x));
  const old = now.filter((x) => before.has(x));
  if (old.length) console.warn(`leftovers: ${old.length} thing(s) were there before the suite ran and still are (not counted):\n  ${old.join('\n  ')}`);
  if (left.length) {
    console.error(`leftovers: the test suite left ${left.length} thing(s) behind:\n  ${left.join('\n  ')}`);
    process.exit(1);
  }
  console.log('leftovers: none (no test mounts, namespaces, bridges, veths, cgroups, processes or directories remain)');
}
