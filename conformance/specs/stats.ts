// Stats: ContainerStats and ListContainerStats, pod sandbox stats, metric descriptors.
import { expect, type Spec } from '../spec.js';

const BASE = ['RunPodSandbox', 'StopPodSandbox', 'RemovePodSandbox', 'PullImage', 'ImageStatus', 'CreateContainer', 'StartContainer', 'RemoveContainer', 'ContainerStatus', 'ExecSync'] as const;

const num = (v: { value: string } | null | undefined) => (v ? BigInt(v.value) : -1n);

export const statsSpecs: Spec[] = [
  {
    id: 'stats/container',
    area: 'stats',
    title: 'ContainerStats reports CPU, memory and the writable layer of a running container',
    needs: [...BASE, 'ContainerStats'],
    async run(t) {
      const pod = await t.runPod(t.podConfig(t.name('cstats')));
      const c = await t.startContainer(pod, t.containerConfig('busy', { command: ['sh', '-c', 'i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; sleep 3600'] }));
      await t.sh(c.id, 'dd if=/dev/zero of=/tmp/blob bs=1024 count=512 2>/dev/null');
      const s = await t.eventually(async () => {
        const r = (await t.call('ContainerStats', { container_id: c.id })).stats;
        return r && num(r.cpu?.usage_core_nano_seconds) > 0n && num(r.memory?.working_set_bytes) > 0n ? r : null;
      }, 'ContainerStats reports CPU and memory usage', 20_000);
      expect.equal(s.attributes?.id, c.id, 'attributes.id');
      expect.equal(s.attributes?.metadata?.name, 'busy', 'attributes.metadata.name');
      expect.recentNs(s.cpu.timestamp, 'cpu.timestamp');
      expect.recentNs(s.memory.timestamp, 'memory.timestamp');
      expect.ok(s.writable_layer, 'writable_layer is reported');
      expect.ok(s.writable_layer.fs_id?.mountpoint, 'writable_layer.fs_id.mountpoint is set');
      // Usage may be sampled periodically (containerd: every 10 s), so allow for that.
      await t.eventually(async () => {
        const r = (await t.call('ContainerStats', { container_id: c.id })).stats;
        const used = num(r?.writable_layer?.used_bytes);
        if (used < 512n * 1024n) throw new Error(`used_bytes ${used}`);
        return true;
      }, 'writable_layer.used_bytes counts the 512 KiB written', 25_000);
    },
  },
  {
    id: 'stats/list-container-stats',
    area: 'stats',
    title: 'ListContainerStats filters by container id, pod and labels',
    needs: [...BASE, 'ListContainerStats'],
    async run(t) {
      const group = t.name('sgrp');
      const p1 = await t.runPod(t.podConfig(t.name('ls1')));
      const p2 = await t.runPod(t.podConfig(t.name('ls2')));
      const a = await t.startContainer(p1, t.containerConfig('a', { labels: { group, role: 'a' } }));
      const b = await t.startContainer(p2, t.containerConfig('b', { labels: { group, role: 'b' } }));
      const ids = async (filter: object) =>
        ((await t.call('ListContainerStats', { filter })).stats as Array<{ attributes: { id: string } }>).map((s) => s.attributes.id).sort();
      expect.deepEqual(await ids({ id: a.id }), [a.id], 'by id');
      expect.deepEqual(await ids({ pod_sandbox_id: p2.id }), [b.id], 'by pod');
      expect.deepEqual(await ids({ label_selector: { group } }), [a.id, b.id].sort(), 'by label');
      expect.deepEqual(await ids({ label_selector: { group, role: 'b' } }), [b.id], 'by two labels');
    },
  },
  {
    id: 'stats/pod-sandbox',
    area: 'stats',
    title: 'PodSandboxStats and ListPodSandboxStats report the pod with its containers',
    needs: [...BASE, 'PodSandboxStats', 'ListPodSandboxStats'],
    async run(t) {
      const pod = await t.runPod(t.podConfig(t.name('pstats')));
      const c = await t.startContainer(pod, t.containerConfig('c'));
      const s = await t.eventually(async () => {
        const r = (await t.call('PodSandboxStats', { pod_sandbox_id: pod.id })).stats;
        return r?.linux?.cpu && r.linux.memory ? r : null;
      }, 'PodSandboxStats reports CPU and memory', 20_000);
      expect.equal(s.attributes?.id, pod.id, 'attributes.id');
      expect.deepEqual(s.attributes?.metadata, pod.config.metadata, 'attributes.metadata');
      const ctrs = (s.linux.containers ?? []) as Array<{ attributes: { id: string } }>;
      expect.includes(ctrs.map((x) => x.attributes.id), c.id, "the pod's container stats");
      const listed = ((await t.call('ListPodSandboxStats', { filter: { id: pod.id } })).stats as Array<{ attributes: { id: string } }>).map((x) => x.attributes.id);
      expect.deepEqual(listed, [pod.id], 'ListPodSandboxStats by id');
    },
  },
  {
    id: 'stats/metric-descriptors',
    area: 'stats',
    title: 'ListMetricDescriptors names metrics; ListPodSandboxMetrics reports them for a pod',
    needs: [...BASE, 'ListMetricDescriptors', 'ListPodSandboxMetrics'],
    async run(t) {
      const descriptors = (await t.call('ListMetricDescriptors', {})).descriptors as Array<{ name: string }>;
      expect.ok(descriptors.length > 0, 'at least one metric descriptor');
      const pod = await t.runPod(t.podConfig(t.name('pmetrics')));
      await t.startContainer(pod, t.containerConfig('c'));
      const metrics = await t.eventually(async () => {
        const m = (await t.call('ListPodSandboxMetrics', {})).pod_metrics as Array<{ pod_sandbox_id: string }>;
        return m.find((x) => x.pod_sandbox_id === pod.id);
      }, 'ListPodSandboxMetrics includes the pod', 20_000);
      expect.ok(metrics, 'metrics for the pod');
    },
  },
];
