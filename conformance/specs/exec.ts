// ExecSync: output, exit codes, environment, user, timeouts, big outputs and errors.
import { status as Code } from '@grpc/grpc-js';
import { expect, type Spec } from '../spec.js';
import { env } from './util.js';

const BASE = ['RunPodSandbox', 'StopPodSandbox', 'RemovePodSandbox', 'PullImage', 'ImageStatus', 'CreateContainer', 'StartContainer', 'RemoveContainer', 'ContainerStatus', 'ExecSync'] as const;

export const execSpecs: Spec[] = [
  {
    id: 'exec/sync-output',
    area: 'exec',
    title: 'ExecSync returns stdout, stderr and the exit code',
    needs: BASE,
    async run(t) {
      const pod = await t.runPod(t.podConfig(t.name('exec')));
      const c = await t.startContainer(pod, t.containerConfig('main'));
      const r = await t.exec(c.id, ['sh', '-c', 'echo to-stdout; echo to-stderr >&2; exit 3']);
      expect.equal(r.stdout, 'to-stdout\n', 'stdout');
      expect.equal(r.stderr, 'to-stderr\n', 'stderr');
      expect.equal(r.exitCode, 3, 'exit code');
      const ok = await t.exec(c.id, ['true']);
      expect.equal(ok.exitCode, 0, 'exit code of true');
    },
  },
  {
    id: 'exec/sync-env-user',
    area: 'exec',
    title: "ExecSync runs with the container's environment, user and working dir",
    needs: BASE,
    async run(t) {
      const pod = await t.runPod(t.podConfig(t.name('execenv')));
      const c = await t.startContainer(
        pod,
        t.containerConfig('main', { envs: [env('FROM_CONFIG', 'yes')], working_dir: '/tmp', linux: { security_context: { run_as_user: { value: 1001 } } } }),
      );
      expect.equal((await t.sh(c.id, 'echo "$FROM_CONFIG"; id -u; pwd')).trim(), 'yes\n1001\n/tmp', 'env, uid, working dir');
    },
  },
  {
    id: 'exec/sync-large-output',
    area: 'exec',
    title: 'ExecSync returns 256 KiB of output intact',
    needs: BASE,
    async run(t) {
      const pod = await t.runPod(t.podConfig(t.name('execbig')));
      const c = await t.startContainer(pod, t.containerConfig('main'));
      const r = await t.exec(c.id, ['sh', '-c', 'head -c 262144 /dev/zero | tr "\\0" y']);
      expect.equal(r.stdout.length, 262144, 'stdout length');
      expect.ok(/^y+$/.test(r.stdout), 'stdout content');
    },
  },
  {
    id: 'exec/sync-timeout',
    area: 'exec',
    title: 'ExecSync with a timeout returns DEADLINE_EXCEEDED (what kubelet treats as a probe timeout) in time',
    needs: BASE,
    async run(t) {
      const pod = await t.runPod(t.podConfig(t.name('exectimeout')));
      const c = await t.startContainer(pod, t.containerConfig('main'));
      const t0 = Date.now();
      const err = await t.callFails('ExecSync', { container_id: c.id, cmd: ['sleep', '30'], timeout: 1 }, [Code.DEADLINE_EXCEEDED], 'ExecSync of sleep 30 with timeout 1');
      const took = Date.now() - t0;
      t.note(`timed-out ExecSync: ${err.details}`);
      expect.ok(took < 15_000, `ExecSync returned ${took} ms after a 1 s timeout`);
      // The container is still usable.
      expect.equal((await t.exec(c.id, ['echo', 'alive'])).stdout, 'alive\n', 'exec after the timeout');
    },
  },
  {
    id: 'exec/sync-not-running',
    area: 'exec',
    title: 'ExecSync in an exited container fails; in an unknown one, NOT_FOUND',
    needs: BASE,
    async run(t) {
      const pod = await t.runPod(t.podConfig(t.name('execdead')));
      const c = await t.startContainer(pod, t.containerConfig('done', { command: ['true'] }));
      await t.waitContainer(c.id, 'CONTAINER_EXITED');
      await t.callFails('ExecSync', { container_id: c.id, cmd: ['true'], timeout: 5 }, undefined, 'ExecSync in an exited container');
      await t.callFails('ExecSync', { container_id: 'conformance-unknown-container', cmd: ['true'], timeout: 5 }, [Code.NOT_FOUND], 'ExecSync in an unknown container');
    },
  },
  {
    id: 'exec/sync-missing-binary',
    area: 'exec',
    title: 'ExecSync of a command that does not exist reports a failure (error or non-zero exit)',
    needs: BASE,
    async run(t) {
      const pod = await t.runPod(t.podConfig(t.name('execmissing')));
      const c = await t.startContainer(pod, t.containerConfig('main'));
      try {
        const r = await t.exec(c.id, ['/no/such/binary']);
        expect.ok(r.exitCode !== 0, `non-zero exit code (got ${r.exitCode})`);
      } catch (e) {
        if (typeof (e as { code?: number }).code !== 'number') throw e;
      }
    },
  },
];
