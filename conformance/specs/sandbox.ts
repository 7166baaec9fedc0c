// Pod sandboxes: lifecycle, status fields, list filters, idempotent stop/remove,
// duplicates, attempts, handlers, and what pods expose to their containers (hostname,
// DNS, sysctls) — those last ones are only observable from inside a container.
import { status as Code } from '@grpc/grpc-js';
import { isIPv4 } from 'node:net';
import { expect, type Spec, type SpecContext } from '../spec.js';

async function listIds(t: SpecContext, filter: object | null): Promise<string[]> {
  const r = await t.call('ListPodSandbox', filter ? { filter } : {});
  return (r.items as Array<{ id: string }>).map((i) => i.id);
}

const CONTAINER_RPCS = ['RunPodSandbox', 'StopPodSandbox', 'RemovePodSandbox', 'PullImage', 'ImageStatus', 'CreateContainer', 'StartContainer', 'RemoveContainer', 'ExecSync'] as const;

export const sandboxSpecs: Spec[] = [
  {
    id: 'pod/lifecycle',
    area: 'pod sandbox',
    title: 'run → READY with metadata, labels, annotations, created_at and an IP; stop → NOTREADY; remove → gone',
    needs: ['RunPodSandbox', 'PodSandboxStatus', 'ListPodSandbox', 'StopPodSandbox', 'RemovePodSandbox'],
    async run(t) {
      const config = t.podConfig(t.name('lifecycle'), {});
      config.labels = { ...config.labels, tier: 'conformance', 'example.com/key': 'value' };
      (config as Record<string, unknown>).annotations = { 'example.com/note': 'annotated' };
      const pod = await t.runPod(config);
      expect.ok(pod.id, 'RunPodSandbox returns an id');
      const { status } = await t.call('PodSandboxStatus', { pod_sandbox_id: pod.id });
      expect.equal(status.id, pod.id, 'status.id');
      expect.equal(status.state, 'SANDBOX_READY', 'state after run');
      expect.deepEqual(status.metadata, config.metadata, 'status.metadata');
      expect.equal(status.labels.tier, 'conformance', 'label tier');
      expect.equal(status.labels['example.com/key'], 'value', 'label example.com/key');
      expect.equal(status.annotations['example.com/note'], 'annotated', 'annotation');
      expect.recentNs(status.created_at, 'created_at');
      expect.ok(isIPv4(status.network?.ip ?? ''), `network.ip is an IPv4 address (got ${JSON.stringify(status.network?.ip)})`);
      expect.includes(await listIds(t, null), pod.id, 'ListPodSandbox ids');

      await t.call('StopPodSandbox', { pod_sandbox_id: pod.id });
      const stopped = await t.call('PodSandboxStatus', { pod_sandbox_id: pod.id });
      expect.equal(stopped.status.state, 'SANDBOX_NOTREADY', 'state after stop');
      expect.includes(await listIds(t, null), pod.id, 'a stopped pod is still listed');

      await t.call('RemovePodSandbox', { pod_sandbox_id: pod.id });
      await t.callFails('PodSandboxStatus', { pod_sandbox_id: pod.id }, [Code.NOT_FOUND], 'PodSandboxStatus after remove');
      expect.notIncludes(await listIds(t, null), pod.id, 'ListPodSandbox ids after remove');
    },
  },
  {
    id: 'pod/stop-remove-idempotent',
    area: 'pod sandbox',
    title: 'StopPodSandbox and RemovePodSandbox are idempotent',
    needs: ['RunPodSandbox', 'StopPodSandbox', 'RemovePodSandbox', 'PodSandboxStatus'],
    async run(t) {
      const pod = await t.runPod(t.podConfig(t.name('idem')));
      await t.call('StopPodSandbox', { pod_sandbox_id: pod.id });
      await t.call('StopPodSandbox', { pod_sandbox_id: pod.id });
      await t.call('RemovePodSandbox', { pod_sandbox_id: pod.id });
      await t.call('RemovePodSandbox', { pod_sandbox_id: pod.id });
      // Stopping a pod that is gone: kubelet accepts success or NOT_FOUND.
      try {
        await t.call('StopPodSandbox', { pod_sandbox_id: pod.id });
      } catch (e) {
        expect.equal((e as { code: number }).code, Code.NOT_FOUND, 'StopPodSandbox of a removed pod: OK or NOT_FOUND');
      }
    },
  },
  {
    id: 'pod/remove-ready',
    area: 'pod sandbox',
    title: 'RemovePodSandbox on a READY pod stops and removes it',
    needs: ['RunPodSandbox', 'RemovePodSandbox', 'PodSandboxStatus', 'StopPodSandbox'],
    async run(t) {
      const pod = await t.runPod(t.podConfig(t.name('rmready')));
      await t.call('RemovePodSandbox', { pod_sandbox_id: pod.id });
      await t.callFails('PodSandboxStatus', { pod_sandbox_id: pod.id }, [Code.NOT_FOUND], 'PodSandboxStatus after remove');
    },
  },
  {
    id: 'pod/list-filters',
    area: 'pod sandbox',
    title: 'ListPodSandbox filters by id, state and label selector (all must match)',
    needs: ['RunPodSandbox', 'ListPodSandbox', 'StopPodSandbox', 'RemovePodSandbox'],
    async run(t) {
      const group = t.name('grp');
      const mk = (name: string, role: string) => {
        const c = t.podConfig(t.name(name));
        c.labels = { ...c.labels, group, role };
        return c;
      };
      const a = await t.runPod(mk('flt-a', 'web'));
      const b = await t.runPod(mk('flt-b', 'db'));
      const c = await t.runPod(mk('flt-c', 'web'));
      await t.call('StopPodSandbox', { pod_sandbox_id: c.id });

      expect.deepEqual(await listIds(t, { id: a.id }), [a.id], 'filter by id');
      const byGroup = await listIds(t, { label_selector: { group } });
      expect.deepEqual(byGroup.sort(), [a.id, b.id, c.id].sort(), 'filter by label group');
      expect.deepEqual((await listIds(t, { label_selector: { group, role: 'web' } })).sort(), [a.id, c.id].sort(), 'filter by two labels');
      expect.deepEqual(await listIds(t, { label_selector: { group }, state: { state: 'SANDBOX_NOTREADY' } }), [c.id], 'filter by label and state NOTREADY');
      expect.deepEqual(
        (await listIds(t, { label_selector: { group }, state: { state: 'SANDBOX_READY' } })).sort(),
        [a.id, b.id].sort(),
        'filter by label and state READY',
      );
      expect.deepEqual(await listIds(t, { id: a.id, label_selector: { role: 'db' } }), [], 'id and a label that does not match');
      expect.deepEqual(await listIds(t, { label_selector: { group, role: 'none' } }), [], 'a label value nobody has');
    },
  },
  {
    id: 'pod/list-id-prefix',
    area: 'pod sandbox',
    title: 'PodSandboxStatus accepts a unique id prefix',
    needs: ['RunPodSandbox', 'PodSandboxStatus', 'StopPodSandbox', 'RemovePodSandbox'],
    async run(t) {
      const pod = await t.runPod(t.podConfig(t.name('prefix')));
      const { status } = await t.call('PodSandboxStatus', { pod_sandbox_id: pod.id.slice(0, 12) });
      expect.equal(status.id, pod.id, 'status by a 12-character prefix');
    },
  },
  {
    id: 'pod/duplicate-name',
    area: 'pod sandbox',
    title: 'a second pod with the same name, namespace, uid and attempt is refused; a new attempt is not',
    needs: ['RunPodSandbox', 'ListPodSandbox', 'StopPodSandbox', 'RemovePodSandbox'],
    async run(t) {
      const config = t.podConfig(t.name('dup'));
      const first = await t.runPod(config);
      await t.callFails('RunPodSandbox', { config }, undefined, 'RunPodSandbox with the same metadata');
      const same = await t.call('ListPodSandbox', { filter: { label_selector: config.labels } });
      const named = (same.items as Array<{ id: string; metadata: { name: string } }>).filter((p) => p.metadata.name === config.metadata.name);
      expect.deepEqual(named.map((p) => p.id), [first.id], 'pods with that name after the refused duplicate');
      const retry = await t.runPod({ ...config, metadata: { ...config.metadata, attempt: 1 } });
      expect.ok(retry.id !== first.id, 'attempt 1 gets a new sandbox id');
    },
  },
  {
    id: 'pod/reuse-name-after-remove',
    area: 'pod sandbox',
    title: 'the same pod metadata can be used again once the pod is removed',
    needs: ['RunPodSandbox', 'StopPodSandbox', 'RemovePodSandbox'],
    async run(t) {
      const config = t.podConfig(t.name('reuse'));
      const first = await t.runPod(config);
      await t.call('StopPodSandbox', { pod_sandbox_id: first.id });
      await t.call('RemovePodSandbox', { pod_sandbox_id: first.id });
      const second = await t.runPod(config);
      expect.ok(second.id && second.id !== first.id, 'a new sandbox id');
    },
  },
  {
    id: 'pod/unknown-handler',
    area: 'pod sandbox',
    title: 'RunPodSandbox with an unknown runtime handler fails and leaves no pod',
    needs: ['RunPodSandbox', 'ListPodSandbox'],
    async run(t) {
      const config = t.podConfig(t.name('nohandler'));
      await t.callFails('RunPodSandbox', { config, runtime_handler: 'conformance-no-such-handler' }, undefined, 'RunPodSandbox with an unknown handler');
      const r = await t.call('ListPodSandbox', { filter: { label_selector: config.labels } });
      expect.equal((r.items as Array<{ metadata: { name: string } }>).filter((p) => p.metadata.name === config.metadata.name).length, 0, 'pods left by the failed run');
    },
  },
  {
    id: 'pod/namespace-options-status',
    area: 'pod namespaces',
    title: 'PodSandboxStatus reports the namespace modes the pod asked for',
    needs: ['RunPodSandbox', 'PodSandboxStatus', 'StopPodSandbox', 'RemovePodSandbox'],
    async run(t) {
      const pod = await t.runPod(
        t.podConfig(t.name('nsopts'), { linux: { security_context: { namespace_options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } } } }),
      );
      const { status } = await t.call('PodSandboxStatus', { pod_sandbox_id: pod.id });
      const o = status.linux?.namespaces?.options;
      expect.ok(o, 'status.linux.namespaces.options is set');
      expect.equal(o.network, 'POD', 'network mode');
      expect.equal(o.pid, 'CONTAINER', 'pid mode');
      expect.equal(o.ipc, 'POD', 'ipc mode');
      // A host-network pod keeps the node's hostname (runc refuses one without its own UTS namespace).
      const hostPod = await t.runPod(t.podConfig(t.name('nshost'), { hostname: '', linux: { security_context: { namespace_options: { network: 'NODE', pid: 'POD', ipc: 'NODE' } } } }));
      const h = (await t.call('PodSandboxStatus', { pod_sandbox_id: hostPod.id })).status.linux?.namespaces?.options;
      expect.equal(h?.network, 'NODE', 'network mode (host)');
      expect.equal(h?.pid, 'POD', 'pid mode (pod)');
      expect.equal(h?.ipc, 'NODE', 'ipc mode (host)');
    },
  },
  {
    id: 'pod/concurrent-run',
    area: 'pod sandbox',
    title: 'five pods started at once all become READY with distinct IPs',
    needs: ['RunPodSandbox', 'PodSandboxStatus', 'StopPodSandbox', 'RemovePodSandbox'],
    async run(t) {
      const pods = await Promise.all([1, 2, 3, 4, 5].map((i) => t.runPod(t.podConfig(t.name(`burst${i}`)))));
      const ips = new Set<string>();
      for (const p of pods) {
        const { status } = await t.call('PodSandboxStatus', { pod_sandbox_id: p.id });
        expect.equal(status.state, 'SANDBOX_READY', `state of ${p.config.metadata.name}`);
        ips.add(status.network?.ip);
      }
      expect.equal(ips.size, 5, `distinct IPs (${[...ips].join(', ')})`);
    },
  },
  {
    id: 'pod/distinct-ips',
    area: 'pod networking',
    title: 'two pods on the pod network get different IPv4 addresses',
    needs: ['RunPodSandbox', 'PodSandboxStatus', 'StopPodSandbox', 'RemovePodSandbox'],
    async run(t) {
      const a = await t.runPod(t.podConfig(t.name('ip-a')));
      const b = await t.runPod(t.podConfig(t.name('ip-b')));
      const ipa = (await t.call('PodSandboxStatus', { pod_sandbox_id: a.id })).status.network?.ip;
      const ipb = (await t.call('PodSandboxStatus', { pod_sandbox_id: b.id })).status.network?.ip;
      expect.ok(isIPv4(ipa) && isIPv4(ipb), `both pods have IPv4 addresses (${ipa}, ${ipb})`);
      expect.ok(ipa !== ipb, `the addresses differ (${ipa}, ${ipb})`);
    },
  },
  {
    id: 'pod/stream-pod-sandboxes',
    area: 'pod sandbox',
    title: 'StreamPodSandboxes returns the pods ListPodSandbox returns',
    needs: ['RunPodSandbox', 'StreamPodSandboxes', 'ListPodSandbox', 'StopPodSandbox', 'RemovePodSandbox'],
    async run(t) {
      const pod = await t.runPod(t.podConfig(t.name('stream')));
      const msgs = await t.stream('StreamPodSandboxes', { filter: { id: pod.id } }, { timeoutMs: 10_000 });
      const ids = msgs.flatMap((m: { pod_sandboxes?: Array<{ id: string }> }) => (m.pod_sandboxes ?? []).map((p) => p.id));
      expect.deepEqual(ids, [pod.id], 'streamed pod ids');
    },
  },
  // Observable only from inside a container.
  {
    id: 'pod/hostname',
    area: 'pod sandbox',
    title: "a container sees the pod's hostname",
    needs: CONTAINER_RPCS,
    async run(t) {
      const name = t.name('hostname');
      const pod = await t.runPod(t.podConfig(name, { hostname: `conformance-${name}` }));
      const c = await t.startContainer(pod, t.containerConfig('main'));
      expect.equal((await t.sh(c.id, 'hostname')).trim(), `conformance-${name}`, 'hostname in the container');
      expect.equal((await t.sh(c.id, 'cat /etc/hostname')).trim(), `conformance-${name}`, '/etc/hostname in the container');
    },
  },
  {
    id: 'pod/dns-config',
    area: 'pod sandbox',
    title: "a container's /etc/resolv.conf holds the pod's DNS servers, searches and options",
    needs: CONTAINER_RPCS,
    async run(t) {
      const pod = await t.runPod(
        t.podConfig(t.name('dns'), {
          dns_config: { servers: ['10.96.0.10', '10.96.0.11'], searches: ['ns1.svc.cluster.local', 'cluster.local'], options: ['ndots:5', 'timeout:2'] },
        }),
      );
      const c = await t.startContainer(pod, t.containerConfig('main'));
      const resolv = await t.sh(c.id, 'cat /etc/resolv.conf');
      const lines = resolv.split('\n').map((l) => l.trim().replace(/\s+/g, ' '));
      expect.includes(lines, 'nameserver 10.96.0.10', 'resolv.conf');
      expect.includes(lines, 'nameserver 10.96.0.11', 'resolv.conf');
      expect.includes(lines, 'search ns1.svc.cluster.local cluster.local', 'resolv.conf');
      expect.includes(lines, 'options ndots:5 timeout:2', 'resolv.conf');
    },
  },
  {
    id: 'pod/sysctls',
    area: 'pod sandbox',
    title: 'namespaced sysctls (net.*, kernel.shm*) are applied in the pod',
    needs: CONTAINER_RPCS,
    async run(t) {
      const pod = await t.runPod(
        t.podConfig(t.name('sysctl'), { linux: { sysctls: { 'net.ipv4.ip_unprivileged_port_start': '81', 'kernel.shm_rmid_forced': '1' } } }),
      );
      const c = await t.startContainer(pod, t.containerConfig('main'));
      expect.equal((await t.sh(c.id, 'cat /proc/sys/net/ipv4/ip_unprivileged_port_start')).trim(), '81', 'net.ipv4.ip_unprivileged_port_start');
      expect.equal((await t.sh(c.id, 'cat /proc/sys/kernel/shm_rmid_forced')).trim(), '1', 'kernel.shm_rmid_forced');
    },
  },
];
