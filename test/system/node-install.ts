// `berth node install` / `uninstall` for real, on a host with systemd as PID 1 (the test
// guest's targeted tier; never on a shared machine: it installs berth on the host it runs
// on). Run as root from a built checkout:
//   node dist/test/system/node-install.js --tarball out/berth-<v>-linux-<arch>.tar.gz
//   node dist/test/system/node-install.js --tarball DIR       (its newest berth-*.tar.gz)
//   node dist/test/system/node-install.js --bundle DIR        (an extracted bundle)
//   --quick: skips the second install (idempotence is covered on a fake root by
//   test/integration/node-install.test.ts; under emulation it costs minutes): the guest tier's way
// In the test guest: `npm run test:guest:install` (builds the release into out/, shares
// out/ as the guest's /results; about 215 s under emulation, 9 checks).
// Checks, printed as they go (`ok <check> (<s>)` / `not ok <check>: <why>`, then
// "N passed, N failed"; exit 1 when any failed):
//   install from the extracted bundle: berth.service active under systemd, its main
//   process the bundled Node under /opt/berth/<v>, CRI Version answering this release on
//   /run/berth/berth.sock; a second install changing nothing; an image imported with the
//   installed `berth`, a pod and a container started through berth's own CRI client (the
//   conformance suite's), the container surviving `systemctl restart berth` (same pid, still
//   running, a new berthd); uninstall refused while the pod runs; `uninstall --force`
//   removing the pod, the unit and every file: the watched paths exactly as before, no
//   unit file, no process from /opt/berth, no conmon, no mount under berth's directories,
//   no cgroup named after the pod or container, no berth0 bridge.
// The image is built here (busybox from the host's busybox-static, written as an OCI
// archive): no registry, no network.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { pathToFileURL } from 'node:url';
import { randomBytes } from 'node:crypto';
import { criClient, type CriClient } from '../../conformance/client.js';
import { buildImage, busyboxLayer } from '../helpers/image-builder.js';
import { writeTar } from '../helpers/tar.js';

const WATCHED = ['/opt/berth', '/etc/berth', '/etc/cni', '/etc/systemd/system', '/usr/local/bin', '/var/lib/berth', '/run/berth', '/var/lib/cni', '/var/log/berth'];
const SOCKET = '/run/berth/berth.sock';

let passed = 0;
let failed = 0;
async function check(name: string, fn: () => Promise<void> | void): Promise<boolean> {
  const started = Date.now();
  try {
    await fn();
    passed++;
    console.log(`ok ${name} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    return true;
  } catch (e) {
    failed++;
    console.log(`not ok ${name}: ${(e as Error).message.replace(/\n/g, '\n#   ')}`);
    return false;
  }
}

function assert(cond: unknown, msg: string): asserts cond {
  if (!cond) throw new Error(msg);
}

function sh(file: string, args: string[]): { code: number; out: string; err: string } {
  const r = spawnSync(file, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  return { code: r.status ?? -1, out: r.stdout ?? '', err: r.stderr ?? '' };
}

function snapshot(paths: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (p: string) => {
    let st;
    try {
      st = lstatSync(p);
    } catch {
      return;
    }
    if (st.isSymbolicLink()) out[p] = `link ${readlinkSync(p)}`;
    else if (st.isDirectory()) {
      out[p] = `dir ${(st.mode & 0o7777).toString(8)}`;
      for (const n of readdirSync(p)) walk(join(p, n));
    } else if (st.isFile()) out[p] = `file ${(st.mode & 0o7777).toString(8)} ${createHash('sha256').update(readFileSync(p)).digest('hex')}`;
    else out[p] = `other ${st.mode.toString(8)}`;
  };
  for (const p of paths) walk(p);
  return out;
}

function diff(a: Record<string, string>, b: Record<string, string>): string[] {
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  return keys.filter((k) => a[k] !== b[k]).map((k) => `${k}: ${a[k] ?? '(absent)'} → ${b[k] ?? '(absent)'}`);
}

/** An OCI image layout archive holding one busybox image named `name`. */
export async function ociArchive(file: string, name: string): Promise<void> {
  const img = await buildImage({ layers: [busyboxLayer()], config: { Cmd: ['sleep', '3600'] } });
  const blobs = [img.config, img.manifest, ...img.layers];
  const index = { schemaVersion: 2, manifests: [{ mediaType: img.manifest.mediaType, digest: img.manifest.digest, size: img.manifest.size, annotations: { 'org.opencontainers.image.ref.name': name } }] };
  writeFileSync(
    file,
    writeTar([
      { path: 'oci-layout', content: JSON.stringify({ imageLayoutVersion: '1.0.0' }) },
      { path: 'index.json', content: JSON.stringify(index) },
      { path: 'blobs', type: 'dir' },
      { path: 'blobs/sha256', type: 'dir' },
      ...blobs.map((b) => ({ path: `blobs/sha256/${b.digest.replace(/^sha256:/, '')}`, content: b.data })),
    ]),
  );
}

function mainPid(): number {
  return Number(sh('systemctl', ['show', '-p', 'MainPID', '--value', 'berth.service']).out.trim());
}

async function waitVersion(client: CriClient, ms = 120_000): Promise<{ runtime_version: string }> {
  const until = Date.now() + ms;
  for (;;) {
    try {
      return await client.call('Version', {}, { timeoutMs: 5000 });
    } catch (e) {
      if (Date.now() > until) throw e;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const opt = (n: string) => (args.indexOf(n) >= 0 ? args[args.indexOf(n) + 1] : undefined);
  const tarball = opt('--tarball');
  let bundle = opt('--bundle');
  if (!tarball === !bundle) throw new Error('usage: node-install.js --tarball FILE | --bundle DIR');
  assert(readFileSync('/proc/1/comm', 'utf8').trim() === 'systemd', 'systemd is not PID 1 here: this test belongs to the guest tier');
  assert(!existsSync('/var/lib/berth/install.json'), 'berth is already installed on this host (/var/lib/berth/install.json)');
  const work = mkdtempSync(join(tmpdir(), 'berth-system-'));
  if (tarball) {
    // A directory (the shared out/): its newest berth-*-linux-*.tar.gz.
    const file = statSync(tarball).isDirectory()
      ? readdirSync(tarball)
          .filter((n) => /^berth-.*-linux-.*\.tar\.gz$/.test(n))
          .map((n) => join(tarball, n))
          .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0]
      : tarball;
    assert(file, `no berth-*-linux-*.tar.gz in ${tarball}`);
    const r = sh('tar', ['-xzf', file, '-C', work]);
    assert(r.code === 0, `tar: ${r.err}`);
    bundle = join(work, readdirSync(work).find((n) => n.startsWith('berth-'))!);
  }
  const version = readFileSync(join(bundle!, 'VERSION'), 'utf8').trim();
  const berthCli = join(bundle!, 'bin/berth');
  const before = snapshot(WATCHED);
  const podUid = randomBytes(6).toString('hex');
  const logDir = `/var/log/pods/berth-system-test_install_${podUid}`;
  let client: CriClient | undefined;
  let podId = '';
  let ctrId = '';
  let ctrPid = 0;

  const installed = await check('berth node install from the extracted bundle', () => {
    const r = sh(berthCli, ['node', 'install']);
    assert(r.code === 0, `exit ${r.code}: ${r.err}${r.out}`);
  });
  if (installed) {
    await check('berth.service is active under systemd, running the bundled Node', () => {
      assert(sh('systemctl', ['is-active', 'berth.service']).out.trim() === 'active', 'not active');
      const exe = readlinkSync(`/proc/${mainPid()}/exe`);
      assert(exe === `/opt/berth/${version}/node/bin/node`, `main process runs ${exe}`);
    });
    client = criClient(`unix://${SOCKET}`);
    await check(`CRI Version answers ${version}`, async () => {
      const v = await waitVersion(client!);
      assert(v.runtime_version === version, `answered ${v.runtime_version}`);
    });
    if (!args.includes('--quick')) await check('a second install changes nothing', () => {
      const mid = snapshot(WATCHED.filter((p) => !['/var/lib/berth', '/run/berth'].includes(p)));
      const r = sh('/usr/local/bin/berth', ['node', 'install']);
      assert(r.code === 0, `exit ${r.code}: ${r.err}`);
      const d = diff(mid, snapshot(WATCHED.filter((p) => !['/var/lib/berth', '/run/berth'].includes(p))));
      assert(d.length === 0, d.join('; '));
    });
    await check('an image imported and a pod with a container started through CRI', async () => {
      const archive = join(work, 'busybox.tar');
      await ociArchive(archive, 'example.com/berth-system-test/busybox:1');
      const r = sh('/usr/local/bin/berth', ['images', 'import', archive]);
      assert(r.code === 0, `berth images import: ${r.err}`);
      const pod = { metadata: { name: 'install', namespace: 'berth-system-test', uid: podUid, attempt: 0 }, hostname: 'install', log_directory: logDir };
      podId = (await client!.call('RunPodSandbox', { config: pod })).pod_sandbox_id;
      ctrId = (
        await client!.call('CreateContainer', {
          pod_sandbox_id: podId,
          config: { metadata: { name: 'sleeper', attempt: 0 }, image: { image: 'example.com/berth-system-test/busybox:1' }, command: ['sleep', '3600'], log_path: 'sleeper.log' },
          sandbox_config: pod,
        })
      ).container_id;
      await client!.call('StartContainer', { container_id: ctrId });
      const st = await client!.call('ContainerStatus', { container_id: ctrId, verbose: true });
      ctrPid = JSON.parse(st.info.info).pid;
      assert(st.status.state === 'CONTAINER_RUNNING' && ctrPid > 0, `state ${st.status.state}, pid ${ctrPid}`);
    });
    await check('the container survives systemctl restart berth', async () => {
      const old = mainPid();
      const r = sh('systemctl', ['restart', 'berth.service']);
      assert(r.code === 0, r.err);
      await waitVersion(client!);
      assert(mainPid() !== old, 'berthd was not restarted');
      process.kill(ctrPid, 0);
      const st = await client!.call('ContainerStatus', { container_id: ctrId });
      assert(st.status.state === 'CONTAINER_RUNNING', `state ${st.status.state}`);
    });
    await check('berth node uninstall refuses while the pod runs', () => {
      const r = sh('/usr/local/bin/berth', ['node', 'uninstall']);
      assert(r.code !== 0 && /pod\(s\) still run on berth: berth-system-test\/install/.test(r.err), `exit ${r.code}: ${r.err}${r.out}`);
      assert(sh('systemctl', ['is-active', 'berth.service']).out.trim() === 'active', 'berth stopped anyway');
    });
  }
  client?.close();
  await check('berth node uninstall --force removes the pod, the unit and everything install added', () => {
    const r = sh(berthCli, ['node', 'uninstall', '--force']);
    assert(r.code === 0, `exit ${r.code}: ${r.err}${r.out}`);
    rmSync(logDir, { recursive: true, force: true });
    const d = diff(before, snapshot(WATCHED));
    assert(d.length === 0, `changed: ${d.join('; ')}`);
  });
  await check('no unit, process, conmon, mount, cgroup or bridge of berth is left', () => {
    const unit = sh('systemctl', ['list-unit-files', 'berth.service', '--no-legend']).out.trim();
    assert(unit === '', `unit file still known: ${unit}`);
    const procs: string[] = [];
    for (const p of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
      try {
        const exe = readlinkSync(`/proc/${p}/exe`);
        const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8');
        if (exe.startsWith('/opt/berth/') || (exe.endsWith('/conmon') && cmd.includes(ctrId || 'berth'))) procs.push(`${p} ${exe}`);
      } catch {
        /* gone */
      }
    }
    assert(procs.length === 0, `processes: ${procs.join(', ')}`);
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => / \/(run|var\/lib)\/berth[/ ]/.test(l));
    assert(mounts.length === 0, `mounts: ${mounts.join('; ')}`);
    const ids = [podId, ctrId].filter(Boolean);
    const cg = ids.length ? sh('find', ['/sys/fs/cgroup', '-type', 'd', '(', ...ids.flatMap((id, i) => [...(i ? ['-o'] : []), '-name', `*${id.slice(0, 12)}*`]), ')']).out.trim() : '';
    assert(cg === '', `cgroups: ${cg}`);
    assert(sh('ip', ['link', 'show', 'berth0']).code !== 0, 'bridge berth0 is still there');
  });
  rmSync(work, { recursive: true, force: true });
  console.log(`${passed} passed, ${failed} failed`);
  process.exitCode = failed ? 1 : 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e: unknown) => {
    console.log(`not ok setup: ${(e as Error).message}`);
    console.log(`${passed} passed, ${failed + 1} failed`);
    process.exitCode = 1;
  });
}
