// The targeted guest tier, run INSIDE the test guest (Debian 12, systemd as PID 1, pure
// cgroup v2) by `npm run test:guest`: a test berthd with its own socket, state and CNI
// bridge, a local registry with a busybox image, and for each configuration (cgroup driver ×
// runtime handler) a pod and a container with CPU and memory limits read back from the
// container's own cgroup (found from /proc/<pid>/cgroup, never assumed: crun under the
// systemd driver uses a `container` child), the same after UpdateContainerResources,
// ContainerStats, an OOM kill (exit 137, OOMKilled), and stop/remove leaving no cgroup,
// conmon or pod cgroup behind. Drivers: cgroupfs (configured) and systemd (berthd's default,
// auto, must pick it here: RuntimeConfig says SYSTEMD), whose pods are slices berth starts
// and stops, containers scopes, conmon a scope of its own; with systemd no scope or slice
// may be left. Last, berthd in a transient service unit (KillMode=control-group): stopping
// the unit must leave conmon and the container running, and the next berthd finds it.
// AppArmor (on in the guest): a container that asks for nothing runs under berth-default,
// Localhost applies a profile the tier loads, Unconfined none, and a profile that is not
// loaded is refused.
// The container's cgroup files are copied to /results for the unit tests' v2 fixtures. The
// metrics endpoint shows an io.max limit set through the unified map, and the PSI families.
// With `--install TARBALL` (main.js tier --release …, as CI runs it), the same boot then runs
// test/system/node-install.js on that release: `berth node install` for real under systemd,
// a pod through the conformance suite's CRI client, a container surviving `systemctl restart
// berth`, uninstall leaving nothing; its checks are printed and counted with the tier's.
//
// A plain async script rather than ava: Node is 30-90x slower under emulation, so one
// process, one berthd per driver, and checks that print as they go:
//   ok <config> <check> (<seconds>)          not ok <config> <check>: <why>
// ending with the line "N passed, N failed"; the exit status is 1 when any failed.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { BERTHD, podConfig, startBerthd, type TestBerthd } from '../helpers/berthd.js';
import { criClient } from '../../conformance/client.js';
import { BERTHD_NODE_FLAGS, berthdEnvWords } from '../../server/node-flags.js';
import { expandSlice } from '../../server/cgroups/paths.js';
import { run } from '../../server/exec.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { buildImage, busyboxLayer, pushImage } from '../helpers/image-builder.js';

interface Config {
  /** "cgroupfs/runc", … */
  name: string;
  driver: 'cgroupfs' | 'systemd';
  handler: 'runc' | 'crun';
  /** The pod's cgroup_parent in the form the driver expects. */
  cgroupParent(): string;
  /** The absolute cgroupfs directory of that parent. */
  parentDir(parent: string): string;
}

const CGROUP_ROOT = '/sys/fs/cgroup';

function cgroupfsConfig(handler: Config['handler']): Config {
  return {
    name: `cgroupfs/${handler}`,
    driver: 'cgroupfs',
    handler,
    cgroupParent: () => `/berth-guest-${randomBytes(4).toString('hex')}`,
    parentDir: (p) => join(CGROUP_ROOT, p),
  };
}

/** Slice names as kubelet sends them with the systemd driver: "<parent>-pod<uid>.slice". */
function systemdConfig(handler: Config['handler']): Config {
  return {
    name: `systemd/${handler}`,
    driver: 'systemd',
    handler,
    cgroupParent: () => `berthg${randomBytes(4).toString('hex')}-pod1.slice`,
    parentDir: (p) => join(CGROUP_ROOT, expandSlice(p)),
  };
}

const CONFIGS: Config[] = [cgroupfsConfig('runc'), cgroupfsConfig('crun'), systemdConfig('runc'), systemdConfig('crun')];

// ---- reporting -------------------------------------------------------------------------

let passed = 0;
let failed = 0;
const t0 = Date.now();
const elapsed = (since: number) => ((Date.now() - since) / 1000).toFixed(1);

function log(msg: string): void {
  process.stdout.write(`# [${elapsed(t0)}s] ${msg}\n`);
}

class CheckFailed extends Error {}

function assert(cond: unknown, msg: string): asserts cond {
  if (!cond) throw new CheckFailed(msg);
}

function eq<T>(actual: T, expected: T, what: string): void {
  if (actual !== expected) throw new CheckFailed(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
}

/** Runs one check; returns whether it passed. Later checks of a configuration may depend on earlier ones. */
async function check(config: string, name: string, fn: () => Promise<void>): Promise<boolean> {
  const start = Date.now();
  try {
    await fn();
    passed++;
    process.stdout.write(`ok ${config} ${name} (${elapsed(start)}s)\n`);
    return true;
  } catch (e) {
    failed++;
    const why = e instanceof CheckFailed ? e.message : e instanceof Error ? (e.stack ?? e.message) : String(e);
    process.stdout.write(`not ok ${config} ${name}: ${why}\n`);
    return false;
  }
}

function skip(config: string, names: string[], why: string): void {
  for (const n of names) {
    failed++;
    process.stdout.write(`not ok ${config} ${n}: not run (${why})\n`);
  }
}

// ---- helpers ---------------------------------------------------------------------------

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Under emulation: generous waits (they bound a failure, they are not timings). */
const WAIT_MS = 180_000;

async function waitState(b: TestBerthd, id: string, state: string, ms = WAIT_MS) {
  const deadline = Date.now() + ms;
  for (;;) {
    const st = (await b.client.call('ContainerStatus', { container_id: id })).status;
    if (st.state === state) return st;
    if (Date.now() > deadline) throw new CheckFailed(`container is ${st.state}, not ${state}, after ${ms / 1000} s`);
    await sleep(250);
  }
}

/** The container's own cgroup directory, from its init process's /proc/<pid>/cgroup ("0::/path"). */
async function cgroupOfPid(pid: number): Promise<string> {
  const text = await readFile(`/proc/${pid}/cgroup`, 'utf8');
  const line = text.split('\n').find((l) => l.startsWith('0::'));
  assert(line, `/proc/${pid}/cgroup has no cgroup v2 line: ${JSON.stringify(text)}`);
  return join(CGROUP_ROOT, line.slice(3));
}

async function readCg(dir: string, file: string): Promise<string> {
  return (await readFile(join(dir, file), 'utf8')).trim();
}

async function conmonsOf(id: string): Promise<number[]> {
  const found: number[] = [];
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const cmd = await readFile(`/proc/${pid}/cmdline`, 'latin1');
      if (cmd.startsWith('/usr/bin/conmon') && cmd.includes(id)) found.push(Number(pid));
    } catch {
      /* gone */
    }
  }
  return found;
}

/** v2 cpu.weight from v1 shares, as runc and crun convert them. */
const weightOf = (shares: number) => 1 + Math.floor(((shares - 2) * 9999) / 262142);

// ---- one configuration -----------------------------------------------------------------

const CHECKS = [
  'pod and container run',
  'limits at create are in the container cgroup',
  'UpdateContainerResources changes the cgroup',
  'ContainerStats from the cgroup',
  'OOM kill: exit 137, reason OOMKilled',
  'stop and remove leave no cgroup, conmon or pod cgroup',
  'AppArmor: RuntimeDefault unless asked otherwise, Localhost and Unconfined as asked',
  'metrics endpoint: an io.max limit from the unified map, limits and pressure families',
];

/** A Localhost profile the tier loads for the AppArmor check (complain mode: it only names). */
const TEST_PROFILE = 'berth-guest-test';
const TEST_PROFILE_FILE = `/run/${TEST_PROFILE}.apparmor`;

/** The first whole disk of the guest ("254:0"): io.max takes disks, not partitions. */
async function wholeDisk(): Promise<string> {
  for (const line of (await readFile('/proc/partitions', 'utf8')).split('\n').slice(2)) {
    const [major, minor, , name] = line.trim().split(/\s+/);
    if (name && major && minor && !existsSync(`/sys/dev/block/${major}:${minor}/partition`) && !/^(loop|zram|ram)/.test(name)) return `${major}:${minor}`;
  }
  throw new CheckFailed('no whole block device in /proc/partitions');
}

/** Polls the metrics endpoint until every pattern matches (a new container shows at the next sampling round). */
async function scrapeUntil(b: TestBerthd, patterns: RegExp[], ms = WAIT_MS): Promise<string> {
  const url = b.metricsUrl();
  assert(url, 'berthd serves no metrics endpoint');
  const deadline = Date.now() + ms;
  for (;;) {
    const text = await (await fetch(url)).text();
    const missing = patterns.filter((p) => !p.test(text));
    if (missing.length === 0) return text;
    if (Date.now() > deadline) throw new CheckFailed(`the scrape lacks ${missing.map(String).join(', ')}`);
    await new Promise((r) => setTimeout(r, 2000));
  }
}

async function runConfig(c: Config, b: TestBerthd, image: string): Promise<void> {
  const parent = c.cgroupParent();
  const config = podConfig(b, `g-${c.handler}`, { linux: { cgroup_parent: parent } });
  let podId = '';
  let ctrId = '';
  let pid = 0;
  let cgDir = '';
  const MiB = 1024 * 1024;
  const ok = await check(c.name, CHECKS[0]!, async () => {
    podId = (await b.client.call('RunPodSandbox', { config, runtime_handler: c.handler }, { timeoutMs: WAIT_MS })).pod_sandbox_id;
    const ctr = {
      metadata: { name: 'limited', attempt: 0 },
      image: { image },
      // Writes 3 MiB to the writable layer, then stays busy (capped at half a CPU by its quota).
      command: ['/bin/sh', '-c', 'dd if=/dev/zero of=/big bs=1M count=3 2>/dev/null; while true; do :; done'],
      log_path: 'limited/0.log',
      linux: {
        resources: { cpu_period: '100000', cpu_quota: '50000', cpu_shares: '512', memory_limit_in_bytes: String(64 * MiB), unified: { 'memory.high': String(48 * MiB) } },
      },
    };
    ctrId = (await b.client.call('CreateContainer', { pod_sandbox_id: podId, config: ctr, sandbox_config: config }, { timeoutMs: WAIT_MS })).container_id;
    await b.client.call('StartContainer', { container_id: ctrId }, { timeoutMs: WAIT_MS });
    await waitState(b, ctrId, 'CONTAINER_RUNNING');
    const v = await b.client.call('ContainerStatus', { container_id: ctrId, verbose: true });
    pid = JSON.parse(v.info.info).pid as number;
    assert(pid > 0 && existsSync(`/proc/${pid}`), `verbose status has no live pid (${pid})`);
    const rc = await b.client.call('RuntimeConfig', {});
    eq(rc.linux?.cgroup_driver, c.driver.toUpperCase(), 'RuntimeConfig cgroup_driver');
    if (c.driver === 'systemd') {
      const conmon = JSON.parse(v.info.info).conmonPid as number | undefined;
      if (conmon) {
        const where = (await readFile(`/proc/${conmon}/cgroup`, 'utf8')).trim();
        assert(where.endsWith(`/berth-conmon-${ctrId}.scope`), `conmon is in ${where}, not its own scope`);
      }
      log(`container cgroup: ${(await readFile(`/proc/${pid}/cgroup`, 'utf8')).trim()}`);
    }
  });
  if (!ok) {
    skip(c.name, [...CHECKS.slice(1, 5), CHECKS[7]!], 'no running container');
  } else {
    await check(c.name, CHECKS[1]!, async () => {
      cgDir = await cgroupOfPid(pid);
      assert(cgDir.startsWith(`${c.parentDir(parent)}/`), `the container cgroup ${cgDir} is not under the pod's parent ${c.parentDir(parent)}`);
      eq(await readCg(cgDir, 'cpu.max'), '50000 100000', `${cgDir}/cpu.max`);
      eq(await readCg(cgDir, 'cpu.weight'), String(weightOf(512)), `${cgDir}/cpu.weight (shares 512)`);
      eq(await readCg(cgDir, 'memory.max'), String(64 * MiB), `${cgDir}/memory.max`);
      // No swap asked for: swap limited to the memory limit, i.e. none on v2.
      eq(await readCg(cgDir, 'memory.swap.max'), '0', `${cgDir}/memory.swap.max`);
      eq(await readCg(cgDir, 'memory.high'), String(48 * MiB), `${cgDir}/memory.high (from the unified map)`);
      // Inside, the container's cgroup namespace shows its own cgroup as the root.
      const r = await b.client.call('ExecSync', { container_id: ctrId, cmd: ['cat', '/sys/fs/cgroup/memory.max'], timeout: 120 }, { timeoutMs: WAIT_MS });
      eq(r.exit_code, 0, `ExecSync exit (stderr ${Buffer.from(r.stderr).toString().trim()})`);
      eq(Buffer.from(r.stdout).toString().trim(), String(64 * MiB), 'memory.max seen inside the container');
    });
    await check(c.name, CHECKS[2]!, async () => {
      assert(cgDir !== '', 'no cgroup found by the previous check');
      const updated = { cpu_period: '200000', cpu_quota: '100000', cpu_shares: '1024', memory_limit_in_bytes: String(128 * MiB) };
      await b.client.call('UpdateContainerResources', { container_id: ctrId, linux: updated }, { timeoutMs: WAIT_MS });
      eq(await readCg(cgDir, 'cpu.max'), '100000 200000', `${cgDir}/cpu.max after update`);
      eq(await readCg(cgDir, 'cpu.weight'), String(weightOf(1024)), `${cgDir}/cpu.weight after update (shares 1024)`);
      eq(await readCg(cgDir, 'memory.max'), String(128 * MiB), `${cgDir}/memory.max after update`);
      const res = (await b.client.call('ContainerStatus', { container_id: ctrId })).status.resources?.linux;
      eq(res?.cpu_quota, '100000', 'ContainerStatus resources cpu_quota');
      eq(res?.memory_limit_in_bytes, String(128 * MiB), 'ContainerStatus resources memory_limit_in_bytes');
    });
    await check(c.name, CHECKS[3]!, async () => {
      const s = (await b.client.call('ContainerStats', { container_id: ctrId })).stats;
      eq(s.attributes?.id, ctrId, 'stats id');
      assert(s.cpu && BigInt(s.cpu.usage_core_nano_seconds?.value ?? '0') > 0n, `no CPU usage: ${JSON.stringify(s.cpu)}`);
      assert(s.memory && BigInt(s.memory.working_set_bytes?.value ?? '0') > 0n, `no memory working set: ${JSON.stringify(s.memory)}`);
      const cpuStat = await readCg(cgDir, 'cpu.stat');
      const usec = BigInt(/usage_usec (\d+)/.exec(cpuStat)?.[1] ?? '0');
      // Read after the stats call: the cgroup's counter can only have grown since.
      assert(BigInt(s.cpu.usage_core_nano_seconds.value) <= usec * 1000n + 1000n, `stats CPU ${s.cpu.usage_core_nano_seconds.value} ns is more than cpu.stat's ${usec} µs`);
      assert(BigInt(s.writable_layer?.used_bytes?.value ?? '0') >= 3n * 1024n * 1024n, `writable layer ${JSON.stringify(s.writable_layer)} lacks the 3 MiB file`);
      // Real cgroup v2 files for the unit tests' fixtures (test/unit/cgroup-v2-real.test.ts).
      if (existsSync('/results')) {
        const out = join('/results', c.name.replace('/', '-'));
        await mkdir(out, { recursive: true });
        for (const f of ['cpu.stat', 'cpu.max', 'cpu.weight', 'memory.current', 'memory.max', 'memory.swap.max', 'memory.stat', 'memory.events', 'memory.peak', 'io.stat', 'pids.current', 'pids.max', 'cpu.pressure', 'memory.pressure', 'io.pressure', 'hugetlb.2MB.max', 'hugetlb.2MB.current', 'hugetlb.2MB.events']) {
          try {
            await writeFile(join(out, f), await readFile(join(cgDir, f), 'utf8'));
          } catch {
            /* not there on this kernel */
          }
        }
        await writeFile(join(out, 'proc-cgroup'), await readFile(`/proc/${pid}/cgroup`, 'utf8'));
      }
      const ps = (await b.client.call('PodSandboxStats', { pod_sandbox_id: podId })).stats;
      eq(ps.attributes?.id, podId, 'pod stats id');
      assert(ps.linux?.cpu && BigInt(ps.linux.cpu.usage_core_nano_seconds?.value ?? '0') > 0n, `no pod CPU usage: ${JSON.stringify(ps.linux?.cpu)}`);
    });
    await check(c.name, CHECKS[7]!, async () => {
      // CRI has no I/O fields: on v2 the limit comes through the unified map, and the
      // endpoint reads it back from the container's io.max.
      const disk = await wholeDisk();
      const io = {
        metadata: { name: 'iolimited', attempt: 0 },
        image: { image },
        command: ['/bin/sh', '-c', 'sleep 100000'],
        log_path: 'iolimited/0.log',
        linux: { resources: { memory_limit_in_bytes: String(32 * MiB), unified: { 'io.max': `${disk} rbps=1048576 wiops=120` } } },
      };
      const id = (await b.client.call('CreateContainer', { pod_sandbox_id: podId, config: io, sandbox_config: config }, { timeoutMs: WAIT_MS })).container_id;
      try {
        await b.client.call('StartContainer', { container_id: id }, { timeoutMs: WAIT_MS });
        const [major, minor] = disk.split(':');
        const dev = `major="${major}",minor="${minor}"`;
        const sel = (name: string) => new RegExp(`^${name}\\{container="iolimited",[^}]*\\} `, 'm');
        const text = await scrapeUntil(b, [
          new RegExp(`^container_spec_fs_read_bytes_per_second_limit\\{container="iolimited",[^}]*${dev}\\} 1048576$`, 'm'),
          new RegExp(`^container_spec_fs_writes_per_second_limit\\{container="iolimited",[^}]*${dev}\\} 120$`, 'm'),
          new RegExp(`^container_spec_memory_limit_bytes\\{container="iolimited",[^}]*\\} ${32 * MiB}$`, 'm'),
          new RegExp(`^container_spec_cpu_quota\\{container="limited",[^}]*\\} 100000$`, 'm'),
          sel('container_pressure_cpu_waiting_seconds_total'),
          sel('container_pressure_memory_stalled_seconds_total'),
          sel('container_pressure_io_waiting_seconds_total'),
        ]);
        assert(!/^container_spec_fs_write_bytes_per_second_limit\{container="iolimited"/m.test(text), 'wbps=max shows no write-bandwidth series');
      } finally {
        await b.client.call('StopContainer', { container_id: id, timeout: 0 }, { timeoutMs: WAIT_MS });
        await b.client.call('RemoveContainer', { container_id: id }, { timeoutMs: WAIT_MS });
      }
    });
    await check(c.name, CHECKS[4]!, async () => {
      const hog = {
        metadata: { name: 'hog', attempt: 0 },
        image: { image },
        command: ['/bin/sh', '-c', 'tail /dev/zero'],
        log_path: 'hog/0.log',
        linux: { resources: { memory_limit_in_bytes: String(16 * MiB) } },
      };
      const id = (await b.client.call('CreateContainer', { pod_sandbox_id: podId, config: hog, sandbox_config: config }, { timeoutMs: WAIT_MS })).container_id;
      await b.client.call('StartContainer', { container_id: id }, { timeoutMs: WAIT_MS });
      const st = await waitState(b, id, 'CONTAINER_EXITED');
      eq(st.exit_code, 137, 'exit code');
      eq(st.reason, 'OOMKilled', 'reason');
      await b.client.call('RemoveContainer', { container_id: id }, { timeoutMs: WAIT_MS });
    });
  }
  if (ok) {
    await check(c.name, CHECKS[6]!, async () => {
      eq((await readFile(`/proc/${pid}/attr/current`, 'utf8')).trim(), 'berth-default (enforce)', 'AppArmor label of a container that asked for nothing');
      const labelOf = async (name: string, sc: object) => {
        const ctr = { metadata: { name, attempt: 0 }, image: { image }, command: ['sleep', '3600'], log_path: `${name}/0.log`, linux: { security_context: sc } };
        const id = (await b.client.call('CreateContainer', { pod_sandbox_id: podId, config: ctr, sandbox_config: config }, { timeoutMs: WAIT_MS })).container_id;
        await b.client.call('StartContainer', { container_id: id }, { timeoutMs: WAIT_MS });
        await waitState(b, id, 'CONTAINER_RUNNING');
        const p = JSON.parse((await b.client.call('ContainerStatus', { container_id: id, verbose: true })).info.info).pid as number;
        const label = (await readFile(`/proc/${p}/attr/current`, 'utf8')).trim();
        await b.client.call('StopContainer', { container_id: id, timeout: 0 }, { timeoutMs: WAIT_MS });
        await b.client.call('RemoveContainer', { container_id: id }, { timeoutMs: WAIT_MS });
        return label;
      };
      eq(await labelOf('aa-local', { apparmor: { profile_type: 'Localhost', localhost_ref: `localhost/${TEST_PROFILE}` } }), `${TEST_PROFILE} (complain)`, 'Localhost profile');
      eq(await labelOf('aa-unconf', { apparmor: { profile_type: 'Unconfined' } }), 'unconfined', 'Unconfined');
      let refused = '';
      await b.client.call('CreateContainer', { pod_sandbox_id: podId, config: { metadata: { name: 'aa-missing', attempt: 0 }, image: { image }, command: ['true'], log_path: 'aa-missing/0.log', linux: { security_context: { apparmor_profile: 'localhost/not-loaded' } } }, sandbox_config: config }, { timeoutMs: WAIT_MS }).catch((e: Error) => {
        refused = e.message;
      });
      assert(/FAILED_PRECONDITION|not loaded/.test(refused), `a profile that is not loaded: ${refused || 'accepted'}`);
    });
  }
  await check(c.name, CHECKS[5]!, async () => {
    assert(podId !== '', 'no pod was created');
    if (ctrId !== '') {
      await b.client.call('StopContainer', { container_id: ctrId, timeout: 2 }, { timeoutMs: WAIT_MS });
      const st = await waitState(b, ctrId, 'CONTAINER_EXITED');
      assert(st.exit_code !== 0, `the stopped container's exit code is ${st.exit_code}`);
      await b.client.call('RemoveContainer', { container_id: ctrId }, { timeoutMs: WAIT_MS });
      assert(cgDir === '' || !existsSync(cgDir), `the container cgroup ${cgDir} is still there`);
      eq((await conmonsOf(ctrId)).length, 0, 'conmon processes of the container');
    }
    await b.client.call('StopPodSandbox', { pod_sandbox_id: podId }, { timeoutMs: WAIT_MS });
    await b.client.call('RemovePodSandbox', { pod_sandbox_id: podId }, { timeoutMs: WAIT_MS });
    assert(!existsSync(c.parentDir(parent)), `the pod's cgroup parent ${c.parentDir(parent)} is still there`);
    if (c.driver === 'systemd') {
      const top = join(CGROUP_ROOT, expandSlice(parent).split('/')[1]!);
      assert(!existsSync(top), `the parent slice berth started (${top}) is still there`);
      const units = (await run('systemctl', ['list-units', '--all', '--plain', '--no-legend', 'berth-*.scope', parent.split('-')[0] + '*'], { allowFailure: true })).stdout.trim();
      eq(units, '', 'berth scopes and slices left in systemd');
    }
    const left = (await b.client.call('ListContainers', {})).containers.length;
    eq(left, 0, 'containers left in berthd');
  });
}

// ---- berthd as a systemd service ---------------------------------------------------------

/**
 * berthd in a transient service with systemd's default KillMode=control-group: stopping the
 * unit kills everything left in its cgroup, so a container (and its conmon) survives only if
 * the systemd driver placed them in scopes of their own. Then a new berthd in the same unit
 * finds the container still running and removes it cleanly.
 */
async function unitRestart(image: string): Promise<void> {
  const name = 'systemd/runc';
  const unit = `berth-tier-${randomBytes(4).toString('hex')}.service`;
  let b: TestBerthd | undefined;
  let podId = '';
  let ctrId = '';
  const startUnit = async (t: TestBerthd) => {
    const args = [...BERTHD_NODE_FLAGS, BERTHD, '--config', join(t.dir, 'none.toml'), '--socket', t.socket, '--root', t.root, '--state', t.state, '--pod-log-root', t.logRoot, '--cni-conf-dir', t.net.confDir, '--shutdown-timeout', '5'];
    await run('systemd-run', ['--unit', unit, '--collect', '--property=KillMode=control-group', ...berthdEnvWords().map((w) => `--setenv=${w}`), '--', process.execPath, ...args]);
    t.client?.close();
    t.client = criClient(`unix://${t.socket}`);
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      try {
        await t.client.call('Version', {});
        return;
      } catch (e) {
        if (Date.now() > deadline) throw new CheckFailed(`berthd in ${unit} does not serve: ${(e as Error).message}`);
        await sleep(250);
      }
    }
  };
  try {
    const ok = await check(name, `berthd in ${unit}: stopping the unit leaves conmon and the container running`, async () => {
      b = await startBerthd({ startTimeoutMs: WAIT_MS });
      await b.stop(); // keep its directories and CNI network; berthd itself runs in the unit from here
      await startUnit(b);
      await b.client.call('PullImage', { image: { image } }, { service: 'image', timeoutMs: WAIT_MS });
      const parent = `berthu${randomBytes(4).toString('hex')}-pod1.slice`;
      const config = podConfig(b, 'unit', { linux: { cgroup_parent: parent } });
      podId = (await b.client.call('RunPodSandbox', { config }, { timeoutMs: WAIT_MS })).pod_sandbox_id;
      ctrId = (await b.client.call('CreateContainer', { pod_sandbox_id: podId, config: { metadata: { name: 'sleeper', attempt: 0 }, image: { image }, command: ['sleep', '3600'], log_path: 'sleeper/0.log' }, sandbox_config: config }, { timeoutMs: WAIT_MS })).container_id;
      await b.client.call('StartContainer', { container_id: ctrId }, { timeoutMs: WAIT_MS });
      await waitState(b, ctrId, 'CONTAINER_RUNNING');
      const info = JSON.parse((await b.client.call('ContainerStatus', { container_id: ctrId, verbose: true })).info.info) as { pid: number; conmonPid: number };
      b.client.close();
      await run('systemctl', ['stop', unit]);
      assert(existsSync(`/proc/${info.pid}`), `the container's process ${info.pid} died with berthd's unit`);
      assert(existsSync(`/proc/${info.conmonPid}`), `conmon ${info.conmonPid} died with berthd's unit`);
      await startUnit(b);
      const st = (await b.client.call('ContainerStatus', { container_id: ctrId })).status;
      eq(st.state, 'CONTAINER_RUNNING', 'the container after berthd came back');
    });
    if (!ok && b) log(`journal of ${unit}:\n${(await run('journalctl', ['-u', unit, '--no-pager', '-n', '60'], { allowFailure: true })).stdout}`);
  } finally {
    if (b) {
      await check(name, `berthd in ${unit}: remove leaves nothing`, async () => {
        assert(b, 'no berthd');
        if (ctrId) await b.client.call('RemoveContainer', { container_id: ctrId }, { timeoutMs: WAIT_MS });
        if (podId) {
          await b.client.call('StopPodSandbox', { pod_sandbox_id: podId }, { timeoutMs: WAIT_MS });
          await b.client.call('RemovePodSandbox', { pod_sandbox_id: podId }, { timeoutMs: WAIT_MS });
        }
        const units = (await run('systemctl', ['list-units', '--all', '--plain', '--no-legend', 'berth-*.scope', 'berthu*'], { allowFailure: true })).stdout.trim();
        eq(units, '', 'berth scopes and slices left in systemd');
      });
      b.client?.close();
      await run('systemctl', ['stop', unit], { allowFailure: true });
      await b.cleanup();
    }
  }
}

// ---- berth node install for real (test/system/node-install.ts) -----------------------------

/** Runs the install checks in a child process (they install berth on this guest), counting its results. */
async function nodeInstall(tarball: string): Promise<void> {
  log(`node install: ${tarball}`);
  const child = spawn(process.execPath, ['dist/test/system/node-install.js', '--tarball', tarball, '--quick'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  let pending = '';
  // Line by line: its checks read "ok install …", its summary becomes a comment (the tier prints the total).
  const emit = (line: string) => process.stdout.write(`${line.replace(/^(ok|not ok) /, '$1 install ').replace(/^(\d+ passed, \d+ failed)$/, '# install: $1')}\n`);
  child.stdout.on('data', (b: Buffer) => {
    out += b.toString();
    const lines = (pending + b.toString()).split('\n');
    pending = lines.pop()!;
    lines.forEach(emit);
  });
  const code = await new Promise<number>((resolve) => child.once('close', (c, sig) => resolve(c ?? (sig ? 128 : 1))));
  if (pending) emit(pending);
  const m = /^(\d+) passed, (\d+) failed$/m.exec(out);
  if (!m) {
    failed++;
    process.stdout.write(`not ok install node-install.js: exit ${code} without a summary\n`);
    return;
  }
  passed += Number(m[1]);
  failed += Number(m[2]);
  if (code !== 0 && Number(m[2]) === 0) {
    failed++;
    process.stdout.write(`not ok install node-install.js: exit ${code}\n`);
  }
}

// ---- main ------------------------------------------------------------------------------

async function main(): Promise<void> {
  if (process.env.BERTH_GUEST !== '1') {
    process.stderr.write('tier: this runs inside the test guest: use `npm run test:guest`\n');
    process.exit(2);
  }
  const args = process.argv.slice(2);
  const install = args[0] === '--install' && args[1] ? args[1] : undefined;
  if (args.length > 0 && !install) {
    process.stderr.write('usage: tier.js [--install TARBALL]\n');
    process.exit(2);
  }
  const firstLine = (cmd: string) => (spawnSync(cmd, ['--version'], { encoding: 'utf8' }).stdout ?? '').split('\n')[0]!.trim() || `${cmd}: not found`;
  log(`node ${process.version}, kernel ${(await readFile('/proc/sys/kernel/osrelease', 'utf8')).trim()}, ${firstLine('runc')}, ${firstLine('crun')}, ${firstLine('conmon')}`);
  await check('guest', 'cgroup v2 only, systemd as PID 1', async () => {
    const mounts = await readFile('/proc/self/mountinfo', 'utf8');
    assert(/ \/sys\/fs\/cgroup .* - cgroup2 /.test(mounts), 'no cgroup2 mount at /sys/fs/cgroup');
    assert(!/ - cgroup /.test(mounts), 'a cgroup v1 hierarchy is mounted');
    eq((await readFile('/proc/1/comm', 'utf8')).trim(), 'systemd', 'PID 1');
  });

  let reg: TestRegistry | undefined;
  const drivers = [...new Set(CONFIGS.map((c) => c.driver))];
  try {
    let image = '';
    await check('setup', 'AppArmor enabled, a Localhost test profile loaded', async () => {
      eq((await readFile('/sys/module/apparmor/parameters/enabled', 'utf8')).trim(), 'Y', 'AppArmor enabled in the kernel');
      await writeFile(TEST_PROFILE_FILE, `profile ${TEST_PROFILE} flags=(attach_disconnected,mediate_deleted,complain) {\n  file,\n  network,\n  capability,\n}\n`);
      await run('apparmor_parser', ['-Kr', TEST_PROFILE_FILE]);
    });
    const imageOk = await check('setup', 'registry with a busybox image', async () => {
      reg = await startRegistry();
      await pushImage(reg.url, 'test/busybox', 'v1', await buildImage({ layers: [busyboxLayer()], config: { Cmd: ['/bin/sh'] } }));
      image = `${reg.host}/test/busybox:v1`;
    });
    for (const driver of drivers) {
      const configs = CONFIGS.filter((c) => c.driver === driver);
      let b: TestBerthd | undefined;
      try {
        const started = imageOk && (await check(driver, 'berthd starts, pulls the image, reports its handlers ready and crun as its default handler', async () => {
          const s = Date.now();
          b = await startBerthd({ startTimeoutMs: WAIT_MS, configToml: driver === 'systemd' ? '' : `cgroup_driver = "${driver}"\n` }); // systemd: the default, auto
          log(`berthd serving after ${elapsed(s)} s`);
          await b.client.call('PullImage', { image: { image } }, { service: 'image', timeoutMs: WAIT_MS });
          const st = await b.client.call('Status', { verbose: true });
          const handlers = JSON.parse(st.info.handlers) as Array<{ name: string; ready: boolean; reason: string }>;
          for (const c of configs) {
            const h = handlers.find((x) => x.name === c.handler);
            assert(h?.ready, `handler ${c.handler} not ready: ${h?.reason ?? 'not listed'}`);
          }
          // The embedded default_runtime, auto, takes crun on this cgroup v2 host.
          const def = (JSON.parse(st.info.config) as { default_runtime: string }).default_runtime;
          assert(def === 'crun', `default_runtime auto resolved to ${def}, not crun, on a cgroup v2 host with crun`);
        }));
        for (const c of configs) {
          if (!started || !b) skip(c.name, CHECKS, 'berthd did not start');
          else await runConfig(c, b, image);
        }
      } finally {
        if (b) {
          const code = await b.stop();
          if (code !== 0) log(`berthd exited ${code}; its stderr:\n${b.stderr()}`);
          else if (failed > 0) log(`berthd stderr (last 60 lines):\n${b.stderr().split('\n').slice(-60).join('\n')}`);
          await b.cleanup();
        }
      }
    }
    if (imageOk) await unitRestart(image);
  } finally {
    await run('apparmor_parser', ['-R', TEST_PROFILE_FILE], { allowFailure: true });
    await rm(TEST_PROFILE_FILE, { force: true });
    await reg?.stop();
  }
  if (install) await nodeInstall(install);
  process.stdout.write(`${passed} passed, ${failed} failed\n`);
  process.exitCode = failed > 0 ? 1 : 0;
}

main().catch((e: unknown) => {
  process.stdout.write(`not ok tier: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n${passed} passed, ${failed + 1} failed\n`);
  process.exitCode = 1;
});
