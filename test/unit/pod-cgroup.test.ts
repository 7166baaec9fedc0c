// The pod cgroup (the cgroup manager's cgroupfs driver) on a stand-in hierarchy in a temp dir: cpuset.cpus/mems
// are copied from the parent on v1 only; on v2 the root cgroup has no cpuset.cpus (an
// empty one means "inherit"), which once failed RunPodSandbox on a v2 host.
import test from 'ava';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cgroupfsDriver, CreatedCgroups } from '../../server/cgroups/cgroupfs.js';

function settings() {
  const m = new Map<string, string>();
  return { get: (k: string) => m.get(k), set: (k: string, v: string) => void m.set(k, v) };
}

/** A root like a v2 one after runc enabled cpuset below it: the child has cpuset.cpus, the root does not. */
function fakeRoot(): { root: string; child: string } {
  const root = mkdtempSync(join(tmpdir(), 'berth-unit-cg-'));
  const child = join(root, 'pods');
  mkdirSync(child);
  writeFileSync(join(child, 'cpuset.cpus'), '');
  writeFileSync(join(child, 'cpuset.mems'), '');
  return { root, child };
}

test('v2: an empty cpuset.cpus is left alone and the root needs none', async (t) => {
  const { root, child } = fakeRoot();
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const driver = cgroupfsDriver({ mode: 'v2', v1: {}, unified: root, unifiedControllers: [] }, new CreatedCgroups(settings()));
  const pc = await driver.createPod('/pods/pod1');
  t.deepEqual(pc.created, ['/pods/pod1']);
  t.is(readFileSync(join(child, 'cpuset.cpus'), 'utf8'), '');
  await driver.removePod(pc);
});

test('v1: cpuset.cpus and mems are copied from the parent', async (t) => {
  const { root, child } = fakeRoot();
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  writeFileSync(join(root, 'cpuset.cpus'), '0-1\n');
  writeFileSync(join(root, 'cpuset.mems'), '0\n');
  const pc = await cgroupfsDriver({ mode: 'v1', v1: { cpuset: root } }, new CreatedCgroups(settings())).createPod('/pods');
  t.deepEqual(pc.created, []);
  t.is(readFileSync(join(child, 'cpuset.cpus'), 'utf8'), '0-1');
  t.is(readFileSync(join(child, 'cpuset.mems'), 'utf8'), '0');
});
