// Container events (GetContainerEvents, the evented PLEG): pod sandbox and container
// lifecycle transitions arrive as a stream.
import { expect, type Spec, type SpecContext } from '../spec.js';

interface Ev {
  container_id: string;
  container_event_type: string;
  created_at: string;
  pod_sandbox_status: { id: string } | null;
}

const typesFor = (evs: Ev[], id: string) => evs.filter((e) => e.container_id === id).map((e) => e.container_event_type);

/**
 * A subscription is live once it has delivered something: start a throwaway pod and wait
 * for its event, so that what the spec does next cannot happen before the subscription.
 */
async function waitLive(t: SpecContext, live: Ev[]): Promise<void> {
  const warm = await t.runPod(t.podConfig(t.name('events-warmup')));
  await t.eventually(async () => live.some((e) => e.container_id === warm.id), 'the event stream delivers the warm-up pod');
}

export const eventSpecs: Spec[] = [
  {
    id: 'events/pod-sandbox',
    area: 'events',
    title: 'GetContainerEvents streams CREATED, STARTED, STOPPED and DELETED for a pod sandbox',
    needs: ['GetContainerEvents', 'RunPodSandbox', 'StopPodSandbox', 'RemovePodSandbox'],
    async run(t) {
      let podId = '';
      const evs: Ev[] = await t.stream<Ev>('GetContainerEvents', {}, {
        timeoutMs: 20_000,
        until: (m) => typesFor(m, podId).includes('CONTAINER_DELETED_EVENT'),
        during: async (live) => {
          await waitLive(t, live);
          const pod = await t.runPod(t.podConfig(t.name('events')));
          podId = pod.id;
          await t.call('StopPodSandbox', { pod_sandbox_id: pod.id });
          await t.call('RemovePodSandbox', { pod_sandbox_id: pod.id });
        },
      });
      const types = typesFor(evs, podId);
      expect.deepEqual(types, ['CONTAINER_CREATED_EVENT', 'CONTAINER_STARTED_EVENT', 'CONTAINER_STOPPED_EVENT', 'CONTAINER_DELETED_EVENT'], 'event types for the pod, in order');
      for (const e of evs.filter((x) => x.container_id === podId)) {
        expect.recentNs(e.created_at, 'event created_at');
        expect.equal(e.pod_sandbox_status?.id, podId, 'pod_sandbox_status.id');
      }
    },
  },
  {
    id: 'events/container',
    area: 'events',
    title: 'GetContainerEvents streams CREATED, STARTED, STOPPED and DELETED for a container',
    needs: ['GetContainerEvents', 'RunPodSandbox', 'StopPodSandbox', 'RemovePodSandbox', 'PullImage', 'ImageStatus', 'CreateContainer', 'StartContainer', 'StopContainer', 'RemoveContainer'],
    async run(t) {
      let cid = '';
      const evs: Ev[] = await t.stream<Ev>('GetContainerEvents', {}, {
        timeoutMs: 30_000,
        until: (m) => typesFor(m, cid).includes('CONTAINER_DELETED_EVENT'),
        during: async (live) => {
          await waitLive(t, live);
          const pod = await t.runPod(t.podConfig(t.name('cevents')));
          const c = await t.startContainer(pod, t.containerConfig('c'));
          cid = c.id;
          await t.call('StopContainer', { container_id: c.id, timeout: 1 }, 30_000);
          await t.call('RemoveContainer', { container_id: c.id });
        },
      });
      expect.deepEqual(typesFor(evs, cid), ['CONTAINER_CREATED_EVENT', 'CONTAINER_STARTED_EVENT', 'CONTAINER_STOPPED_EVENT', 'CONTAINER_DELETED_EVENT'], 'event types for the container, in order');
    },
  },
];
