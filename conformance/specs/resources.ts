// Resources: CPU and memory limits at create time and after UpdateContainerResources,
// read back from the container's own cgroup files (v1 or v2), and OOM kills.
import { expect, type Spec, type SpecContext } from '../spec.js';

const BASE = ['RunPodSandbox', 'StopPodSandbox', 'RemovePodSandbox', 'PullImage', 'ImageStatus', 'CreateContainer', 'StartContainer', 'RemoveContainer', 'ContainerStatus', 'ExecSync'] as const;

interface Limits {
  quota: string;
  period: string;
  memory: string;
  shares?: string;
}

/** The limits as the container sees them in its cgroup (v1 controller files or v2 unified). */
async function readLimits(t: SpecContext, id: string): Promise<Limits> {
  const v2 = (await t.exec(id, ['test', '-f', '/sys/fs/cgroup/cgroup.controllers'])).exitCode === 0;
  if (v2) {
    const [max, mem] = (await t.sh(id, 'cat /sys/fs/cgroup/cpu.max /sys/fs/cgroup/memory.max')).trim().split('\n');
    const [quota, period] = (max ?? '').split(' ');
    return { quota: quota === 'max' ? '-1' : quota!, period: period!, memory: mem === 'max' ? '-1' : mem! };
  }
  const out = (await t.sh(id, 'cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.shares')).trim().split('\n');
  return { quota: out[0]!, period: out[1]!, memory: out[2]!, shares: out[3]! };
}

const MiB = 1024 * 1024;

export const resourceSpecs: Spec[] = [
  {
    id: 'resources/limits-at-create',
    area: 'resources',
    title: "CPU quota/period/shares and the memory limit are in the container's cgroup",
    needs: BASE,
    async run(t) {
      const pod = await t.runPod(t.podConfig(t.name('limits')));
      const c = await t.startContainer(
        pod,
        t.containerConfig('c', { linux: { resources: { cpu_period: 100000, cpu_quota: 50000, cpu_shares: 512, memory_limit_in_bytes: 64 * MiB } } }),
      );
      const l = await readLimits(t, c.id);
      expect.equal(l.quota, '50000', 'cpu quota');
      expect.equal(l.period, '100000', 'cpu period');
      expect.equal(l.memory, String(64 * MiB), 'memory limit');
      if (l.shares !== undefined) expect.equal(l.shares, '512', 'cpu shares (cgroup v1)');
    },
  },
  {
    id: 'resources/update',
    area: 'resources',
    title: 'UpdateContainerResources changes the limits of a running container',
    needs: [...BASE, 'UpdateContainerResources'],
    async run(t) {
      const pod = await t.runPod(t.podConfig(t.name('update')));
      const c = await t.startContainer(
        pod,
        t.containerConfig('c', { linux: { resources: { cpu_period: 100000, cpu_quota: 50000, cpu_shares: 512, memory_limit_in_bytes: 64 * MiB } } }),
      );
      await t.call('UpdateContainerResources', {
        container_id: c.id,
        linux: { cpu_period: 100000, cpu_quota: 20000, cpu_shares: 256, memory_limit_in_bytes: 128 * MiB },
      });
      const l = await readLimits(t, c.id);
      expect.equal(l.quota, '20000', 'cpu quota after update');
      expect.equal(l.memory, String(128 * MiB), 'memory limit after update');
      if (l.shares !== undefined) expect.equal(l.shares, '256', 'cpu shares after update (cgroup v1)');
    },
  },
  {
    id: 'resources/cpuset',
    area: 'resources',
    title: 'cpuset_cpus and cpuset_mems pin the container',
    needs: BASE,
    async run(t) {
      const pod = await t.runPod(t.podConfig(t.name('cpuset')));
      const c = await t.startContainer(pod, t.containerConfig('c', { linux: { resources: { cpuset_cpus: '0', cpuset_mems: '0' } } }));
      const v2 = (await t.exec(c.id, ['test', '-f', '/sys/fs/cgroup/cgroup.controllers'])).exitCode === 0;
      const file = v2 ? '/sys/fs/cgroup/cpuset.cpus' : '/sys/fs/cgroup/cpuset/cpuset.cpus';
      expect.equal((await t.sh(c.id, `cat ${file}`)).trim(), '0', file);
      expect.match(await t.sh(c.id, "grep Cpus_allowed_list /proc/self/status"), /:\s*0\s*$/, 'Cpus_allowed_list of a process in the container');
    },
  },
  {
    id: 'resources/oom-killed',
    area: 'resources',
    title: 'a container over its memory limit is killed: exit 137, reason OOMKilled',
    needs: BASE,
    async run(t) {
      const pod = await t.runPod(t.podConfig(t.name('oom')));
      // tail keeps the last "line" of an endless stream without newlines: it only grows.
      const c = await t.startContainer(
        pod,
        t.containerConfig('hog', { command: ['sh', '-c', 'tail /dev/zero'], linux: { resources: { memory_limit_in_bytes: 16 * MiB, memory_swap_limit_in_bytes: 16 * MiB } } }),
      );
      const st = await t.waitContainer(c.id, 'CONTAINER_EXITED', 30_000);
      expect.equal(st.exit_code, 137, 'exit code');
      expect.equal(st.reason, 'OOMKilled', 'reason');
    },
  },
];
