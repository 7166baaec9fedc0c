// CreateContainer: validate → record (hidden while creating) → lease the image's layers →
// read the image's users → OCI spec (pure, server/oci/spec.ts) → berth-shim mounts the
// overlay rootfs, writes the bundle and starts conmon, which runs `runtime create` →
// CONTAINER_CREATED. Any failure rolls back everything and forgets the record.
import { mkdir, readFile } from 'node:fs/promises';
import { arch, hostname } from 'node:os';
import { basename, dirname, isAbsolute, join, resolve as resolvePath } from 'node:path';
import { BerthError, failedPrecondition, internal, invalidArgument } from '../errors.js';
import { newId } from '../ids.js';
import { shown } from '../validate/text.js';
import { nowNs } from '../time.js';
import { buildContainerSpec } from '../oci/spec.js';
import { readHostLookups } from '../oci/host.js';
import { seccompChoice } from '../oci/seccomp.js';
import { apparmorChoice } from '../oci/apparmor.js';
import { stopSignal } from '../oci/process.js';
import type { OciImageConfig } from '../oci/types.js';
import type { ShimJob } from '../../shim/job.js';
import { conmonArgs, readConmonPid, settleOrphanedCreate } from '../runtime/conmon.js';
import { containerFiles } from '../runtime/files.js';
import { ShimDiedError } from '../runtime/shim-pool.js';
import { readLayeredUserFiles } from './user-files.js';
import { cleanupContainer } from './remove.js';
import { containerEvent } from './status.js';
import { containerPaths, type ContainerDeps } from './deps.js';
import type { ContainerRecord } from './types.js';
import type { CreateContainerRequest__Output } from '../../wire/cri/generated/runtime/v1/CreateContainerRequest.js';
import type { CreateContainerResponse } from '../../wire/cri/generated/runtime/v1/CreateContainerResponse.js';
import type { CallContext } from '../cri/rpc.js';
import { killPoint, shimKillPoint } from '../kill-points.js';

/** The container's log file: inside the pod's log directory, never outside it (pure). */
export function containerLogPath(logDirectory: string, logPath: string): string {
  if (!logDirectory || !logPath) return '';
  if (isAbsolute(logPath)) throw invalidArgument(`log_path ${shown(logPath)} must be relative to the pod's log_directory`);
  const dir = resolvePath(logDirectory);
  const full = resolvePath(dir, logPath);
  if (!full.startsWith(`${dir}/`)) throw invalidArgument(`log_path ${shown(logPath)} escapes the pod's log_directory`);
  return full;
}

export async function createContainer(deps: ContainerDeps, req: CreateContainerRequest__Output, ctx: CallContext): Promise<CreateContainerResponse> {
  const config = req.config;
  if (!req.pod_sandbox_id) throw invalidArgument('pod_sandbox_id must not be empty');
  if (!config) throw invalidArgument('container config is required');
  if (!config.metadata?.name) throw invalidArgument('container config has no metadata name');
  const imageRef = config.image?.image ?? '';
  if (!imageRef) throw invalidArgument('container config names no image');

  const sandboxId = deps.sandboxes.store.resolve(req.pod_sandbox_id);
  const sb = deps.sandboxes.store.get(sandboxId)!;
  if (sb.state !== 'SANDBOX_READY') throw failedPrecondition(`pod sandbox ${sandboxId} is not ready`);
  const runtime = deps.runtime.handler(sb.handler);
  const handler = runtime.handle;
  const problem = await deps.runtime.problem(handler.path);
  if (problem) throw failedPrecondition(`runtime handler ${handler.name} cannot run containers on this host: ${problem}`);
  const image = deps.images.resolve(imageRef);
  const logPath = containerLogPath(sb.config.log_directory, config.log_path);

  const id = newId();
  const paths = containerPaths(deps.config, id);
  const facts = deps.host;
  // The cgroup manager places the container (under the pod's cgroup or slice, or berth's default).
  const cgroups = deps.sandboxes.cgroups;
  const placement = await cgroups.containerCgroup(sb.runtime.cgroup, id);
  const cgroupsPath = placement.cgroupsPath;
  const imageConfig = (image.config.config ?? {}) as OciImageConfig;
  const rec: ContainerRecord = {
    id,
    sandboxId,
    name: config.metadata.name,
    attempt: config.metadata.attempt,
    state: 'CONTAINER_CREATED',
    creating: true,
    createdAt: nowNs().toString(),
    startedAt: '0',
    finishedAt: '0',
    exitCode: 0,
    reason: '',
    message: '',
    handler: handler.name,
    runtimePath: handler.path,
    runtimeRoot: handler.root,
    image: { ref: imageRef, id: image.id, imageRef: image.repoDigests[0] ?? image.id },
    config,
    logPath,
    monitorLogPath: logPath || join(paths.bundle, 'console.log'),
    paths,
    cgroupsPath,
    // Containers under the same parent share the ownership of what berth created of it (the
    // pod's siblings, and every pod without a cgroup of its own under berth's default parent):
    // the last of them removes it, whichever created it.
    cgroupCreated: [
      ...new Set([
        ...deps.store.all().flatMap((c) => (c.cgroupCreated ?? []).filter((dir) => placement.parents.includes(dir))),
        ...placement.created,
      ]),
    ].sort((a, b) => a.split('/').length - b.split('/').length),
    pid: 0,
    conmonPid: 0,
    resources: config.linux?.resources ?? null,
    stopSignal: stopSignal(config.stop_signal, imageConfig),
  };
  // Recorded first (hidden while creating): a crash from here on leaves a record recovery cleans.
  deps.store.add(rec);
  killPoint('container.recorded');
  ctx.log.info('creating container', { container_id: id, sandbox_id: sandboxId, name: rec.name, image: imageRef });

  return deps.locks.run(id, async () => {
    const t0 = performance.now();
    let prepareMs = 0;
    let shimMs = 0;
    let shimTimings: Record<string, number> | undefined;
    try {
      const leased = deps.images.leaseLayers(id, image.id);
      killPoint('container.lease.taken');
      const layersTopFirst = leased.layers.map((l) => l.path).reverse();
      const sc = config.linux?.security_context ?? null;
      const choice = seccompChoice(sc ? { seccomp: sc.seccomp, seccomp_profile_path: sc.seccomp_profile_path, privileged: sc.privileged } : null);
      const armor = apparmorChoice(sc ? { apparmor: sc.apparmor, apparmor_profile: sc.apparmor_profile, privileged: sc.privileged } : null, deps.apparmor.host.enabled);
      const needsPropagation = config.mounts.some((m) => m.propagation !== 'PROPAGATION_PRIVATE');
      const ns = sb.runtime.namespaces;
      const targetId = (sc?.namespace_options ?? sb.config.linux?.security_context?.namespace_options)?.target_id;
      let targetPid: string | undefined;
      if (targetId) {
        const target = deps.store.peek(deps.store.resolve(targetId));
        if (target?.pid) targetPid = `/proc/${target.pid}/ns/pid`;
      }
      const privileged = sc?.privileged ?? false;
      const podFiles = {
        ...(sb.runtime.hostsPath ? { hostsPath: sb.runtime.hostsPath } : {}),
        ...(sb.runtime.resolvConfPath ? { resolvConfPath: sb.runtime.resolvConfPath } : {}),
        ...(sb.runtime.hostnamePath ? { hostnamePath: sb.runtime.hostnamePath } : {}),
        ...(sb.runtime.shmPath ? { shmPath: sb.runtime.shmPath } : {}),
      };
      // Everything the pure spec generation will take from the image and the host, read side
      // by side beforehand; failures are reported in this order, whichever came first.
      const [usersRead, seccompRead, lookupsRead, apparmorRead] = await Promise.allSettled([
        readLayeredUserFiles(layersTopFirst),
        choice.kind === 'localhost'
          ? readFile(choice.path, 'utf8').catch((e: unknown) => {
              throw invalidArgument(`cannot read seccomp profile ${choice.path}: ${(e as Error).message}`, e);
            })
          : Promise.resolve(undefined),
        readHostLookups({
          hostPaths: [...config.mounts.map((m) => m.host_path), ...Object.values(podFiles), '/dev/shm'],
          devicePaths: config.devices.map((d) => d.host_path),
          propagation: needsPropagation,
          privileged,
        }),
        deps.apparmor.prepare(armor),
      ]);
      if (usersRead.status === 'rejected') throw usersRead.reason;
      if (seccompRead.status === 'rejected') throw seccompRead.reason;
      if (lookupsRead.status === 'rejected') throw lookupsRead.reason;
      if (apparmorRead.status === 'rejected') throw apparmorRead.reason;
      const apparmorProfile = apparmorRead.value;
      const users = usersRead.value;
      const localhostSeccompProfile = seccompRead.value;
      const lookups = lookupsRead.value;
      const spec = buildContainerSpec({
        containerId: id,
        sandboxId,
        imageName: imageRef,
        config,
        sandboxConfig: sb.config,
        image: imageConfig,
        host: {
          rootfsPath: paths.rootfs,
          cgroupsPath,
          cgroupVersion: cgroups.version,
          namespaces: {
            ...(ns.net ? { network: ns.net } : {}),
            ...(ns.ipc ? { ipc: ns.ipc } : {}),
            ...(ns.uts ? { uts: ns.uts } : {}),
            ...(sb.runtime.init ? { podPid: sb.runtime.init.pidns } : {}),
            ...(targetPid ? { targetPid } : {}),
          },
          podFiles,
          passwd: users.passwd,
          group: users.group,
          minOomScoreAdj: facts.minOomScoreAdj,
          hostCapabilities: facts.capabilities,
          ...lookups,
          ...(localhostSeccompProfile !== undefined ? { localhostSeccompProfile } : {}),
          ...(apparmorProfile !== undefined ? { apparmorProfile } : {}),
          arch: arch(),
          ...(facts.kernel ? { kernel: facts.kernel } : {}),
          nodeHostname: hostname(),
        },
      });
      rec.user = spec.process.user;
      deps.store.update(rec);
      killPoint('container.spec.recorded');
      if (logPath) await mkdir(dirname(logPath), { recursive: true, mode: 0o755 });
      const layersDir = dirname(layersTopFirst[0] ?? '/');
      const files = containerFiles(rec);
      const job: ShimJob = {
        id,
        rootfs: {
          layersDir,
          lower: layersTopFirst.map((p) => (dirname(p) === layersDir ? basename(p) : p)),
          upper: paths.upper,
          work: paths.work,
          target: paths.rootfs,
        },
        bundle: paths.bundle,
        spec,
        dirs: [files.exitDir, files.socketDir],
        conmon: {
          path: deps.runtime.conmon,
          args: conmonArgs({
            id,
            name: `${sb.name}_${sb.namespace}_${rec.name}_${rec.attempt}`,
            runtime: handler,
            files,
            logPath: rec.monitorLogPath,
            stdin: config.stdin,
            stdinOnce: config.stdin_once,
            tty: config.tty,
            ...(cgroups.runtimeSystemd ? { systemdCgroup: true } : {}),
          }),
          pidFile: files.conmonPidFile,
        },
      };
      const shimKill = shimKillPoint();
      if (shimKill) job.killPoint = shimKill as NonNullable<ShimJob['killPoint']>;
      prepareMs = performance.now() - t0;
      const running = deps.shims.run(job);
      killPoint('container.shim.job-sent');
      const started = await running;
      killPoint('container.shim.answered');
      shimMs = performance.now() - t0 - prepareMs;
      if (!started.ok) throw runtime.createFailure(id, started);
      shimTimings = started.timings;
      rec.pid = started.pid;
      rec.conmonPid = started.conmonPid;
      killPoint('container.conmon.started');
      // systemd driver: conmon into a scope of its own, out of berthd's unit (cgroupfs: nothing
      // to do). The container runs either way; if the move fails, say what a restart of
      // berthd's unit may then take along, as CRI-O does.
      await cgroups.placeMonitor(started.conmonPid, id, sb.runtime.cgroup).catch((e: unknown) =>
        ctx.log.warn('conmon stays in berthd\'s cgroup: a restart of berthd\'s unit may stop it', { container_id: id, conmon_pid: started.conmonPid, error: (e as Error).message }),
      );
      killPoint('container.monitor.placed');
      rec.creating = false;
      deps.store.update(rec);
      killPoint('container.created.recorded');
    } catch (e) {
      ctx.log.warn('container creation failed; rolling back', { container_id: id, error: (e as Error).message });
      try {
        // A shim that died may have left conmon mid-create: let that finish before deleting.
        // A failed job's conmon is over; its pid (if it ran) lets the rollback reap it.
        const files = containerFiles(rec);
        rec.conmonPid = e instanceof ShimDiedError ? await settleOrphanedCreate(files, id) : await readConmonPid(files);
        await cleanupContainer(deps, rec);
        deps.store.delete(id);
      } catch (cleanupErr) {
        ctx.log.error('rollback of a failed container was incomplete; the record stays for RemoveContainer', { container_id: id, error: (cleanupErr as Error).message });
      }
      throw e instanceof BerthError ? e : internal(`creating container ${id} failed: ${(e as Error).message}`, e);
    }
    ctx.log.info('container created', { container_id: id, pid: rec.pid, prepare_ms: Math.round(prepareMs), shim_ms: Math.round(shimMs), shim: shimTimings });
    deps.events.publish(containerEvent(deps, rec, 'CONTAINER_CREATED_EVENT'));
    return { container_id: id };
  });
}
