// Error contracts: NOT_FOUND for unknown ids, errors (and no leftovers) for bad
// requests, success for idempotent removals of things that are gone.
import { status as Code } from '@grpc/grpc-js';
import { expect, type Spec } from '../spec.js';

const UNKNOWN = 'conformance0unknown0id0000000000000000000000000000000000000000000';

export const errorSpecs: Spec[] = [
  {
    id: 'errors/unknown-pod',
    area: 'error contracts',
    title: 'PodSandboxStatus of an unknown pod: NOT_FOUND; RemovePodSandbox of one: success',
    needs: ['PodSandboxStatus', 'RemovePodSandbox'],
    async run(t) {
      await t.callFails('PodSandboxStatus', { pod_sandbox_id: UNKNOWN }, [Code.NOT_FOUND], 'PodSandboxStatus');
      await t.call('RemovePodSandbox', { pod_sandbox_id: UNKNOWN });
    },
  },
  {
    id: 'errors/unknown-container',
    area: 'error contracts',
    title: 'ContainerStatus, StartContainer, ExecSync of an unknown container: NOT_FOUND; RemoveContainer: success',
    needs: ['ContainerStatus', 'StartContainer', 'ExecSync', 'RemoveContainer'],
    async run(t) {
      await t.callFails('ContainerStatus', { container_id: UNKNOWN }, [Code.NOT_FOUND], 'ContainerStatus');
      await t.callFails('StartContainer', { container_id: UNKNOWN }, [Code.NOT_FOUND], 'StartContainer');
      await t.callFails('ExecSync', { container_id: UNKNOWN, cmd: ['true'], timeout: 5 }, [Code.NOT_FOUND], 'ExecSync');
      await t.call('RemoveContainer', { container_id: UNKNOWN });
    },
  },
  {
    id: 'errors/create-in-unknown-pod',
    area: 'error contracts',
    title: 'CreateContainer in an unknown pod: NOT_FOUND',
    needs: ['CreateContainer', 'PullImage', 'ImageStatus'],
    async run(t) {
      await t.ensureImage(t.images.refs.busybox);
      const sandbox = t.podConfig(t.name('ghost'));
      await t.callFails('CreateContainer', { pod_sandbox_id: UNKNOWN, config: t.containerConfig('c'), sandbox_config: sandbox }, [Code.NOT_FOUND], 'CreateContainer');
    },
  },
  {
    id: 'errors/create-missing-image',
    area: 'error contracts',
    title: 'CreateContainer with an image that is not present fails and leaves no container',
    needs: ['RunPodSandbox', 'StopPodSandbox', 'RemovePodSandbox', 'CreateContainer', 'ListContainers'],
    async run(t) {
      const pod = await t.runPod(t.podConfig(t.name('noimage')));
      const config = t.containerConfig('c', { image: { image: `${t.images.registry}/conformance/never-pushed:1.0` } });
      await t.callFails('CreateContainer', { pod_sandbox_id: pod.id, config, sandbox_config: pod.config }, undefined, 'CreateContainer');
      const left = (await t.call('ListContainers', { filter: { pod_sandbox_id: pod.id } })).containers;
      expect.equal(left.length, 0, 'containers in the pod after the failed create');
    },
  },
  {
    id: 'errors/run-pod-without-metadata',
    area: 'error contracts',
    title: 'RunPodSandbox without config or without metadata fails',
    needs: ['RunPodSandbox'],
    async run(t) {
      // A pod created by mistake is removed after the spec (every RunPodSandbox is tracked).
      await t.callFails('RunPodSandbox', {}, undefined, 'RunPodSandbox without config');
      await t.callFails('RunPodSandbox', { config: { hostname: 'x' } }, undefined, 'RunPodSandbox without metadata');
    },
  },
  {
    id: 'errors/remove-absent-image',
    area: 'error contracts',
    title: 'RemoveImage of an image that is not present succeeds',
    needs: ['RemoveImage'],
    async run(t) {
      await t.call('RemoveImage', { image: { image: `${t.images.registry}/conformance/never-pushed:1.0` } });
    },
  },
];
