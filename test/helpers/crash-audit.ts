// The crash-consistency audit of one test berthd: compares its records (meta.db, read
// read-only, and what CRI lists) with what exists on the host for it, and returns every
// mismatch as a line. Used by the kill-point test after each restart and after cleanup.
// It checks both directions: every host resource belongs to a record (nothing orphaned:
// conmon and other processes, mounts, pinned namespaces, cgroups in every hierarchy,
// veths, CNI IP reservations, bundles and state dirs, layers, blobs, leases), and every
// record that claims to be whole has its resources (a READY pod its namespaces and IP, a
// created or running container its conmon, rootfs mount and bundle).
// Scoped to the berthd's own directories, bridge, cgroup parent and BERTH_TEST_RUN mark, so
// other tests' and other agents' resources never count. berth's own leak auditor (server/audit,
// the module behind `berth leaks`) runs on the same instance and its findings count too: the
// checks here add what a test can know and the auditor cannot (records that claim to be whole
// and are not, CRI's view against the store, the tests' markers).
import Database from 'better-sqlite3';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../../hostutil/exec.js';
import { mountPoints } from '../../hostutil/mounts.js';
import type { TestBerthd } from './berthd.js';
import { auditOffline, instanceConfig } from '../../server/audit/index.js';
import type { BerthConfig } from '../../server/config.js';

interface SandboxRow {
  id: string;
  state: string;
  runtime: {
    namespaces: { dir: string; net?: string; ipc?: string; uts?: string };
    cni?: { deleted: boolean; netns: string };
    shmPath?: string;
    cgroup?: { path: string; created: string[] };
    init?: { pid: number };
    pidMode?: string;
  };
}
interface ContainerRow {
  id: string;
  sandboxId: string;
  state: string;
  creating: boolean;
  conmonPid: number;
  cgroupsPath: string;
  paths: { rootfs: string; bundle: string; dir: string };
}

export interface AuditScope {
  /** The top cgroup directory (cgroupfs path, e.g. /berth-test-kp-ab12) the test's pods live under; may stay, empty. */
  cgroupRoot: string;
  /** Image ids the test keeps pulled (their layers and blobs are expected). */
  keepImages?: readonly string[];
  /** The berthd's runtime handlers when not berth's defaults (for the leak auditor). */
  runtimes?: BerthConfig['runtimes'];
}

/** berth's leak auditor (`berth leaks`, read-only) on this test berthd's directories. */
async function berthLeaks(b: TestBerthd, scope: AuditScope): Promise<string[]> {
  const config = instanceConfig({ root: b.root, state: b.state, socket: b.socket, cniConfDir: b.net.confDir, ...(scope.runtimes ? { runtimes: scope.runtimes } : {}) });
  const report = await auditOffline(config);
  return report.findings.map((f) => `berth leaks: ${f.kind} ${f.pid ? `pid ${f.pid}` : (f.path ?? f.id)} (${f.why})`);
}

async function ls(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch {
    return [];
  }
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

function readStore(b: TestBerthd) {
  const db = new Database(join(b.root, 'meta.db'), { readonly: true, fileMustExist: true });
  try {
    const sandboxes = (db.prepare('SELECT id, state, runtime FROM sandboxes').all() as { id: string; state: string; runtime: string }[]).map(
      (r): SandboxRow => ({ id: r.id, state: r.state, runtime: JSON.parse(r.runtime) as SandboxRow['runtime'] }),
    );
    const containers = (db.prepare('SELECT record FROM containers').all() as { record: string }[]).map((r) => JSON.parse(r.record) as ContainerRow);
    const images = (db.prepare('SELECT id FROM images').all() as { id: string }[]).map((r) => r.id);
    const layers = (db.prepare('SELECT chain_id FROM layers').all() as { chain_id: string }[]).map((r) => r.chain_id);
    const imageLayers = db.prepare('SELECT image_id, chain_id FROM image_layers').all() as { image_id: string; chain_id: string }[];
    const blobs = db.prepare('SELECT image_id, digest FROM image_blobs').all() as { image_id: string; digest: string }[];
    const leases = db.prepare('SELECT holder, chain_id FROM layer_leases').all() as { holder: string; chain_id: string }[];
    return { sandboxes, containers, images, layers, imageLayers, blobs, leases };
  } finally {
    db.close();
  }
}

/** Processes carrying this berthd's BERTH_TEST_RUN mark: pid, parent, command line. */
async function markedProcesses(mark: string): Promise<Array<{ pid: number; ppid: number; cmd: string; podInit?: string }>> {
  const out: Array<{ pid: number; ppid: number; cmd: string; podInit?: string }> = [];
  for (const p of await ls('/proc')) {
    if (!/^\d+$/.test(p) || Number(p) === process.pid) continue;
    try {
      const env = await readFile(`/proc/${p}/environ`, 'latin1');
      const vars = env.split('\0');
      if (!vars.includes(`BERTH_TEST_RUN=${mark}`)) continue;
      const podInit = vars.find((v) => v.startsWith('BERTH_POD_INIT='))?.slice('BERTH_POD_INIT='.length);
      const st = await readFile(`/proc/${p}/stat`, 'utf8');
      const rest = st.slice(st.lastIndexOf(')') + 2).split(' ');
      if (rest[0] === 'Z') continue;
      const cmd = (await readFile(`/proc/${p}/cmdline`, 'latin1')).replace(/\0/g, ' ').trim();
      out.push({ pid: Number(p), ppid: Number(rest[1]), cmd, ...(podInit ? { podInit } : {}) });
    } catch {
      /* gone */
    }
  }
  return out;
}

/** Every cgroup directory (relative to its hierarchy) under `root`, in every hierarchy. */
async function cgroupDirs(root: string): Promise<Map<string, string[]>> {
  const found = new Map<string, string[]>();
  const hierarchies: string[] = [];
  for (const h of await ls('/sys/fs/cgroup')) {
    if (h === 'unified' || (await exists(`/sys/fs/cgroup/${h}/cgroup.procs`)) || (await exists(`/sys/fs/cgroup/${h}/tasks`))) hierarchies.push(`/sys/fs/cgroup/${h}`);
  }
  const walk = async (base: string, rel: string): Promise<void> => {
    const entries = await readdir(join(base, rel), { withFileTypes: true }).catch(() => []);
    if (!(await exists(join(base, rel)))) return;
    found.set(rel, [...(found.get(rel) ?? []), base]);
    for (const e of entries) if (e.isDirectory()) await walk(base, join(rel, e.name));
  };
  for (const h of hierarchies) await walk(h, root);
  return found;
}

/** One pass of the audit; `[]` when the host matches the records. */
export async function auditOnce(b: TestBerthd, scope: AuditScope): Promise<string[]> {
  const problems: string[] = [];
  const s = readStore(b);
  const pods = new Map(s.sandboxes.map((p) => [p.id, p]));
  const ctrs = new Map(s.containers.map((c) => [c.id, c]));

  // CRI's view matches the store (and nothing is left half-created after recovery).
  if (b.proc.exitCode === null && b.proc.signalCode === null) {
    const listed = new Set(((await b.client.call('ListPodSandbox', {})).items as { id: string }[]).map((p) => p.id));
    for (const id of pods.keys()) if (!listed.has(id)) problems.push(`pod ${id} is in the store but not listed`);
    for (const id of listed) if (!pods.has(id)) problems.push(`pod ${id} is listed but not in the store`);
    const clisted = new Set(((await b.client.call('ListContainers', {})).containers as { id: string }[]).map((c) => c.id));
    for (const c of ctrs.values()) {
      if (c.creating) problems.push(`container ${c.id} is still marked creating after recovery`);
      else if (!clisted.has(c.id)) problems.push(`container ${c.id} is in the store but not listed`);
    }
    for (const id of clisted) if (!ctrs.has(id)) problems.push(`container ${id} is listed but not in the store`);
  }
  for (const c of ctrs.values()) if (!pods.has(c.sandboxId)) problems.push(`container ${c.id} belongs to pod ${c.sandboxId}, which has no record`);

  // Mounts under the berthd's directories: pinned namespaces, /dev/shm, rootfs overlays.
  const mounts = (await mountPoints()).filter((m) => m.startsWith(`${b.dir}/`));
  const mounted = new Set(mounts);
  for (const m of mounts) {
    const ns = new RegExp(`^${b.state}/ns/([0-9a-f]+)/(net|ipc|uts)$`).exec(m);
    const shm = new RegExp(`^${b.state}/sandboxes/([0-9a-f]+)/shm$`).exec(m);
    const rootfs = new RegExp(`^${b.root}/containers/([0-9a-f]+)/rootfs$`).exec(m);
    if (ns) {
      if (!pods.has(ns[1]!)) problems.push(`orphaned pinned ${ns[2]} namespace ${m}`);
    } else if (shm) {
      if (!pods.has(shm[1]!)) problems.push(`orphaned shm mount ${m}`);
    } else if (rootfs) {
      if (!ctrs.has(rootfs[1]!)) problems.push(`orphaned rootfs mount ${m}`);
    } else problems.push(`unexpected mount ${m}`);
  }

  // Directories named after pods and containers.
  const dirSets: Array<[string, Map<string, unknown>, string]> = [
    [join(b.state, 'ns'), pods, 'pinned-namespace dir'],
    [join(b.state, 'sandboxes'), pods, 'pod state dir'],
    [join(b.root, 'sandboxes'), pods, 'pod files dir'],
    [join(b.state, 'containers'), ctrs, 'bundle'],
    [join(b.root, 'containers'), ctrs, 'container dir'],
    [join(b.state, 'exits'), ctrs, 'exit file'],
    [join(b.state, 'sock'), ctrs, 'attach socket dir'],
  ];
  for (const [dir, known, what] of dirSets) for (const n of await ls(dir)) if (!known.has(n)) problems.push(`orphaned ${what} ${join(dir, n)}`);

  // Processes: conmon of a known container; the pod init of a known pod; shims of the live berthd.
  const procs = await markedProcesses(b.dir);
  const conmons = new Map<string, number>();
  const byPid = new Map(procs.map((p) => [p.pid, p]));
  for (const p of procs) {
    if (p.pid === b.proc.pid) continue;
    const conmon = /(^|\/)conmon .*-c ([0-9a-f]{64})/.exec(p.cmd);
    if (conmon) {
      conmons.set(conmon[2]!, p.pid);
      const c = ctrs.get(conmon[2]!);
      if (!c) problems.push(`orphaned conmon ${p.pid} of container ${conmon[2]}`);
      continue;
    }
    if (/shim\/main\.js/.test(p.cmd)) {
      if (p.ppid !== b.proc.pid) problems.push(`orphaned berth-shim ${p.pid} (parent ${p.ppid})`);
      continue;
    }
    if (p.podInit !== undefined) {
      // A pod's init (nsenter → unshare → catatonit), marked with its pod's id.
      const owner = pods.get(p.podInit);
      if (!owner) problems.push(`orphaned pod init process ${p.pid} of pod ${p.podInit.slice(0, 12)}: ${p.cmd}`);
      else if (owner.state === 'SANDBOX_READY' && !owner.runtime.init) problems.push(`READY pod ${owner.id} has an init process it does not record`);
      continue;
    }
    if (byPid.get(p.ppid) && /conmon/.test(byPid.get(p.ppid)!.cmd)) continue; // the runtime, under a conmon counted above
    problems.push(`unexpected process ${p.pid} (parent ${p.ppid}): ${p.cmd}`);
  }

  // Pods: whole when READY; IP reservations and veths only for pods that hold a network.
  const netName = `berth-${b.net.bridge}`;
  const ipDir = join(b.net.ipamDir, netName);
  const ipHolders = new Set<string>();
  for (const f of await ls(ipDir)) {
    if (!/^\d+\.\d+\.\d+\.\d+$/.test(f)) continue;
    const owner = (await readFile(join(ipDir, f), 'utf8').catch(() => '')).split(/\s/)[0] ?? '';
    ipHolders.add(owner);
    const p = pods.get(owner);
    if (!p || !p.runtime.cni || p.runtime.cni.deleted) problems.push(`orphaned IP reservation ${f} for ${owner.slice(0, 12)}`);
  }
  let netnsHeld = 0;
  for (const p of pods.values()) {
    const ns = p.runtime.namespaces;
    if (ns.net && mounted.has(ns.net)) netnsHeld++;
    if (p.state !== 'SANDBOX_READY') continue;
    for (const k of ['net', 'ipc', 'uts'] as const) if (ns[k] && !mounted.has(ns[k]!)) problems.push(`READY pod ${p.id} lost its ${k} namespace`);
    if (p.runtime.cni && !ipHolders.has(p.id)) problems.push(`READY pod ${p.id} holds no IP reservation`);
    if (p.runtime.shmPath && !mounted.has(p.runtime.shmPath)) problems.push(`READY pod ${p.id} lost its /dev/shm mount`);
  }
  const links = (await run('ip', ['-o', 'link', 'show', 'master', b.net.bridge], { allowFailure: true })).stdout.split('\n').filter((l) => l.trim());
  if (links.length > netnsHeld) problems.push(`${links.length} veth(s) on ${b.net.bridge} but only ${netnsHeld} pod network namespace(s) held`);

  // Containers: a created or running one has its conmon, rootfs and bundle.
  for (const c of ctrs.values()) {
    if (c.creating || c.state === 'CONTAINER_EXITED') continue;
    if (!conmons.has(c.id)) problems.push(`${c.state} container ${c.id} has no conmon`);
    if (!mounted.has(c.paths.rootfs)) problems.push(`${c.state} container ${c.id} has no rootfs mount`);
    if (!(await exists(join(c.paths.bundle, 'config.json')))) problems.push(`${c.state} container ${c.id} has no bundle`);
  }

  // cgroups under the test's cgroup root, in every hierarchy.
  const cg = await cgroupDirs(scope.cgroupRoot);
  const podCgroups = new Set(s.sandboxes.flatMap((p) => (p.runtime.cgroup ? [p.runtime.cgroup.path] : [])));
  for (const [rel, where] of cg) {
    if (rel === scope.cgroupRoot) continue;
    const name = rel.split('/').pop()!;
    if (podCgroups.has(rel)) continue;
    if (ctrs.has(name)) continue;
    problems.push(`orphaned cgroup ${rel} (in ${where.length} hierarch${where.length === 1 ? 'y' : 'ies'})`);
  }
  for (const p of pods.values()) {
    const pc = p.runtime.cgroup;
    if (p.state === 'SANDBOX_READY' && pc && !cg.has(pc.path)) problems.push(`READY pod ${p.id} lost its cgroup ${pc.path}`);
  }

  // Images: layers on disk = layer records; each image's layers and blobs present; leases held by containers.
  const onDisk = new Set(await ls(join(b.root, 'layers', 'sha256')));
  const recorded = new Set(s.layers.map((l) => l.replace(/^sha256:/, '')));
  for (const l of onDisk) if (!recorded.has(l)) problems.push(`layer directory ${l.slice(0, 12)} has no record`);
  for (const l of recorded) if (!onDisk.has(l)) problems.push(`layer record ${l.slice(0, 12)} has no directory`);
  const used = new Set([...s.imageLayers.map((l) => l.chain_id), ...s.leases.map((l) => l.chain_id)]);
  for (const l of s.layers) if (!used.has(l)) problems.push(`layer ${l.slice(7, 19)} is recorded but neither an image nor a lease uses it`);
  for (const holder of new Set(s.leases.map((l) => l.holder))) if (!ctrs.has(holder)) problems.push(`orphaned layer lease held by ${holder.slice(0, 12)}`);
  const blobDir = join(b.root, 'content', 'blobs', 'sha256');
  const blobFiles = new Set(await ls(blobDir));
  const blobRecs = new Set(s.blobs.map((x) => x.digest.replace(/^sha256:/, '')));
  for (const f of blobFiles) if (!blobRecs.has(f)) problems.push(`orphaned blob ${f.slice(0, 12)}`);
  for (const x of s.blobs) if (!blobFiles.has(x.digest.replace(/^sha256:/, ''))) problems.push(`image ${x.image_id.slice(7, 19)} lost its blob ${x.digest.slice(7, 19)}`);
  for (const d of ['content/ingest', 'layers/ingest']) for (const n of await ls(join(b.root, d))) problems.push(`leftover in ${d}: ${n}`);
  if (scope.keepImages) for (const id of scope.keepImages) if (!s.images.includes(id)) problems.push(`kept image ${id.slice(7, 19)} is gone`);
  problems.push(...(await berthLeaks(b, scope)));
  return problems;
}

/**
 * The audit, retried for a short while: processes that are on their way out (a conmon whose
 * container was just killed, an idle shim of the dead berthd) are given time to finish.
 */
export async function audit(b: TestBerthd, scope: AuditScope, settleMs = 4000): Promise<string[]> {
  const deadline = Date.now() + settleMs;
  for (;;) {
    const problems = await auditOnce(b, scope);
    if (!problems.length || Date.now() > deadline) return problems;
    await new Promise((r) => setTimeout(r, 150));
  }
}
