// The leak auditor inside berthd (behind the admin socket's /v1/leaks): records come from
// berthd's own stores (a container whose lock is held is being created: live), and every
// repair of something made for a pod or container runs under that id's lock after checking
// that berthd still has no record of it, so a repair never races a create or a remove.
// Record repairs go through the stores, image content through berthd's garbage collector
// (which skips what a running pull holds), cgroup bookkeeping through the cgroup manager.
import { join } from 'node:path';
import type { BerthConfig } from '../config.js';
import type { SandboxDeps } from '../sandbox/deps.js';
import type { ContainerDeps } from '../container/deps.js';
import type { ImageManager } from '../image/index.js';
import type { SettingsStore } from '../store/settings.js';
import { runtimeHandle } from '../runtime/handlers.js';
import { conmonAlive, readExitFile } from '../runtime/conmon.js';
import { containerEvent } from '../container/status.js';
import { recordUnknownExit } from '../container/exits.js';
import { KeyedMutex } from '../keyed-mutex.js';
import { auditLeaks, podCgroupPath, sortFindings } from './leaks.js';
import { repairFindings, repairUntilClean, type RecordRepairs } from './repair.js';
import type { AuditRecords, AuditReport, AuditScope, Finding, RepairReport } from './types.js';

export interface DaemonAuditDeps {
  config: BerthConfig;
  sandboxes: SandboxDeps;
  containers: ContainerDeps;
  images: ImageManager;
  settings: SettingsStore;
}

export interface LeakAuditor {
  audit(): Promise<AuditReport>;
  repair(): Promise<RepairReport>;
}

const list = (settings: SettingsStore, key: string): string[] => {
  try {
    return JSON.parse(settings.get(key) ?? '[]') as string[];
  } catch {
    return [];
  }
};

/** Findings about a pod (guarded by the pod's lock) rather than a container. */
function podOwned(f: Finding, config: BerthConfig): boolean {
  if (['pod-init', 'shm-mount', 'netns-pin', 'ip-reservation'].includes(f.kind)) return true;
  if (f.repair.action === 'mark-sandbox-notready') return true;
  if (f.kind === 'directory' && f.path) return [join(config.root, 'sandboxes'), join(config.state, 'sandboxes'), join(config.state, 'ns')].some((d) => f.path!.startsWith(`${d}/`));
  return false;
}

export function daemonLeakAuditor(deps: DaemonAuditDeps): LeakAuditor {
  const { config, sandboxes, containers, images, settings } = deps;
  const cgroups = sandboxes.cgroups;
  const scope: AuditScope = {
    root: config.root,
    state: config.state,
    runtimes: Object.keys(config.runtimes).map((n) => runtimeHandle(config, n)),
    cni: { confDir: config.cni.conf_dir, binDirs: config.cni.bin_dirs },
    cgroups: { layout: cgroups.layout, driver: cgroups.driver },
  };
  // One audit-and-repair at a time.
  const serial = new KeyedMutex();

  const records = (): AuditRecords => {
    const content = images.contentRecords();
    return {
      sandboxes: sandboxes.store.list().map((s) => {
        const cgroupParent = podCgroupPath(s.config, cgroups.driver);
        return { id: s.id, state: s.state, runtime: s.runtime, ...(cgroupParent ? { cgroupParent } : {}) };
      }),
      containers: containers.store.all().map((c) => ({
        id: c.id,
        sandboxId: c.sandboxId,
        state: c.state,
        creating: c.creating,
        inFlight: containers.locks.isLocked(c.id),
        conmonPid: c.conmonPid,
        paths: c.paths,
        cgroupsPath: c.cgroupsPath,
        handler: c.handler,
        runtimePath: c.runtimePath,
        runtimeRoot: c.runtimeRoot,
      })),
      podCgroupDirs: cgroups.driver === 'cgroupfs' ? list(settings, 'pod_cgroup_dirs') : [],
      podSlices: cgroups.driver === 'systemd' ? list(settings, 'pod_slices') : [],
      layers: content.layers.map((chainId) => ({ chainId })),
      usedLayers: content.usedLayers,
      usedBlobs: content.usedBlobs,
      leaseHolders: images.leaseHolders(),
      pinned: (k) => images.contentPinned(k),
    };
  };

  const audit = async () => {
    const { findings, warnings } = await auditLeaks(scope, records);
    return { findings: sortFindings(findings), warnings };
  };

  let gc: Promise<void> | undefined;
  const recordRepairs: RecordRepairs = {
    releaseLease: (holder) => images.releaseLayers(holder),
    async deleteContainerRecord(id) {
      const rec = containers.store.get(id);
      if (!rec?.creating) return;
      containers.store.delete(id);
      await images.releaseLayers(id);
    },
    async markContainerExited(id) {
      const rec = containers.store.get(id);
      if (!rec || (rec.state !== 'CONTAINER_RUNNING' && rec.state !== 'CONTAINER_CREATED')) return;
      if ((await conmonAlive(rec.conmonPid, id)) || (await readExitFile(rec.paths.exitFile))) throw new Error('its conmon or exit file is back');
      recordUnknownExit(containers.store, rec, "the container's monitor is gone and left no exit code (berth leaks)");
      containers.events.publish(containerEvent(containers, rec, 'CONTAINER_STOPPED_EVENT'));
    },
    async markSandboxNotReady(id) {
      const rec = sandboxes.store.get(id);
      if (rec && rec.state === 'SANDBOX_READY') sandboxes.store.setState(rec, 'SANDBOX_NOTREADY');
    },
    async forgetCreatedCgroup(_setting, entry) {
      cgroups.forgetCreated(entry);
    },
    collectImageGarbage() {
      gc ??= images.gc().then(() => undefined);
      return gc;
    },
  };

  return {
    audit: () => serial.run('leaks', async () => ({ mode: 'berthd' as const, ...(await audit()) })),
    repair: () =>
      serial.run('leaks', async () => {
        const r = await repairUntilClean(audit, (findings) => {
          gc = undefined;
          return repairFindings(findings, {
            records: recordRepairs,
            guard: async (f, fn) => {
              // A veth, a pod cgroup level or a slice belongs to no id: leave them while any pod is
            // being created or removed (its veth or cgroup may not be recorded yet); the next run repairs them.
            if (!f.owner && ['veth', 'cgroup', 'systemd-unit'].includes(f.kind) && sandboxes.locks.busy()) return 'skipped: a pod is being created or removed now; run berth leaks again';
            if (!f.owner || f.kind === 'record' || f.kind === 'lease') {
                if (f.repair.action === 'delete-container-record' && containers.locks.isLocked(f.repair.id)) return 'skipped: its create is running now';
                return f.owner && f.kind === 'record' ? (podOwned(f, config) ? sandboxes.locks : containers.locks).run(f.owner, fn) : fn();
              }
              const owner = f.owner;
              if (podOwned(f, config)) {
                return sandboxes.locks.run(owner, async () => (sandboxes.store.get(owner) ? `skipped: pod ${owner.slice(0, 13)} is known now` : fn()));
              }
              return containers.locks.run(owner, async () => {
                const rec = containers.store.get(owner);
                return rec && !rec.creating ? `skipped: container ${owner.slice(0, 13)} is known now` : fn();
              });
            },
          });
        });
        return { mode: 'berthd' as const, ...r };
      }),
  };
}
