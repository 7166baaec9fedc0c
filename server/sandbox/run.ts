// RunPodSandbox: validate → record (NOTREADY) → pin namespaces → in parallel: CNI ADD,
// pod files, /dev/shm, pod cgroup, sysctls → pod init (PID mode POD) → READY.
// Any failure rolls back everything done so far and forgets the record.
import { mkdir } from 'node:fs/promises';
import { run } from '../exec.js';
import { failedPrecondition } from '../errors.js';
import { newId } from '../ids.js';
import { nowNs } from '../time.js';
import { cniAdd, podCniArgs, resultIps } from '../network/cni.js';
import { validateSandboxConfig } from './validate.js';
import { pinNamespaces } from './namespaces.js';
import { writePodFiles } from './pod-files.js';
import { createPodCgroup, type PodCgroup } from './pod-cgroup.js';
import { applySysctls } from './sysctl.js';
import { startPodInit } from './pod-init.js';
import { releasePodResources, removePodResources } from './teardown.js';
import { sandboxPaths, type SandboxDeps } from './deps.js';
import { sandboxEvent } from './status.js';
import type { SandboxRecord } from './types.js';
import type { NetworkConfList } from '../network/conflist.js';
import type { RunPodSandboxRequest__Output } from '../../wire/cri/generated/runtime/v1/RunPodSandboxRequest.js';
import type { RunPodSandboxResponse } from '../../wire/cri/generated/runtime/v1/RunPodSandboxResponse.js';
import type { CallContext } from '../cri/rpc.js';
import type { PortMapping__Output } from '../../wire/cri/generated/runtime/v1/PortMapping.js';
import { killPoint } from '../kill-points.js';

/** The CNI portMappings capability: only mappings that publish a host port. */
export function cniPortMappings(pms: readonly PortMapping__Output[]): Array<Record<string, unknown>> {
  return pms
    .filter((p) => p.host_port > 0)
    .map((p) => ({
      hostPort: p.host_port,
      containerPort: p.container_port,
      protocol: p.protocol.toLowerCase(),
      ...(p.host_ip ? { hostIP: p.host_ip } : {}),
    }));
}

/**
 * kubelet gives every attempt of a pod the same cgroup_parent. Sandboxes on one pod cgroup
 * share ownership of it, as a pod's containers do theirs: each records what any of them
 * created, and only the last one removed takes it away (teardown.ts).
 */
function withSiblingCgroups(deps: SandboxDeps, id: string, pc: PodCgroup): PodCgroup {
  const created = new Set(pc.created);
  let sliceStarted = pc.sliceStarted ?? false;
  for (const o of deps.store.list()) {
    const sib = o.runtime.cgroup;
    if (o.id === id || sib?.path !== pc.path) continue;
    for (const c of sib.created) created.add(c);
    sliceStarted ||= sib.sliceStarted ?? false;
  }
  return { ...pc, created: [...created].sort((a, b) => a.split('/').length - b.split('/').length), ...(sliceStarted ? { sliceStarted } : {}) };
}

/** Waits for every step, then throws the first failure: rollback must not race a step still running. */
async function settleAll(steps: Array<Promise<unknown>>): Promise<void> {
  const results = await Promise.allSettled(steps);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

export async function runPodSandbox(deps: SandboxDeps, req: RunPodSandboxRequest__Output, ctx: CallContext): Promise<RunPodSandboxResponse> {
  const { config } = deps;
  const plan = validateSandboxConfig(req.config, req.runtime_handler, {
    handlers: Object.keys(config.runtimes),
    defaultHandler: config.default_runtime,
    podLogRoots: config.pod_log_roots,
    cgroupParent: (p) => deps.cgroups.parsePodParent(p),
  });
  const podNetwork = plan.networkMode === 'POD';
  const net = podNetwork ? await deps.network.lookup() : undefined;
  if (net && !net.ok) throw failedPrecondition(`the pod network is not ready (${net.reason}): ${net.message}`);

  const id = newId();
  const paths = sandboxPaths(config, id);
  const rec: SandboxRecord = {
    id,
    name: plan.name,
    namespace: plan.namespace,
    uid: plan.uid,
    attempt: plan.attempt,
    state: 'SANDBOX_NOTREADY',
    createdAt: nowNs().toString(),
    handler: plan.handler,
    config: req.config!,
    runtime: {
      filesDir: paths.filesDir,
      hostnamePath: '',
      hostsPath: '',
      resolvConfPath: '',
      namespaces: { dir: paths.nsDir },
      networkMode: plan.networkMode,
      ipcMode: plan.ipcMode,
      pidMode: plan.pidMode,
      ips: [],
    },
  };
  // Recorded first (NOTREADY): a crash from here on leaves a record that stop/remove can clean.
  deps.store.add(rec);
  killPoint('sandbox.recorded');
  ctx.log.info('creating pod sandbox', { sandbox_id: id, pod: `${plan.namespace}/${plan.name}`, attempt: plan.attempt });

  return deps.locks.run(id, async () => {
    const rt = rec.runtime;
    try {
      if (plan.logDirectory) await mkdir(plan.logDirectory, { recursive: true, mode: 0o755 });
      killPoint('sandbox.logdir.made');
      rt.namespaces = await pinNamespaces({
        dir: paths.nsDir,
        net: podNetwork,
        ipc: plan.ipcMode === 'POD',
        uts: podNetwork,
        hostname: plan.hostname,
      });
      killPoint('sandbox.namespaces.pinned');
      if (net?.ok) {
        const pcidr = deps.network.podCidr();
        rt.cni = {
          conflist: net.conflist,
          ifname: config.cni.ifname,
          netns: rt.namespaces.net!,
          args: podCniArgs({ name: plan.name, namespace: plan.namespace, uid: plan.uid, sandboxId: id }),
          runtimeConfig: {
            portMappings: cniPortMappings(req.config!.port_mappings),
            ...(pcidr ? { ipRanges: pcidr.split(',').map((subnet) => [{ subnet: subnet.trim() }]) } : {}),
          },
          deleted: false,
        };
      }
      if (plan.ipcMode === 'POD') rt.shmPath = paths.shmPath;
      // The record now names everything the steps below may create.
      deps.store.update(rec);
      killPoint('sandbox.resources.recorded');

      const steps: Array<Promise<unknown>> = [];
      const cni = rt.cni;
      if (cni) {
        steps.push(
          cniAdd({
            conflist: cni.conflist as NetworkConfList,
            containerId: id,
            netns: cni.netns,
            ifname: cni.ifname,
            args: cni.args,
            runtimeConfig: cni.runtimeConfig,
            binDirs: config.cni.bin_dirs,
          }).then((result) => {
            cni.result = result;
            rt.ips = resultIps(result);
            killPoint('sandbox.cni.added');
          }),
        );
      }
      steps.push(
        writePodFiles({ dir: paths.filesDir, hostname: plan.hostname, hostNetwork: !podNetwork, dns: req.config!.dns_config }).then((f) => {
          rt.hostnamePath = f.hostnamePath;
          rt.hostsPath = f.hostsPath;
          rt.resolvConfPath = f.resolvConfPath;
          killPoint('sandbox.files.written');
        }),
      );
      if (rt.shmPath) {
        const shm = rt.shmPath;
        steps.push(
          mkdir(shm, { recursive: true, mode: 0o755 }).then(() =>
            run('mount', ['-t', 'tmpfs', '-o', 'mode=1777,size=65536k,nosuid,nodev,noexec', 'shm', shm]).then(() => killPoint('sandbox.shm.mounted')),
          ),
        );
      }
      if (plan.cgroupParent) {
        steps.push(
          // Recorded before anything is made: a crash in between leaves nothing unnamed.
          createPodCgroup(plan.cgroupParent, deps.cgroups, (planned) => {
            rt.cgroup = withSiblingCgroups(deps, id, planned);
            deps.store.update(rec);
          }).then((cg) => {
            rt.cgroup = withSiblingCgroups(deps, id, cg);
            killPoint('sandbox.cgroup.created');
          }),
        );
      }
      if (plan.sysctls.length) steps.push(applySysctls(rt.namespaces, plan.sysctls));
      await settleAll(steps);
      killPoint('sandbox.steps.done');
      if (plan.pidMode === 'POD') {
        rt.init = await startPodInit(rt.namespaces, id);
        killPoint('sandbox.init.started');
      }

      rec.state = 'SANDBOX_READY';
      deps.store.update(rec);
      killPoint('sandbox.ready.recorded');
    } catch (e) {
      ctx.log.warn('pod sandbox creation failed; rolling back', { sandbox_id: id, error: (e as Error).message });
      try {
        await releasePodResources(deps, rec, () => undefined);
        await removePodResources(deps, rec);
        deps.store.delete(id);
      } catch (cleanupErr) {
        // Keep the NOTREADY record: kubelet's stop/remove (or the operator's) retries the cleanup.
        deps.store.update(rec);
        ctx.log.error('rollback of a failed pod sandbox was incomplete; the record stays for stop/remove', {
          sandbox_id: id,
          error: (cleanupErr as Error).message,
        });
      }
      throw e;
    }
    ctx.log.info('pod sandbox ready', { sandbox_id: id, ips: rec.runtime.ips });
    deps.events.publish(sandboxEvent(deps, rec, 'CONTAINER_CREATED_EVENT'));
    deps.events.publish(sandboxEvent(deps, rec, 'CONTAINER_STARTED_EVENT'));
    return { pod_sandbox_id: id };
  });
}
