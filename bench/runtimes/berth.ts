// berthd under test: the built dist/server/main.js, started by the test helper on its own
// socket, state directories, pod-log root and CNI bridge/subnet, logging at the default
// level (info) as in production. Its CNI network is written by the same generator as
// containerd's (bridge with hairpin mode and a default route, host-local, portmap,
// loopback), so both runtimes run identical plugin chains.
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { containerdConflist } from '../../conformance/runtimes/containerd.js';
import { startBerthd } from '../../test/helpers/berthd.js';
import { createCgroupParent, removeCgroupParent } from '../cgroups.js';
import type { BenchRuntime } from './types.js';

/**
 * One berthd, with the cgroupfs driver as containerd (the bench's pod parents are cgroupfs
 * paths; on a systemd host berthd's default, auto, would pick systemd). Without `handlers`:
 * one runtime 'berth' (pods with the default handler). With them: one variant per handler,
 * 'berth+<handler>', all served by that berthd, pods with runtime_handler <handler>.
 */
/** Bounds on a failure to start (an emulated guest is 30-90x slower), not timings. */
const START_TIMEOUT_MS = 300_000;

export async function startBenchBerthd(opts: { handlers?: string[]; /** TOML after the driver line (bench --berth-config). */ configToml?: string } = {}): Promise<BenchRuntime[]> {
  const b = await startBerthd({ args: ['--log-level', 'info'], configToml: `cgroup_driver = "cgroupfs"\n${opts.configToml ?? ''}`, startTimeoutMs: START_TIMEOUT_MS });
  const cgroupParent = `/berth-test-bench-${randomBytes(4).toString('hex')}-berth`;
  let stopped = false;
  const rt: BenchRuntime = {
    name: 'berth',
    endpoint: `unix://${b.socket}`,
    client: b.client,
    dir: b.dir,
    pid: () => b.proc.pid ?? -1,
    metricsUrl: () => b.metricsUrl(),
    logRoot: b.logRoot,
    cgroupParent,
    bridge: b.net.bridge,
    subnet: b.net.subnet,
    imageStoreDirs: [join(b.root, 'content'), join(b.root, 'layers')],
    async stop() {
      if (stopped) return;
      stopped = true;
      const problems: string[] = [];
      await b.stop().catch((e: Error) => problems.push(`berthd stop: ${e.message}`));
      await b.cleanup().catch((e: Error) => problems.push(`berthd cleanup: ${e.message}`));
      await removeCgroupParent(cgroupParent).catch((e: Error) => problems.push(e.message));
      if (problems.length) throw new Error(problems.join('; '));
    },
  };
  const runtimes = opts.handlers?.length
    ? opts.handlers.map((h, i): BenchRuntime => ({
        ...rt,
        name: `berth+${h}`,
        handler: h,
        // The first variant stops the shared berthd; the others have nothing of their own.
        stop: i === 0 ? rt.stop : async () => undefined,
      }))
    : [rt];
  try {
    // berthd reads the conflist on every RunPodSandbox: replacing the helper's is enough.
    const conflist = containerdConflist({ name: `berth-${b.net.bridge}`, bridge: b.net.bridge, subnet: b.net.subnet, ipamDir: b.net.ipamDir });
    await writeFile(join(b.net.confDir, '10-berth-test.conflist'), JSON.stringify(conflist, null, 2));
    await createCgroupParent(cgroupParent);
  } catch (e) {
    await rt.stop().catch(() => undefined);
    throw e;
  }
  return runtimes;
}
