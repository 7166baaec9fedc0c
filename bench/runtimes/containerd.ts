// containerd under test: Debian's containerd 1.6 (CRI plugin, runc, cgroupfs,
// restrict_oom_score_adj), started by the conformance suite's
// conformance/runtimes/containerd.ts on its own socket, directories, CNI bridge and
// subnet, with the bench's registry as a plain-HTTP registry.
import { randomBytes } from 'node:crypto';
import { criClient } from '../../conformance/client.js';
import { startContainerd } from '../../conformance/runtimes/containerd.js';
import { TEST_PREFIX } from '../../test/helpers/berthd.js';
import { createCgroupParent, removeCgroupParent } from '../cgroups.js';
import type { BenchRuntime } from './types.js';

export const containerdStarter = 'conformance/runtimes/containerd.ts';

/** Waits until CRI Status reports every condition (RuntimeReady, NetworkReady) true. */
async function waitReady(endpoint: string): Promise<void> {
  const client = criClient(endpoint);
  try {
    const deadline = Date.now() + 300_000; // a bound on a failure (emulated guests are slow)
    for (;;) {
      const st = await client.call('Status', {}, { timeoutMs: 2000 }).catch(() => undefined);
      const conds = (st?.status?.conditions ?? []) as { type: string; status: boolean; message?: string }[];
      if (conds.length && conds.every((c) => c.status)) return;
      if (Date.now() > deadline) throw new Error(`containerd not ready: ${JSON.stringify(conds)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    client.close();
  }
}

export async function startBenchContainerd(opts: { sandboxImage: string; registry: string }): Promise<BenchRuntime> {
  const cgroupParent = `/berth-test-bench-${randomBytes(4).toString('hex')}-containerd`;
  await createCgroupParent(cgroupParent);
  let ctd: Awaited<ReturnType<typeof startContainerd>> | undefined;
  const cleanup = async () => {
    const problems: string[] = [];
    await ctd?.cleanup().catch((e: Error) => problems.push(e.message));
    await removeCgroupParent(cgroupParent).catch((e: Error) => problems.push(e.message));
    if (problems.length) throw new Error(problems.join('; '));
  };
  try {
    // Under the test prefix, so the suite's leftover check covers what the bench leaves.
    ctd = await startContainerd({ registry: opts.registry, sandboxImage: opts.sandboxImage, dirPrefix: `${TEST_PREFIX}ctrd-`, startTimeoutMs: 300_000 });
    await waitReady(ctd.endpoint);
  } catch (e) {
    await cleanup().catch(() => undefined);
    throw e;
  }
  const c = ctd;
  const client = criClient(c.endpoint);
  let stopped = false;
  return {
    name: 'containerd',
    endpoint: c.endpoint,
    client,
    dir: c.dir,
    pid: () => c.pid,
    logRoot: `${c.dir}/pod-logs`,
    cgroupParent,
    bridge: c.bridge,
    subnet: c.subnet,
    imageStoreDirs: [`${c.dir}/root/io.containerd.content.v1.content`, `${c.dir}/root/io.containerd.snapshotter.v1.overlayfs`],
    async stop() {
      if (stopped) return;
      stopped = true;
      client.close();
      await cleanup();
    },
  };
}
