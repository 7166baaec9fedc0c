// Undoing what RunPodSandbox built, step by step and idempotently: each step checks
// what is still there, so stop, remove and a failed run's rollback share this code and
// can be repeated after a crash or a berthd restart.
import { rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { cniDel } from '../network/cni.js';
import { mountPoints, unmountAll } from '../mounts.js';
import { releaseNamespaces } from './namespaces.js';
import { killUnrecordedPodInit, stopPodInit } from './pod-init.js';
import { removePodCgroup } from './pod-cgroup.js';
import type { SandboxDeps } from './deps.js';
import type { SandboxRecord } from './types.js';
import type { NetworkConfList } from '../network/conflist.js';
import type { Logger } from '../logger.js';
import { killPoint } from '../kill-points.js';

/** Collects every failure of a multi-step teardown and throws the first after trying all steps. */
async function allSteps(log: Logger, steps: Array<[string, () => Promise<void>]>): Promise<void> {
  let first: unknown;
  for (const [name, step] of steps) {
    try {
      await step();
    } catch (e) {
      log.warn('teardown step failed', { step: name, error: (e as Error).message });
      first ??= e;
    }
  }
  if (first) throw first;
}

/** Releases what a running pod holds: init, network (CNI DEL), pinned namespaces, /dev/shm. */
export async function releasePodResources(deps: SandboxDeps, rec: SandboxRecord, onChange: () => void): Promise<void> {
  const rt = rec.runtime;
  await allSteps(deps.log, [
    [
      'init',
      async () => {
        if (rt.init) await stopPodInit(rt.init);
        else if (rt.pidMode === 'POD') await killUnrecordedPodInit(rec.id);
        killPoint('teardown.init.stopped');
      },
    ],
    [
      'cni',
      async () => {
        const cni = rt.cni;
        if (!cni || cni.deleted) return;
        // After a reboot the pinned file is no longer a namespace: DEL then only releases IPAM.
        const mounted = (await mountPoints()).includes(cni.netns);
        await cniDel(
          {
            conflist: cni.conflist as NetworkConfList,
            containerId: rec.id,
            netns: mounted ? cni.netns : '',
            ifname: cni.ifname,
            args: cni.args,
            runtimeConfig: cni.runtimeConfig,
            binDirs: deps.config.cni.bin_dirs,
          },
          cni.result,
        );
        killPoint('teardown.cni.deleted');
        cni.deleted = true;
        rt.ips = [];
        onChange();
        killPoint('teardown.cni.recorded');
      },
    ],
    ['namespaces', () => releaseNamespaces(rt.namespaces).then(() => killPoint('teardown.namespaces.released'))],
    [
      'shm',
      async () => {
        if (rt.shmPath) await unmountAll([rt.shmPath]);
        killPoint('teardown.shm.unmounted');
      },
    ],
  ]);
}

/** Removes what is left after release: the pod cgroup and the pod's directories. */
export async function removePodResources(deps: SandboxDeps, rec: SandboxRecord): Promise<void> {
  const rt = rec.runtime;
  await allSteps(deps.log, [
    [
      'cgroup',
      async () => {
        const pc = rt.cgroup;
        // Another sandbox of the same pod (a later attempt) still uses it: the last one removes it.
        const shared = pc && deps.store.list().some((o) => o.id !== rec.id && o.runtime.cgroup?.path === pc.path);
        if (pc && !shared) await removePodCgroup(pc, deps.cgroups);
        killPoint('teardown.cgroup.removed');
      },
    ],
    ['files', () => rm(rt.filesDir, { recursive: true, force: true }).then(() => killPoint('teardown.files.removed'))],
    [
      'shm dir',
      async () => {
        if (rt.shmPath) await rm(dirname(rt.shmPath), { recursive: true, force: true });
      },
    ],
  ]);
}
