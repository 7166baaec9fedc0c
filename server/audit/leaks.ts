// THE leak auditor (issue 13 item 7): compares berth's records with the host and lists what
// belongs to this berth instance but to no pod or container it knows, and records whose host
// resources are gone. berthd runs it behind its admin socket (server/audit/daemon.ts),
// `berth leaks` runs it with berthd down (server/audit/offline.ts), the test suite's leftover
// check and the kill-point test call it too. It only reads; repair.ts removes.
//
// What counts as this instance's: everything is attributed through this instance's own
// paths (root, state, runtime roots), its store's records and settings (cgroup levels and
// slices it created), and its CNI configuration (bridges, IPAM directories). Cgroups under
// the default parent /berth, which every berthd on a host shares, and berth's systemd scopes
// are attributed only to an id that also left a trace in this instance's state (bundle,
// container directory, runtime state, conmon, exit file), so that an audit never flags what
// another berthd on the same host (tests run several) is running.
//
// Races with a running berthd: the host is read first and the records after, so a pod or
// container created meanwhile is known by the time findings are made; a container whose
// create is in progress (its lock held) counts as live. Repairs re-check under the locks.
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { isIP } from 'node:net';
import { run } from '../../hostutil/exec.js';
import { parseMountInfo, type MountInfo } from '../../hostutil/mountinfo.js';
import { ID_PATTERN } from '../ids.js';
import { allRoots, BERTH_CGROUP_PARENT } from '../cgroups/cgroupfs.js';
import { cgroupfsPodParent, expandSlice, systemdPodParent } from '../cgroups/paths.js';
import { processStartTime } from '../sandbox/pod-init.js';
import { conmonAlive, readExitFile } from '../runtime/conmon.js';
import { parseNetworkConfig, type NetworkConfList } from '../network/conflist.js';
import type { AuditRecords, AuditScope, Finding, KnownSandbox } from './types.js';
import { pathExists } from '../../hostutil/exists.js';

export type { AuditRecords, AuditScope, Finding } from './types.js';

const short = (id: string) => id.slice(0, 13);
/** "10 hierarchies (cpu, cpuacct, …)" for a list of one cgroup's directories. */
const hier = (paths: string[]) => `${paths.length} hierarch${paths.length === 1 ? 'y' : 'ies'} (${paths.map((p) => p.split('/')[4] ?? p).join(', ')})`;
const under = (p: string, dir: string) => p === dir || p.startsWith(`${dir}/`);

async function listDir(dir: string, warnings: string[]): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTDIR') warnings.push(`cannot read ${dir}: ${(e as Error).message}`);
    return [];
  }
}

const ids = (names: string[]) => names.filter((n) => ID_PATTERN.test(n));

interface Proc {
  pid: number;
  argv: string[];
  startTime: string;
}

/** Every process's argument vector (processes that vanish while read are skipped). */
async function readProcesses(procRoot: string): Promise<Proc[]> {
  const out: Proc[] = [];
  for (const name of await readdir(procRoot)) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pid === process.pid) continue;
    try {
      const cmd = await readFile(join(procRoot, name, 'cmdline'), 'latin1');
      if (!cmd) continue; // kernel thread or zombie
      const startTime = await processStartTime(pid);
      if (!startTime) continue;
      out.push({ pid, argv: cmd.replace(/\0$/, '').split('\0'), startTime });
    } catch {
      /* gone */
    }
  }
  return out;
}

const argAfter = (argv: string[], flag: string) => {
  const i = argv.indexOf(flag);
  return i >= 0 ? argv[i + 1] : undefined;
};

/** The conflists this instance uses or used: every one in the conf dir, and those recorded with pods. */
async function conflists(scope: AuditScope, sandboxes: KnownSandbox[], warnings: string[]): Promise<NetworkConfList[]> {
  const out: NetworkConfList[] = [];
  for (const n of (await listDir(scope.cni.confDir, warnings)).filter((n) => /\.(conflist|conf|json)$/.test(n)).sort()) {
    const file = join(scope.cni.confDir, n);
    try {
      out.push(parseNetworkConfig(await readFile(file, 'utf8'), file));
    } catch (e) {
      warnings.push(`network config ${file} skipped: ${(e as Error).message}`);
    }
  }
  for (const s of sandboxes) if (s.runtime.cni) out.push(s.runtime.cni.conflist as NetworkConfList);
  return out;
}

/** Bridges (the bridge plugin's `bridge`, default cni0) and host-local IPAM directories of these conflists. */
function networkPlaces(lists: NetworkConfList[]): { bridges: Set<string>; ipamDirs: Set<string> } {
  const bridges = new Set<string>();
  const ipamDirs = new Set<string>();
  for (const l of lists) {
    for (const p of l.plugins ?? []) {
      if (p.type === 'bridge') bridges.add(typeof p.bridge === 'string' && p.bridge ? p.bridge : 'cni0');
      const ipam = p.ipam as { type?: string; dataDir?: string } | undefined;
      if (ipam?.type === 'host-local') ipamDirs.add(join(ipam.dataDir || '/var/lib/cni/networks', l.name));
    }
  }
  return { bridges, ipamDirs };
}

interface Link {
  ifindex: number;
  ifname: string;
  master?: string;
  link_index?: number;
  link_netnsid?: number;
}

async function ipLinks(args: string[], warnings: string[]): Promise<Link[] | undefined> {
  const r = await run(args[0]!, [...args.slice(1)], { allowFailure: true, timeoutMs: 15_000 }).catch((e: Error) => ({ code: -1, stdout: '', stderr: e.message }));
  if (r.code !== 0) {
    warnings.push(`${args.join(' ')} failed: ${r.stderr.trim()}`);
    return undefined;
  }
  try {
    return JSON.parse(r.stdout || '[]') as Link[];
  } catch {
    warnings.push(`${args.join(' ')} printed no JSON`);
    return undefined;
  }
}

/** The host side (ifindex) of every veth whose other end is in a known pod's network namespace; undefined when one could not be read. */
async function livePeers(sandboxes: KnownSandbox[], mounted: Set<string>, warnings: string[]): Promise<Set<number> | undefined> {
  const peers = new Set<number>();
  let complete = true;
  for (const s of sandboxes) {
    const net = s.runtime.namespaces.net;
    if (!net || !mounted.has(net)) continue;
    const links = await ipLinks(['nsenter', `--net=${net}`, '--', 'ip', '-j', 'link', 'show'], warnings);
    if (!links) {
      complete = false;
      continue;
    }
    for (const l of links) if (l.link_index !== undefined && l.link_netnsid !== undefined) peers.add(l.link_index);
  }
  return complete ? peers : undefined;
}

/** A pod config's cgroup_parent as a path below the hierarchy roots (undefined when it has none or it is not valid). */
export function podCgroupPath(config: { linux?: { cgroup_parent?: string } | null } | null | undefined, driver: 'cgroupfs' | 'systemd'): string | undefined {
  const parent = config?.linux?.cgroup_parent;
  if (!parent) return undefined;
  try {
    return driver === 'systemd' ? expandSlice(systemdPodParent(parent)) : cgroupfsPodParent(parent);
  } catch {
    return undefined;
  }
}

/** Host-side interface names CNI reported for known pods. */
function recordedHostIfaces(sandboxes: KnownSandbox[]): Set<string> {
  const out = new Set<string>();
  for (const s of sandboxes) {
    const ifs = (s.runtime.cni?.result?.interfaces ?? []) as Array<{ name?: string; sandbox?: string }>;
    for (const i of ifs) if (i.name && !i.sandbox) out.add(i.name);
  }
  return out;
}

async function inode(p: string): Promise<number | undefined> {
  try {
    return (await stat(p)).ino;
  } catch {
    return undefined;
  }
}

/**
 * Audits this berth instance. `readRecords` is called twice: before the host is read (to
 * know where to look) and after (to decide), so that what a running berthd creates in
 * between is known when findings are made.
 */
export async function auditLeaks(scope: AuditScope, readRecords: () => AuditRecords | Promise<AuditRecords>): Promise<{ findings: Finding[]; warnings: string[] }> {
  const warnings: string[] = [];
  const procRoot = scope.procRoot ?? '/proc';
  const { root, state } = scope;
  const pre = await readRecords();

  // ---- the host, read first -------------------------------------------------------------
  const dirs = {
    containerDirs: ids(await listDir(join(root, 'containers'), warnings)),
    bundles: ids(await listDir(join(state, 'containers'), warnings)),
    exits: ids(await listDir(join(state, 'exits'), warnings)),
    sockets: ids(await listDir(join(state, 'sock'), warnings)),
    podFiles: ids(await listDir(join(root, 'sandboxes'), warnings)),
    podShm: ids(await listDir(join(state, 'sandboxes'), warnings)),
    podNs: ids(await listDir(join(state, 'ns'), warnings)),
  };
  const runtimeState: Array<{ runtime: { name: string; path: string; root: string }; id: string }> = [];
  for (const rt of scope.runtimes) for (const id of ids(await listDir(rt.root, warnings))) runtimeState.push({ runtime: rt, id });
  const procs = await readProcesses(procRoot);
  const mounts: MountInfo[] = parseMountInfo(await readFile(join(procRoot, 'self', 'mountinfo'), 'utf8'));
  const mounted = new Set(mounts.map((m) => m.mountPoint));

  const lists = await conflists(scope, pre.sandboxes, warnings);
  const { bridges, ipamDirs } = networkPlaces(lists);
  const veths = bridges.size ? ((await ipLinks(['ip', '-j', '-d', 'link', 'show', 'type', 'veth'], warnings)) ?? []).filter((l) => l.master && bridges.has(l.master)) : [];
  const reservations: Array<{ dir: string; ip: string; owner: string }> = [];
  for (const dir of ipamDirs) {
    for (const n of await listDir(dir, warnings)) {
      if (!isIP(n)) continue;
      const owner = (await readFile(join(dir, n), 'utf8').catch(() => '')).split('\n')[0]!.trim();
      reservations.push({ dir, ip: n, owner });
    }
  }

  const cgroupRoots = allRoots(scope.cgroups.layout);
  const cgroupParents = new Set<string>([BERTH_CGROUP_PARENT, ...pre.podCgroupDirs, ...pre.sandboxes.flatMap((s) => [...(s.runtime.cgroup ? [s.runtime.cgroup.path] : []), ...(s.cgroupParent ? [s.cgroupParent] : [])])]);
  const cgroupChildren = new Map<string, Map<string, string[]>>(); // parent → child name → absolute dirs
  for (const parent of cgroupParents) {
    const byName = new Map<string, string[]>();
    for (const r of cgroupRoots) {
      for (const e of await readdir(join(r, parent), { withFileTypes: true }).catch(() => [])) {
        if (!e.isDirectory()) continue;
        byName.set(e.name, [...(byName.get(e.name) ?? []), join(r, parent, e.name)]);
      }
    }
    cgroupChildren.set(parent, byName);
  }
  const podCgroupExists = new Map<string, string[]>();
  for (const rel of pre.podCgroupDirs) {
    const there: string[] = [];
    for (const r of cgroupRoots) if (await pathExists(join(r, rel))) there.push(join(r, rel));
    podCgroupExists.set(rel, there);
  }
  const units: Array<{ unit: string; id: string; path: string }> = [];
  const systemdTree = scope.cgroups.layout.mode === 'v2' ? scope.cgroups.layout.unified : (scope.cgroups.layout.systemdHierarchy ?? scope.cgroups.layout.unified);
  if (scope.cgroups.driver === 'systemd' && systemdTree) {
    const walk = async (dir: string, depth: number): Promise<void> => {
      for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
        if (!e.isDirectory()) continue;
        const m = /^berth(?:-conmon)?-([0-9a-f]{64})\.scope$/.exec(e.name);
        if (m) units.push({ unit: e.name, id: m[1]!, path: join(dir, e.name) });
        else if (e.name.endsWith('.slice') && depth < 6) await walk(join(dir, e.name), depth + 1);
      }
    };
    await walk(systemdTree, 0);
  }
  const layerDirs = (await listDir(join(root, 'layers', 'sha256'), warnings)).filter((n) => /^[0-9a-f]{64}$/.test(n));
  const blobFiles = (await listDir(join(root, 'content', 'blobs', 'sha256'), warnings)).filter((n) => /^[0-9a-f]{64}$/.test(n));

  // ---- the records, read second ---------------------------------------------------------
  const recs = await readRecords();
  const interrupted = recs.containers.filter((c) => c.creating && !c.inFlight);
  const liveC = new Set(recs.containers.filter((c) => !(c.creating && !c.inFlight)).map((c) => c.id));
  const liveS = new Set(recs.sandboxes.map((s) => s.id));
  const interruptedIds = new Set(interrupted.map((c) => c.id));
  const cWhy = (id: string) =>
    interruptedIds.has(id) ? `container ${short(id)}, whose CreateContainer was interrupted (its record still says creating)` : `container ${short(id)}, which berth has no record of`;
  const sWhy = (id: string) => `pod ${short(id)}, which berth has no record of`;

  const findings: Finding[] = [];
  const conmons = procs.flatMap((p) => {
    if (basename(p.argv[0] ?? '') !== 'conmon') return [];
    const id = argAfter(p.argv, '-c');
    const bundle = argAfter(p.argv, '-b');
    if (!id || !ID_PATTERN.test(id) || bundle !== join(state, 'containers', id)) return [];
    return [{ ...p, id }];
  });
  // Ids that left a trace in this instance's own state: they attribute shared cgroups and scopes.
  const traces = new Set([...dirs.containerDirs, ...dirs.bundles, ...dirs.exits, ...runtimeState.map((r) => r.id), ...conmons.map((c) => c.id), ...interruptedIds]);

  // Processes.
  for (const c of conmons) {
    if (liveC.has(c.id)) continue;
    findings.push({ kind: 'conmon', id: String(c.pid), owner: c.id, pid: c.pid, why: `conmon of ${cWhy(c.id)}`, fix: `SIGKILL pid ${c.pid} (after checking it is still the same process)`, repair: { action: 'kill', pid: c.pid, startTime: c.startTime } });
  }
  const runtimeRoots = new Set(scope.runtimes.map((r) => r.root));
  for (const p of procs) {
    const rootArg = argAfter(p.argv, '--root') ?? p.argv.find((a) => a.startsWith('--root='))?.slice('--root='.length);
    if (!rootArg || !runtimeRoots.has(rootArg) || basename(p.argv[0] ?? '') === 'conmon') continue;
    const id = [...p.argv].reverse().find((a) => ID_PATTERN.test(a));
    if (!id || liveC.has(id)) continue;
    findings.push({ kind: 'runtime-process', id: String(p.pid), owner: id, pid: p.pid, why: `${basename(p.argv[0] ?? 'runtime')} ${p.argv.find((a) => !a.startsWith('-') && a !== p.argv[0]) ?? ''} for ${cWhy(id)}`.replace(/\s+/g, ' '), fix: `SIGKILL pid ${p.pid}`, repair: { action: 'kill', pid: p.pid, startTime: p.startTime } });
  }
  for (const r of runtimeState) {
    if (liveC.has(r.id)) continue;
    findings.push({ kind: 'runtime-container', id: r.id, owner: r.id, path: join(r.runtime.root, r.id), why: `${r.runtime.name} still has state (and maybe processes) for ${cWhy(r.id)}`, fix: `${r.runtime.path} --root ${r.runtime.root} delete --force ${short(r.id)}… (kills its processes, removes its state and cgroup)`, repair: { action: 'runtime-delete', runtime: r.runtime.path, root: r.runtime.root, id: r.id } });
  }
  // Pod init processes (catatonit under unshare --pid): theirs is the network namespace of a pinned pod.
  const pinInodes = new Map<number, string>();
  for (const id of dirs.podNs) {
    const f = join(state, 'ns', id, 'net');
    if (!mounted.has(f)) continue;
    const ino = await inode(f);
    if (ino !== undefined) pinInodes.set(ino, id);
  }
  for (const p of procs) {
    if (basename(p.argv[0] ?? '') !== 'unshare' || p.argv.slice(1, 5).join(' ') !== '--pid --fork --kill-child --') continue;
    const ino = await inode(join(procRoot, String(p.pid), 'ns', 'net'));
    const sid = ino === undefined ? undefined : pinInodes.get(ino);
    if (!sid) continue;
    const rec = recs.sandboxes.find((s) => s.id === sid);
    if (rec && (!rec.runtime.init || rec.runtime.init.pid === p.pid)) continue;
    findings.push({ kind: 'pod-init', id: String(p.pid), owner: sid, pid: p.pid, why: rec ? `a pod init in pod ${short(sid)}'s namespaces that its record does not name` : `the pod init of ${sWhy(sid)}`, fix: `SIGKILL pid ${p.pid}`, repair: { action: 'kill', pid: p.pid, startTime: p.startTime } });
  }

  // Mounts.
  const seenMounts = new Set<string>();
  for (const m of mounts) {
    const mp = m.mountPoint;
    if (seenMounts.has(mp)) continue;
    let found: Finding | undefined;
    const c = new RegExp(`^${escapeRe(join(root, 'containers'))}/([0-9a-f]{64})(/|$)`).exec(mp);
    const shm = new RegExp(`^${escapeRe(join(state, 'sandboxes'))}/([0-9a-f]{64})/`).exec(mp);
    const ns = new RegExp(`^${escapeRe(join(state, 'ns'))}/([0-9a-f]{64})/(net|ipc|uts)$`).exec(mp);
    if (c && !liveC.has(c[1]!)) found = { kind: 'rootfs-mount', id: mp, owner: c[1]!, path: mp, why: `still mounted: the ${m.fsType} root filesystem of ${cWhy(c[1]!)}`, fix: `umount ${mp}`, repair: { action: 'unmount', path: mp } };
    else if (shm && !liveS.has(shm[1]!)) found = { kind: 'shm-mount', id: mp, owner: shm[1]!, path: mp, why: `still mounted: the /dev/shm ${m.fsType} of ${sWhy(shm[1]!)}`, fix: `umount ${mp}`, repair: { action: 'unmount', path: mp } };
    else if (ns && !liveS.has(ns[1]!)) found = { kind: 'netns-pin', id: mp, owner: ns[1]!, path: mp, why: `keeps a namespace alive: the pinned ${ns[2]} namespace of ${sWhy(ns[1]!)}`, fix: `umount ${mp} (the namespace, and any veth in it, goes with its last user)`, repair: { action: 'unmount', path: mp } };
    if (found) {
      seenMounts.add(mp);
      findings.push(found);
    }
  }

  // Network: veths on berth's bridges that no known pod's namespace holds the other end of, and IPAM reservations.
  if (veths.length) {
    const peers = await livePeers(recs.sandboxes, mounted, warnings);
    const recorded = recordedHostIfaces(recs.sandboxes);
    if (!peers) warnings.push("veths not audited: a known pod's network namespace could not be read");
    else {
      for (const v of veths) {
        if (peers.has(v.ifindex) || recorded.has(v.ifname)) continue;
        findings.push({ kind: 'veth', id: v.ifname, why: `a veth on berth's bridge ${v.master} whose other end is in no known pod's network namespace`, fix: `ip link del ${v.ifname}`, repair: { action: 'link-delete', name: v.ifname } });
      }
    }
  }
  for (const r of reservations) {
    if (liveS.has(r.owner) || !ID_PATTERN.test(r.owner)) continue;
    const file = join(r.dir, r.ip);
    findings.push({ kind: 'ip-reservation', id: r.ip, owner: r.owner, path: file, why: `host-local IPAM holds ${r.ip} for ${sWhy(r.owner)}`, fix: `remove ${file} under the plugin's lock (${join(r.dir, 'lock')})`, repair: { action: 'ipam-release', file, lock: join(r.dir, 'lock') } });
  }

  // Cgroups (cgroupfs driver): container cgroups below berth's parents, and pod levels berth made.
  const usedLevels = recs.sandboxes.flatMap((s) => [...(s.runtime.cgroup ? [s.runtime.cgroup.path] : []), ...(s.cgroupParent ? [s.cgroupParent] : [])]);
  const podLevels = new Set(recs.podCgroupDirs);
  for (const [parent, byName] of cgroupChildren) {
    for (const [name, paths] of byName) {
      if (!ID_PATTERN.test(name) || liveC.has(name)) continue;
      if (parent === BERTH_CGROUP_PARENT && !traces.has(name)) continue; // maybe another berthd's
      if (!podLevels.has(parent) && parent !== BERTH_CGROUP_PARENT && !usedLevels.includes(parent)) continue;
      findings.push({ kind: 'cgroup', id: join(parent, name), owner: name, path: paths[0], why: `the cgroup of ${cWhy(name)}`, fix: `rmdir it in ${hier(paths)} (fails, and says so, while a process is in it)`, repair: { action: 'rmdir-cgroup', paths } });
    }
  }
  // Deepest first: a level whose only children are container cgroups or leaked levels is leaked too.
  const leakedLevels = new Set<string>();
  for (const rel of [...recs.podCgroupDirs].sort((a, b) => b.split('/').length - a.split('/').length)) {
    if (usedLevels.some((u) => under(u, rel))) continue;
    const there = podCgroupExists.get(rel) ?? [];
    if (there.length === 0) {
      findings.push({ kind: 'record', id: rel, why: `the store lists cgroup ${rel} as made by berth, but it exists in no hierarchy`, fix: `drop ${rel} from the store's list of cgroups berth made`, repair: { action: 'forget-created-cgroup', setting: 'pod_cgroup_dirs', entry: rel } });
      continue;
    }
    // A level with other children (another pod, kubelet's) is someone else's parent now.
    const kids = cgroupChildren.get(rel);
    if (kids && [...kids.keys()].some((k) => !ID_PATTERN.test(k) && !leakedLevels.has(join(rel, k)))) continue;
    leakedLevels.add(rel);
    findings.push({ kind: 'cgroup', id: rel, path: there[0], why: `pod cgroup ${rel}, made by berth, belongs to no known pod`, fix: `rmdir it in ${hier(there)} and drop it from the store's list`, repair: { action: 'rmdir-cgroup', paths: there, forget: rel } });
  }
  // Cgroups (systemd driver): berth's scopes and the slices it started.
  for (const u of units) {
    if (liveC.has(u.id) || !traces.has(u.id)) continue;
    findings.push({ kind: 'systemd-unit', id: u.unit, owner: u.id, path: u.path, why: `systemd unit ${u.unit} of ${cWhy(u.id)}`, fix: `systemctl stop ${u.unit}`, repair: { action: 'stop-unit', unit: u.unit } });
  }
  const usedSlices = new Set(recs.sandboxes.flatMap((s) => (s.runtime.cgroup?.slice ? [s.runtime.cgroup.slice] : [])));
  for (const slice of recs.podSlices) {
    if ([...usedSlices].some((u) => u === slice || u.startsWith(slice.replace(/\.slice$/, '-')))) continue;
    findings.push({ kind: 'systemd-unit', id: slice, why: `slice ${slice}, started by berth, holds no known pod`, fix: `systemctl stop ${slice}`, repair: { action: 'stop-unit', unit: slice } });
  }

  // Directories and files.
  const dirFinding = (path: string, owner: string, what: string, pod: boolean): Finding => ({
    kind: 'directory',
    id: path,
    owner,
    path,
    why: `${what} of ${pod ? sWhy(owner) : cWhy(owner)}`,
    fix: `rm -rf ${path}`,
    repair: { action: 'remove-path', path },
  });
  for (const id of dirs.containerDirs) if (!liveC.has(id)) findings.push(dirFinding(join(root, 'containers', id), id, 'the rootfs/upper/work directory', false));
  for (const id of dirs.bundles) if (!liveC.has(id)) findings.push(dirFinding(join(state, 'containers', id), id, 'the OCI bundle and conmon files', false));
  for (const id of dirs.exits) if (!liveC.has(id)) findings.push(dirFinding(join(state, 'exits', id), id, 'the exit file', false));
  for (const id of dirs.sockets) if (!liveC.has(id)) findings.push(dirFinding(join(state, 'sock', id), id, 'the attach socket directory', false));
  for (const id of dirs.podFiles) if (!liveS.has(id)) findings.push(dirFinding(join(root, 'sandboxes', id), id, 'the hostname/hosts/resolv.conf directory', true));
  for (const id of dirs.podShm) if (!liveS.has(id)) findings.push(dirFinding(join(state, 'sandboxes', id), id, 'the /dev/shm directory', true));
  for (const id of dirs.podNs) if (!liveS.has(id)) findings.push(dirFinding(join(state, 'ns', id), id, 'the pinned-namespace directory', true));

  // Images: layers and blobs no image or container uses (GC's own definition), leases of unknown containers.
  const layerRows = new Set(recs.layers.map((l) => l.chainId));
  for (const hex of layerDirs) {
    const chain = `sha256:${hex}`;
    if (layerRows.has(chain) || recs.pinned(chain)) continue;
    const path = join(root, 'layers', 'sha256', hex);
    findings.push({ kind: 'layer', id: chain, path, why: 'an unpacked layer directory without a layer record', fix: `image garbage collection removes ${path}`, repair: { action: 'collect-image-garbage', key: chain, path } });
  }
  for (const l of recs.layers) {
    if (recs.usedLayers.has(l.chainId) || recs.pinned(l.chainId)) continue;
    const path = join(root, 'layers', 'sha256', l.chainId.replace(/^sha256:/, ''));
    findings.push({ kind: 'layer', id: l.chainId, path, why: 'an unpacked layer no image and no container uses', fix: `image garbage collection removes its record and ${path}`, repair: { action: 'collect-image-garbage', key: l.chainId, path } });
  }
  for (const hex of blobFiles) {
    const digest = `sha256:${hex}`;
    if (recs.usedBlobs.has(digest) || recs.pinned(digest)) continue;
    const path = join(root, 'content', 'blobs', 'sha256', hex);
    findings.push({ kind: 'blob', id: digest, path, why: 'a content blob no image uses', fix: `image garbage collection removes ${path}`, repair: { action: 'collect-image-garbage', key: digest, path } });
  }
  for (const holder of recs.leaseHolders) {
    if (liveC.has(holder)) continue;
    findings.push({ kind: 'lease', id: holder, owner: ID_PATTERN.test(holder) ? holder : undefined, why: `a layer lease held by ${cWhy(holder)}`, fix: 'release the lease (the layers go when nothing else uses them)', repair: { action: 'release-lease', holder } });
  }

  // Records whose host resources are gone.
  for (const c of interrupted) {
    findings.push({ kind: 'record', id: c.id, owner: c.id, why: `container ${short(c.id)}'s CreateContainer was interrupted: the record was never completed`, fix: 'delete the record (its resources are listed and removed separately)', repair: { action: 'delete-container-record', id: c.id } });
  }
  for (const c of recs.containers) {
    if (c.creating || (c.state !== 'CONTAINER_RUNNING' && c.state !== 'CONTAINER_CREATED')) continue;
    if (await conmonAlive(c.conmonPid, c.id)) continue;
    if (await readExitFile(c.paths.exitFile)) continue; // berthd reads it
    findings.push({ kind: 'record', id: c.id, owner: c.id, pid: c.conmonPid, why: `container ${short(c.id)} is recorded ${c.state === 'CONTAINER_RUNNING' ? 'running' : 'created'}, but its conmon (pid ${c.conmonPid}) is gone and left no exit code`, fix: 'mark it exited (code 255, reason Error), as berthd does after a reboot', repair: { action: 'mark-container-exited', id: c.id } });
  }
  for (const s of recs.sandboxes) {
    if (s.state !== 'SANDBOX_READY') continue;
    const ns = s.runtime.namespaces;
    const lost = (['net', 'ipc', 'uts'] as const).filter((k) => ns[k] && !mounted.has(ns[k]!));
    if (!lost.length) continue;
    findings.push({ kind: 'record', id: s.id, owner: s.id, why: `pod ${short(s.id)} is recorded ready, but its pinned ${lost.join(', ')} namespace${lost.length > 1 ? 's are' : ' is'} gone`, fix: 'mark it not ready, so kubelet recreates it', repair: { action: 'mark-sandbox-notready', id: s.id } });
  }
  return { findings, warnings };
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The stable order of findings in reports: by kind as listed in LeakKind, then id. */
export function sortFindings(f: Finding[]): Finding[] {
  const order = ['conmon', 'runtime-process', 'runtime-container', 'pod-init', 'rootfs-mount', 'shm-mount', 'netns-pin', 'veth', 'ip-reservation', 'cgroup', 'systemd-unit', 'directory', 'layer', 'blob', 'lease', 'record'];
  return [...f].sort((a, b) => order.indexOf(a.kind) - order.indexOf(b.kind) || a.id.localeCompare(b.id));
}
