// Namespace modes seen from inside containers: pod-shared network/IPC/UTS, host
// network/IPC/PID, and PID per container, per pod or the host's.
import { hostname } from 'node:os';
import { expect, type Spec, type SpecContext } from '../spec.js';
import { containerNamespace, hostNamespace } from './util.js';

const BASE = ['RunPodSandbox', 'StopPodSandbox', 'RemovePodSandbox', 'PullImage', 'ImageStatus', 'CreateContainer', 'StartContainer', 'RemoveContainer', 'ContainerStatus', 'ExecSync'] as const;

const nsOpts = (o: Record<string, string>) => ({ linux: { security_context: { namespace_options: o } } });

async function pidOneCmd(t: SpecContext, id: string): Promise<string> {
  return (await t.sh(id, "tr '\\0' ' ' < /proc/1/cmdline")).trim();
}

export const namespaceSpecs: Spec[] = [
  {
    id: 'ns/pod-shared',
    area: 'pod namespaces',
    title: "containers of a pod share its network, IPC and UTS namespaces, which are not the host's",
    needs: BASE,
    async run(t) {
      const pod = await t.runPod(t.podConfig(t.name('nsshare')));
      const [a, b] = await Promise.all([t.startContainer(pod, t.containerConfig('a')), t.startContainer(pod, t.containerConfig('b'))]);
      for (const kind of ['net', 'ipc', 'uts'] as const) {
        const na = await containerNamespace(t, a.id, kind);
        expect.equal(await containerNamespace(t, b.id, kind), na, `${kind} namespace of both containers`);
        expect.ok(na !== (await hostNamespace(kind)), `the pod's ${kind} namespace is not the host's (${na})`);
      }
    },
  },
  {
    id: 'ns/host-network',
    area: 'pod namespaces',
    title: "a pod with network NODE uses the host's network and UTS namespaces",
    needs: BASE,
    async run(t) {
      const pod = await t.runPod(t.podConfig(t.name('hostnet'), { hostname: '', ...nsOpts({ network: 'NODE', pid: 'CONTAINER', ipc: 'POD' }) }));
      const c = await t.startContainer(pod, t.containerConfig('c'));
      expect.equal(await containerNamespace(t, c.id, 'net'), await hostNamespace('net'), 'network namespace');
      expect.equal(await containerNamespace(t, c.id, 'uts'), await hostNamespace('uts'), 'UTS namespace');
      expect.equal((await t.sh(c.id, 'hostname')).trim(), hostname(), "hostname (the node's)");
    },
  },
  {
    id: 'ns/host-ipc',
    area: 'pod namespaces',
    title: "a pod with IPC NODE uses the host's IPC namespace",
    needs: BASE,
    async run(t) {
      const pod = await t.runPod(t.podConfig(t.name('hostipc'), nsOpts({ network: 'POD', pid: 'CONTAINER', ipc: 'NODE' })));
      const c = await t.startContainer(pod, t.containerConfig('c'));
      expect.equal(await containerNamespace(t, c.id, 'ipc'), await hostNamespace('ipc'), 'IPC namespace');
    },
  },
  {
    id: 'ns/host-pid',
    area: 'pod namespaces',
    title: "a pod with PID NODE uses the host's PID namespace",
    needs: BASE,
    async run(t) {
      const pod = await t.runPod(t.podConfig(t.name('hostpid'), nsOpts({ network: 'POD', pid: 'NODE', ipc: 'POD' })));
      const c = await t.startContainer(pod, t.containerConfig('c'));
      expect.equal(await containerNamespace(t, c.id, 'pid'), await hostNamespace('pid'), 'PID namespace');
      // The suite's own process is visible.
      expect.equal((await t.exec(c.id, ['test', '-d', `/proc/${process.pid}`])).exitCode, 0, `the suite's pid ${process.pid} is visible`);
    },
  },
  {
    id: 'ns/pid-container',
    area: 'pod namespaces',
    title: 'PID CONTAINER: each container is PID 1 of its own namespace and sees no other container',
    needs: BASE,
    async run(t) {
      const pod = await t.runPod(t.podConfig(t.name('pidctr'), nsOpts({ network: 'POD', pid: 'CONTAINER', ipc: 'POD' })));
      const a = await t.startContainer(pod, t.containerConfig('a', { command: ['sleep', '3601'] }));
      const b = await t.startContainer(pod, t.containerConfig('b', { command: ['sleep', '3602'] }));
      expect.equal(await pidOneCmd(t, a.id), 'sleep 3601', 'PID 1 of container a');
      expect.equal(await pidOneCmd(t, b.id), 'sleep 3602', 'PID 1 of container b');
      const ps = await t.sh(a.id, 'ps -o args');
      expect.ok(!ps.includes('sleep 3602'), `container a does not see container b (ps: ${ps.trim().replace(/\n/g, ' | ')})`);
      expect.ok((await containerNamespace(t, a.id, 'pid')) !== (await hostNamespace('pid')), "not the host's PID namespace");
    },
  },
  {
    id: 'ns/pid-pod',
    area: 'pod namespaces',
    title: "PID POD: the pod's containers share one PID namespace and see each other's processes",
    needs: BASE,
    async run(t) {
      const pod = await t.runPod(t.podConfig(t.name('pidpod'), nsOpts({ network: 'POD', pid: 'POD', ipc: 'POD' })));
      const a = await t.startContainer(pod, t.containerConfig('a', { command: ['sleep', '3611'] }));
      const b = await t.startContainer(pod, t.containerConfig('b', { command: ['sleep', '3612'] }));
      expect.equal(await containerNamespace(t, a.id, 'pid'), await containerNamespace(t, b.id, 'pid'), 'PID namespace of both containers');
      const ps = await t.sh(a.id, 'ps -o args');
      expect.ok(ps.includes('sleep 3612'), `container a sees container b's process (ps: ${ps.trim().replace(/\n/g, ' | ')})`);
      expect.ok((await pidOneCmd(t, a.id)) !== 'sleep 3611', 'PID 1 is the pod init, not container a');
    },
  },
  {
    id: 'ns/shm-shared',
    area: 'pod namespaces',
    title: "containers of a pod share /dev/shm",
    needs: BASE,
    async run(t) {
      const pod = await t.runPod(t.podConfig(t.name('shm')));
      const a = await t.startContainer(pod, t.containerConfig('a'));
      const b = await t.startContainer(pod, t.containerConfig('b'));
      await t.sh(a.id, 'echo shared > /dev/shm/conformance');
      expect.equal((await t.sh(b.id, 'cat /dev/shm/conformance')).trim(), 'shared', '/dev/shm/conformance seen from container b');
    },
  },
];
