// Containers: lifecycle and status fields, exit codes and reasons, stop (signal,
// timeout, idempotence), removal, list filters, duplicate names, image
// Entrypoint/Cmd/Env/WorkingDir merging, and bind mounts.
import { status as Code } from '@grpc/grpc-js';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect, type PodHandle, type Spec, type SpecContext } from '../spec.js';
import { env, joinPartials, logOfExited, parseCriLog, readLogFile } from './util.js';

const BASE = ['RunPodSandbox', 'StopPodSandbox', 'RemovePodSandbox', 'PullImage', 'ImageStatus', 'CreateContainer', 'StartContainer', 'RemoveContainer', 'ContainerStatus'] as const;

async function status(t: SpecContext, id: string) {
  return (await t.call('ContainerStatus', { container_id: id })).status;
}

async function listIds(t: SpecContext, filter: object): Promise<string[]> {
  return ((await t.call('ListContainers', { filter })).containers as Array<{ id: string }>).map((c) => c.id).sort();
}

/** Runs `command` to completion in a new pod and returns its output lines (stdout and stderr). */
async function runToExit(t: SpecContext, pod: PodHandle, name: string, extra: Record<string, unknown>) {
  const c = await t.startContainer(pod, t.containerConfig(name, extra));
  const lines = await logOfExited(t, c);
  return { c, lines: lines.map((l) => l.text), st: await status(t, c.id) };
}

export const containerSpecs: Spec[] = [
  {
    id: 'container/lifecycle',
    area: 'containers',
    title: 'create → CREATED; start → RUNNING; stop → EXITED; remove → NOT_FOUND; status fields along the way',
    needs: [...BASE, 'StopContainer', 'ListContainers'],
    async run(t) {
      const pod = await t.runPod(t.podConfig(t.name('ctr-life')));
      const config = t.containerConfig('life', {
        labels: { 'conformance.berth.io/run': t.env.runId, role: 'life' },
        annotations: { 'example.com/note': 'annotated' },
      });
      const c = await t.createContainer(pod, config);
      let st = await status(t, c.id);
      expect.equal(st.id, c.id, 'status.id');
      expect.equal(st.state, 'CONTAINER_CREATED', 'state after create');
      expect.equal(st.metadata?.name, 'life', 'metadata.name');
      expect.equal(st.labels.role, 'life', 'label role');
      expect.equal(st.annotations['example.com/note'], 'annotated', 'annotation');
      const created = expect.recentNs(st.created_at, 'created_at');
      expect.equal(st.started_at, '0', 'started_at before start');
      expect.equal(st.log_path, join(pod.config.log_directory, 'life/0.log'), 'log_path (log_directory joined with the container log_path)');
      // The image as the user named it: in image.image (containerd), or in
      // image.user_specified_image with the image id in image.image (newer CRI-O; kubelet
      // shows user_specified_image when it is set).
      expect.equal(st.image?.user_specified_image || st.image?.image, t.images.refs.busybox, 'image.user_specified_image, else image.image');
      expect.match(st.image_ref, /sha256:[0-9a-f]{64}/, 'image_ref');

      await t.call('StartContainer', { container_id: c.id });
      st = await status(t, c.id);
      expect.equal(st.state, 'CONTAINER_RUNNING', 'state after start');
      const started = expect.recentNs(st.started_at, 'started_at');
      expect.ok(started >= created, 'started_at ≥ created_at');
      const listed = (await t.call('ListContainers', { filter: { id: c.id } })).containers;
      expect.equal(listed.length, 1, 'ListContainers by id');
      expect.equal(listed[0].pod_sandbox_id, pod.id, 'listed pod_sandbox_id');
      expect.equal(listed[0].state, 'CONTAINER_RUNNING', 'listed state');

      await t.call('StopContainer', { container_id: c.id, timeout: 1 }, 30_000);
      st = await status(t, c.id);
      expect.equal(st.state, 'CONTAINER_EXITED', 'state after stop');
      const finished = expect.recentNs(st.finished_at, 'finished_at');
      expect.ok(finished >= started, 'finished_at ≥ started_at');

      await t.call('RemoveContainer', { container_id: c.id });
      await t.callFails('ContainerStatus', { container_id: c.id }, [Code.NOT_FOUND], 'ContainerStatus after remove');
      expect.deepEqual(await listIds(t, { id: c.id }), [], 'ListContainers by id after remove');
    },
  },
  {
    id: 'container/exit-codes',
    area: 'containers',
    title: 'exit code and reason: 0 → Completed, non-zero → Error',
    needs: BASE,
    async run(t) {
      const pod = await t.runPod(t.podConfig(t.name('exit')));
      const ok = await t.startContainer(pod, t.containerConfig('ok', { command: ['true'] }));
      const bad = await t.startContainer(pod, t.containerConfig('bad', { command: ['sh', '-c', 'exit 7'] }));
      const s0 = await t.waitContainer(ok.id, 'CONTAINER_EXITED');
      const s7 = await t.waitContainer(bad.id, 'CONTAINER_EXITED');
      expect.equal(s0.exit_code, 0, 'exit code of `true`');
      expect.equal(s0.reason, 'Completed', 'reason for exit 0');
      expect.equal(s7.exit_code, 7, 'exit code of `exit 7`');
      expect.equal(s7.reason, 'Error', 'reason for exit 7');
      expect.recentNs(s7.finished_at, 'finished_at');
    },
  },
  {
    id: 'container/stop-sigterm',
    area: 'containers',
    title: 'StopContainer sends SIGTERM: a process that handles it exits with its own code, before the timeout',
    needs: [...BASE, 'StopContainer'],
    async run(t) {
      const pod = await t.runPod(t.podConfig(t.name('sigterm')));
      const c = await t.startContainer(pod, t.containerConfig('term', { command: ['sh', '-c', 'trap "exit 3" TERM; echo ready; while true; do sleep 0.1; done'] }));
      await t.eventually(async () => (await readFile(c.logFile, 'utf8').catch(() => '')).includes('ready'), 'the container printed ready');
      const t0 = Date.now();
      await t.call('StopContainer', { container_id: c.id, timeout: 30 }, 60_000);
      const took = Date.now() - t0;
      const st = await status(t, c.id);
      expect.equal(st.state, 'CONTAINER_EXITED', 'state');
      expect.equal(st.exit_code, 3, 'exit code from the TERM trap');
      expect.ok(took < 15_000, `StopContainer returned after the process exited (${took} ms), not after the timeout`);
    },
  },
  {
    id: 'container/stop-timeout',
    area: 'containers',
    title: 'StopContainer kills a process that ignores SIGTERM once the timeout passes (exit 137)',
    needs: [...BASE, 'StopContainer'],
    async run(t) {
      const pod = await t.runPod(t.podConfig(t.name('stopkill')));
      // PID 1 without a handler ignores SIGTERM.
      const c = await t.startContainer(pod, t.containerConfig('stubborn', { command: ['sleep', '3600'] }));
      const t0 = Date.now();
      await t.call('StopContainer', { container_id: c.id, timeout: 2 }, 60_000);
      const took = Date.now() - t0;
      const st = await status(t, c.id);
      expect.equal(st.state, 'CONTAINER_EXITED', 'state');
      expect.equal(st.exit_code, 137, 'exit code after SIGKILL');
      expect.ok(took >= 1500, `StopContainer waited for the timeout (${took} ms)`);
      expect.ok(took < 20_000, `StopContainer did not wait much longer than the timeout (${took} ms)`);
      // Idempotent on an exited container.
      await t.call('StopContainer', { container_id: c.id, timeout: 2 });
    },
  },
  {
    id: 'container/remove-running',
    area: 'containers',
    title: 'RemoveContainer on a running container removes it; a second RemoveContainer succeeds',
    needs: BASE,
    async run(t) {
      const pod = await t.runPod(t.podConfig(t.name('rmrun')));
      const c = await t.startContainer(pod, t.containerConfig('running'));
      await t.call('RemoveContainer', { container_id: c.id }, 60_000);
      await t.callFails('ContainerStatus', { container_id: c.id }, [Code.NOT_FOUND], 'ContainerStatus after remove');
      await t.call('RemoveContainer', { container_id: c.id });
    },
  },
  {
    id: 'container/stop-pod-stops-containers',
    area: 'containers',
    title: "StopPodSandbox stops the pod's containers; RemovePodSandbox removes them",
    needs: [...BASE, 'ListContainers'],
    async run(t) {
      const pod = await t.runPod(t.podConfig(t.name('podstop')));
      const a = await t.startContainer(pod, t.containerConfig('a'));
      const b = await t.startContainer(pod, t.containerConfig('b'));
      await t.call('StopPodSandbox', { pod_sandbox_id: pod.id }, 60_000);
      for (const c of [a, b]) expect.equal((await status(t, c.id)).state, 'CONTAINER_EXITED', `state of ${c.config.metadata ? (c.config.metadata as { name: string }).name : c.id}`);
      await t.call('RemovePodSandbox', { pod_sandbox_id: pod.id }, 60_000);
      expect.deepEqual(await listIds(t, { pod_sandbox_id: pod.id }), [], 'containers of the removed pod');
      await t.callFails('ContainerStatus', { container_id: a.id }, [Code.NOT_FOUND], 'ContainerStatus of a container of a removed pod');
    },
  },
  {
    id: 'container/remove-pod-with-running-container',
    area: 'containers',
    title: 'RemovePodSandbox without a stop first takes down and removes its running container',
    needs: [...BASE, 'ListContainers'],
    async run(t) {
      const pod = await t.runPod(t.podConfig(t.name('podrm')));
      const c = await t.startContainer(pod, t.containerConfig('running'));
      await t.call('RemovePodSandbox', { pod_sandbox_id: pod.id }, 60_000);
      await t.callFails('ContainerStatus', { container_id: c.id }, [Code.NOT_FOUND], 'ContainerStatus after the pod was removed');
      expect.deepEqual(await listIds(t, { pod_sandbox_id: pod.id }), [], 'containers of the removed pod');
    },
  },
  {
    id: 'container/list-filters',
    area: 'containers',
    title: 'ListContainers filters by id, pod, state and label selector (all must match)',
    needs: [...BASE, 'ListContainers'],
    async run(t) {
      const group = t.name('cgrp');
      const p1 = await t.runPod(t.podConfig(t.name('lc1')));
      const p2 = await t.runPod(t.podConfig(t.name('lc2')));
      const cfg = (name: string, role: string) => t.containerConfig(name, { labels: { group, role } });
      const a = await t.startContainer(p1, cfg('a', 'web'));
      const b = await t.createContainer(p1, cfg('b', 'web'));
      const c = await t.startContainer(p2, cfg('c', 'db'));
      expect.deepEqual(await listIds(t, { id: a.id }), [a.id], 'by id');
      expect.deepEqual(await listIds(t, { pod_sandbox_id: p1.id }), [a.id, b.id].sort(), 'by pod');
      expect.deepEqual(await listIds(t, { label_selector: { group } }), [a.id, b.id, c.id].sort(), 'by label');
      expect.deepEqual(await listIds(t, { label_selector: { group, role: 'web' } }), [a.id, b.id].sort(), 'by two labels');
      expect.deepEqual(await listIds(t, { label_selector: { group }, state: { state: 'CONTAINER_CREATED' } }), [b.id], 'by label and state CREATED');
      expect.deepEqual(await listIds(t, { label_selector: { group }, state: { state: 'CONTAINER_RUNNING' } }), [a.id, c.id].sort(), 'by label and state RUNNING');
      expect.deepEqual(await listIds(t, { pod_sandbox_id: p2.id, label_selector: { role: 'web' } }), [], 'pod and a label that does not match');
    },
  },
  {
    id: 'container/stream-containers',
    area: 'containers',
    title: 'StreamContainers returns the containers ListContainers returns for a filter',
    needs: [...BASE, 'StreamContainers', 'ListContainers'],
    async run(t) {
      const pod = await t.runPod(t.podConfig(t.name('streamc')));
      const a = await t.createContainer(pod, t.containerConfig('a'));
      const b = await t.createContainer(pod, t.containerConfig('b'));
      const msgs = await t.stream('StreamContainers', { filter: { pod_sandbox_id: pod.id } }, { timeoutMs: 10_000 });
      const ids = msgs.flatMap((m: { containers?: Array<{ id: string }> }) => (m.containers ?? []).map((c) => c.id)).sort();
      expect.deepEqual(ids, [a.id, b.id].sort(), 'streamed container ids');
      expect.deepEqual(await listIds(t, { pod_sandbox_id: pod.id }), ids, 'the same as ListContainers');
    },
  },
  {
    id: 'container/duplicate-name',
    area: 'containers',
    title: 'a second container with the same name and attempt in one pod is refused',
    needs: BASE,
    async run(t) {
      const pod = await t.runPod(t.podConfig(t.name('cdup')));
      await t.createContainer(pod, t.containerConfig('same'));
      await t.ensureImage(t.images.refs.busybox);
      await t.callFails('CreateContainer', { pod_sandbox_id: pod.id, config: t.containerConfig('same'), sandbox_config: pod.config }, undefined, 'CreateContainer with a duplicate name');
      await t.createContainer(pod, t.containerConfig('same', { metadata: { name: 'same', attempt: 1 } }));
    },
  },
  {
    id: 'container/start-twice',
    area: 'containers',
    title: 'StartContainer on a running or exited container fails',
    needs: BASE,
    async run(t) {
      const pod = await t.runPod(t.podConfig(t.name('start2')));
      const c = await t.startContainer(pod, t.containerConfig('run'));
      await t.callFails('StartContainer', { container_id: c.id }, undefined, 'StartContainer on a running container');
      const done = await t.startContainer(pod, t.containerConfig('done', { command: ['true'] }));
      await t.waitContainer(done.id, 'CONTAINER_EXITED');
      await t.callFails('StartContainer', { container_id: done.id }, undefined, 'StartContainer on an exited container');
    },
  },
  {
    id: 'container/create-in-stopped-pod',
    area: 'containers',
    title: 'CreateContainer in a stopped pod fails',
    needs: BASE,
    async run(t) {
      const pod = await t.runPod(t.podConfig(t.name('stopped')));
      await t.ensureImage(t.images.refs.busybox);
      await t.call('StopPodSandbox', { pod_sandbox_id: pod.id });
      await t.callFails('CreateContainer', { pod_sandbox_id: pod.id, config: t.containerConfig('late'), sandbox_config: pod.config }, undefined, 'CreateContainer in a NOTREADY pod');
    },
  },
  {
    id: 'container/entrypoint-cmd',
    area: 'containers',
    title: "command and args merge with the image's Entrypoint and Cmd as Kubernetes does",
    needs: BASE,
    async run(t) {
      const pod = await t.runPod(t.podConfig(t.name('entry')));
      const image = { image: t.images.refs.entrypoint };
      const cases: Array<[string, Record<string, unknown>, string]> = [
        ['neither', {}, 'from-entrypoint from-cmd'],
        ['args', { args: ['from-args'] }, 'from-entrypoint from-args'],
        ['command', { command: ['/bin/echo', 'from-command'] }, 'from-command'],
        ['both', { command: ['/bin/echo', 'from-command'], args: ['from-args'] }, 'from-command from-args'],
      ];
      const runs = await Promise.all(cases.map(([name, extra]) => runToExit(t, pod, name, { image, command: [], ...extra })));
      cases.forEach(([name, , want], i) => expect.deepEqual(runs[i]!.lines, [want], `output with ${name}`));
    },
  },
  {
    id: 'container/env-workdir',
    area: 'containers',
    title: "env: the image's, overridden by the config's; working dir: the image's unless the config sets one",
    needs: BASE,
    async run(t) {
      const pod = await t.runPod(t.podConfig(t.name('env')));
      const image = { image: t.images.refs.entrypoint };
      const script = 'echo "IMAGE_ENV=$IMAGE_ENV"; echo "OVERRIDDEN=$OVERRIDDEN"; echo "MINE=$MINE"; echo "PWD=$(pwd)"';
      const a = await runToExit(t, pod, 'image-wd', { image, command: ['sh', '-c', script], envs: [env('OVERRIDDEN', 'config'), env('MINE', 'a b=c')] });
      expect.deepEqual(a.lines, ['IMAGE_ENV=image-value', 'OVERRIDDEN=config', 'MINE=a b=c', 'PWD=/tmp'], 'env and working dir');
      const b = await runToExit(t, pod, 'config-wd', { image, command: ['sh', '-c', 'pwd'], working_dir: '/home' });
      expect.deepEqual(b.lines, ['/home'], 'working_dir from the config');
      const c = await runToExit(t, pod, 'new-wd', { image, command: ['sh', '-c', 'pwd'], working_dir: '/does/not/exist/yet' });
      expect.deepEqual(c.lines, ['/does/not/exist/yet'], 'a working_dir missing from the image is created');
    },
  },
  {
    id: 'container/create-by-image-id',
    area: 'containers',
    title: 'CreateContainer accepts the image id (kubelet passes the image_ref it got from the pull)',
    needs: BASE,
    async run(t) {
      const ref = t.images.refs.busybox;
      await t.ensureImage(ref);
      const img = (await t.call('ImageStatus', { image: { image: ref } })).image;
      expect.ok(img?.id, 'ImageStatus gives an image id');
      const pod = await t.runPod(t.podConfig(t.name('byid')));
      const c = await runToExit(t, pod, 'byid', { image: { image: img.id, user_specified_image: ref }, command: ['echo', 'ran-by-id'] });
      expect.deepEqual(c.lines, ['ran-by-id'], 'output of the container created by image id');
      expect.equal(c.st.exit_code, 0, 'exit code');
    },
  },
  {
    id: 'container/layers-whiteouts',
    area: 'containers',
    title: "the rootfs stacks the image's layers: files of lower layers, whiteouts and opaque directories of upper ones",
    needs: [...BASE, 'ExecSync'],
    async run(t) {
      const ref = t.images.refs.layered;
      const pod = await t.runPod(t.podConfig(t.name('layers')));
      const c = await t.startContainer(pod, t.containerConfig('c', { image: { image: ref } }));
      expect.equal((await t.sh(c.id, 'cat /opt/kept')).trim(), 'kept', 'a file of a lower layer');
      expect.equal((await t.sh(c.id, 'ls -A /opt/dir')).trim(), 'c', 'an opaque directory shows only the upper layer');
      expect.ok((await t.exec(c.id, ['test', '-e', '/etc/removed'])).exitCode !== 0, 'a whited-out file is absent');
      expect.ok((await t.exec(c.id, ['sh', '-c', 'ls -A /etc /opt/dir | grep -q wh'])).exitCode !== 0, 'no whiteout file is visible');
      expect.equal((await t.sh(c.id, 'cat /etc/passwd | head -1')).trim(), 'root:x:0:0:root:/root:/bin/sh', 'the base layer is there');
    },
  },
  {
    id: 'container/tty',
    area: 'containers',
    title: 'a container with tty gets a terminal as stdout, and its output is logged',
    needs: BASE,
    async run(t) {
      const pod = await t.runPod(t.podConfig(t.name('tty')));
      const c = await t.startContainer(pod, t.containerConfig('tty', { tty: true, stdin: true, command: ['sh', '-c', 'test -t 1 && echo stdout-is-a-tty; sleep 3600'] }));
      const text = await t.eventually(async () => {
        const lines = joinPartials(parseCriLog(await readLogFile(c.logFile)));
        return lines.map((l) => l.text.replace(/\r$/, '')).find((l) => l.includes('tty'));
      }, 'the container logs a line');
      expect.equal(text, 'stdout-is-a-tty', 'logged line');
    },
  },
  {
    id: 'container/bind-mounts',
    area: 'containers',
    title: 'bind mounts: a host file is visible, read-write mounts write through, read-only ones refuse writes',
    needs: [...BASE, 'ExecSync'],
    async run(t) {
      const dir = await mkdtemp(join(t.env.workDir, 'mount-'));
      t.defer(() => rm(dir, { recursive: true, force: true }));
      const ro = join(dir, 'ro');
      const rw = join(dir, 'rw');
      const { mkdir } = await import('node:fs/promises');
      await mkdir(ro);
      await mkdir(rw);
      await writeFile(join(ro, 'hello.txt'), 'from-the-host\n');
      const pod = await t.runPod(t.podConfig(t.name('mounts')));
      const c = await t.startContainer(
        pod,
        t.containerConfig('m', {
          mounts: [
            { container_path: '/mnt/ro', host_path: ro, readonly: true },
            { container_path: '/mnt/rw', host_path: rw, readonly: false },
          ],
        }),
      );
      expect.equal((await t.sh(c.id, 'cat /mnt/ro/hello.txt')).trim(), 'from-the-host', 'file read through the read-only mount');
      const w = await t.exec(c.id, ['sh', '-c', 'echo x > /mnt/ro/new.txt']);
      expect.ok(w.exitCode !== 0, 'writing to the read-only mount fails');
      await t.sh(c.id, 'echo from-the-container > /mnt/rw/out.txt');
      expect.equal((await readFile(join(rw, 'out.txt'), 'utf8')).trim(), 'from-the-container', 'file written through the read-write mount');
      const st = await status(t, c.id);
      const mounts = (st.mounts as Array<{ container_path: string; host_path: string; readonly: boolean }>).map((m) => [m.container_path, m.host_path, m.readonly]);
      expect.ok(mounts.some(([cp, hp, r]) => cp === '/mnt/ro' && hp === ro && r === true), `status.mounts has /mnt/ro read-only (${JSON.stringify(mounts)})`);
      expect.ok(mounts.some(([cp, hp, r]) => cp === '/mnt/rw' && hp === rw && r === false), `status.mounts has /mnt/rw read-write (${JSON.stringify(mounts)})`);
    },
  },
];
