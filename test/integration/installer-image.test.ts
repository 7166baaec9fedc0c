// The installer image (release/image.ts) end to end on this machine, without a Docker
// daemon: a release bundle built from this tree, its OCI layout written by our own code and
// checked (one gzip layer whose diff_id matches, the bundle's files at /opt/berth-release,
// links to its launchers, the dynamic loader and the libraries the bundled Node needs),
// pushed with pushLayout to a local registry (Debian's docker-registry on loopback), pulled
// by a test berthd over CRI and run by berth itself as a container whose /host is a fake
// node's root directory: `berth node install --host-root /host --no-start` must lay berth
// out in that root (the bundle at /opt/berth/<version> passing its checksums, current,
// /usr/local/bin links, config, unit, the install manifest), a second run must change
// nothing, and the image's `berth metrics-proxy` must start as the chart runs it (uid
// 65534, a read-only root) far enough to refuse outside a pod.
// Not covered here: systemd, apt and nsenter into the node's PID 1 from the container
// (--no-start runs no host command; the guest tier installs for real under systemd from the
// tarball), a Kubernetes node (no cluster here).
import anyTest, { type TestFn } from 'ava';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { createHash } from 'node:crypto';
import { buildBundle } from '../../release/bundle.js';
import { buildInstallerImage, IMAGE_BUNDLE, MEDIA, pushLayout, type ImageResult } from '../../release/image.js';
import { verifyTree, readBundle } from '../../cli/node/bundle.js';
import { isRoot, podConfig, startBerthd, TEST_PREFIX, type TestBerthd } from '../helpers/berthd.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { makeFakeNode, snapshot } from '../helpers/fake-host.js';

interface Ctx {
  work: string;
  image: ImageResult;
  reg: TestRegistry;
  b: TestBerthd;
  ref: string;
}
const test = anyTest as TestFn<Ctx>;
const rootOnly = isRoot() ? test.serial : test.serial.skip;
if (!isRoot()) console.log('installer image tests skipped: they need root');

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const dist = fileURLToPath(new URL('../../', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test.before(async (t) => {
  if (!isRoot()) return;
  const work = mkdtempSync(TEST_PREFIX + 'image-');
  t.context.work = work;
  const r = await buildBundle({ repo, dist, outDir: join(work, 'out'), tarball: false });
  t.context.image = await buildInstallerImage({ bundle: r.stage, out: join(work, 'layout') });
  t.context.reg = await startRegistry();
  t.context.ref = await pushLayout(t.context.image.layout, `${t.context.reg.url}/berth/installer`);
  t.context.b = await startBerthd({ startTimeoutMs: 120_000 });
  await t.context.b.client.call('PullImage', { image: { image: t.context.ref } }, { service: 'image', timeoutMs: 300_000 });
});

test.after.always(async (t) => {
  const { b, reg, work } = t.context;
  if (b) {
    await b.stop();
    await b.cleanup();
  }
  await reg?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Runs the image's `berth ARGS` in a pod with the fake root at /host; returns exit code and output. */
async function runInstaller(t: Ctx, name: string, args: string[], extra: { hostRoot?: string; security?: object; mounts?: object[] } = {}): Promise<{ code: number; log: string }> {
  const { b } = t;
  const pod = podConfig(b, name);
  const podId = (await b.client.call('RunPodSandbox', { config: pod }, { timeoutMs: 120_000 })).pod_sandbox_id as string;
  try {
    const ctrId = (
      await b.client.call(
        'CreateContainer',
        {
          pod_sandbox_id: podId,
          config: {
            metadata: { name, attempt: 0 },
            image: { image: t.ref },
            command: ['berth'],
            args,
            log_path: `${name}.log`,
            mounts: [...(extra.hostRoot ? [{ container_path: '/host', host_path: extra.hostRoot }] : []), ...(extra.mounts ?? [])],
            ...(extra.security ? { linux: { security_context: extra.security } } : {}),
          },
          sandbox_config: pod,
        },
        { timeoutMs: 120_000 },
      )
    ).container_id as string;
    await b.client.call('StartContainer', { container_id: ctrId }, { timeoutMs: 120_000 });
    const deadline = Date.now() + 240_000;
    let st;
    for (;;) {
      st = (await b.client.call('ContainerStatus', { container_id: ctrId })).status;
      if (st.state === 'CONTAINER_EXITED') break;
      if (Date.now() > deadline) throw new Error(`the installer container is still ${st.state} after 240 s`);
      await sleep(200);
    }
    const raw = await readFile(join(pod.log_directory, `${name}.log`), 'utf8').catch(() => '');
    // CRI log lines: "<time> <stream> <F|P> <text>".
    const log = raw.split('\n').filter(Boolean).map((l) => l.split(' ').slice(3).join(' ')).join('\n');
    return { code: st.exit_code as number, log };
  } finally {
    await b.client.call('StopPodSandbox', { pod_sandbox_id: podId }, { timeoutMs: 120_000 });
    await b.client.call('RemovePodSandbox', { pod_sandbox_id: podId }, { timeoutMs: 120_000 });
  }
}

rootOnly('the OCI layout holds one gzip layer with the bundle, its launchers linked, and the libraries its Node needs', async (t) => {
  const { layout, version } = t.context.image;
  t.deepEqual(JSON.parse(readFileSync(join(layout, 'oci-layout'), 'utf8')), { imageLayoutVersion: '1.0.0' });
  const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8'));
  t.is(index.manifests.length, 1);
  t.is(index.manifests[0].annotations['org.opencontainers.image.ref.name'], version);
  const blob = (d: string) => readFileSync(join(layout, 'blobs/sha256', d.replace(/^sha256:/, '')));
  const digest = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
  const manifestBytes = blob(index.manifests[0].digest);
  t.is(digest(manifestBytes), index.manifests[0].digest);
  const manifest = JSON.parse(manifestBytes.toString());
  t.is(manifest.layers.length, 1);
  t.is(manifest.layers[0].mediaType, MEDIA.layer);
  const config = JSON.parse(blob(manifest.config.digest).toString());
  t.deepEqual(config.config.Cmd, ['berth']);
  const layer = blob(manifest.layers[0].digest);
  t.is(digest(layer), manifest.layers[0].digest);
  const tar = gunzipSync(layer);
  t.is(digest(tar), config.rootfs.diff_ids[0], 'diff_id is the uncompressed layer');
  // Names in the tar (ustar name field, or a pax path record for long ones).
  const names = new Set<string>();
  for (let off = 0; off + 512 <= tar.length; ) {
    const h = tar.subarray(off, off + 512);
    if (h.every((c) => c === 0)) break;
    const size = parseInt(h.toString('latin1', 124, 136).replace(/\0.*$/, '').trim() || '0', 8);
    const type = String.fromCharCode(h[156]!);
    if (type !== 'x') names.add(h.toString('utf8', 0, 100).replace(/\0.*$/s, ''));
    off += 512 + Math.ceil(size / 512) * 512;
  }
  const top = IMAGE_BUNDLE.slice(1);
  for (const n of [`${top}/berth-release.json`, `${top}/bin/berth`, `${top}/node/bin/node`, 'usr/local/bin/berth', 'usr/bin/nsenter', 'usr/bin/sh', 'usr/lib64/ld-linux-x86-64.so.2', 'bin', 'lib64', 'tmp/', 'host/', 'etc/passwd']) {
    t.true(names.has(n), `${n} in the layer`);
  }
  t.true(t.context.image.libraries.some((l) => /\/libc\.so\.6$/.test(l)), 'libc among the copied libraries');
});

rootOnly('berth pulls the image from a registry and its installer lays berth out in a fake node root', async (t) => {
  const { work, image } = t.context;
  const root = join(work, 'node');
  makeFakeNode(root);
  const r = await runInstaller(t.context, 'install', ['node', 'install', '--host-root', '/host', '--no-start'], { hostRoot: root });
  t.is(r.code, 0, r.log);
  t.regex(r.log, new RegExp(`berth ${image.version.replace(/\./g, '\\.')} is laid out`));
  const v = image.version;
  const tree = join(root, 'opt/berth', v);
  t.is(await verifyTree(tree, readBundle(tree).info), undefined, 'the installed tree matches its checksums');
  t.is(readlinkSync(join(root, 'opt/berth/current')), v);
  t.is(readlinkSync(join(root, 'usr/local/bin/berth')), '/opt/berth/current/bin/berth');
  t.is(readlinkSync(join(root, 'usr/local/bin/berthd')), '/opt/berth/current/bin/berthd');
  t.true(existsSync(join(root, 'etc/systemd/system/berth.service')));
  // kubelet's cgroup driver (the fake node's config.yaml says cgroupfs) went into the config.
  t.regex(readFileSync(join(root, 'etc/berth/config.toml'), 'utf8'), /^cgroup_driver = "cgroupfs"$/m);
  const manifest = JSON.parse(readFileSync(join(root, 'var/lib/berth/install.json'), 'utf8'));
  t.is(manifest.version, v);
  t.false(manifest.entries.some((e: { id: string }) => e.id === 'unit'), 'no unit was enabled or started');

  const before = snapshot(root);
  const again = await runInstaller(t.context, 'install-again', ['node', 'install', '--host-root', '/host', '--no-start'], { hostRoot: root });
  t.is(again.code, 0, again.log);
  t.deepEqual(snapshot(root), before, 'a second run changes nothing');
});

rootOnly('the installer refuses a node that lacks what berth drives, naming it, and changes nothing', async (t) => {
  const root = join(t.context.work, 'bare-node');
  makeFakeNode(root, { packages: ['runc', 'catatonit', 'containernetworking-plugins', 'iptables'] });
  const before = snapshot(root);
  const r = await runInstaller(t.context, 'install-bare', ['node', 'install', '--host-root', '/host', '--no-start'], { hostRoot: root });
  t.not(r.code, 0);
  t.regex(r.log, /missing on this node: .*conmon/);
  t.deepEqual(snapshot(root), before);
});

rootOnly('the image\'s metrics proxy starts as the chart runs it (uid 65534, read-only root) and refuses outside a pod', async (t) => {
  // A TLS pair readable by 65534, mounted where the chart mounts its Secret.
  const tls = join(t.context.work, 'tls');
  mkdirSync(tls);
  const o = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=berth-test', '-keyout', join(tls, 'tls.key'), '-out', join(tls, 'tls.crt')], { encoding: 'utf8' });
  t.is(o.status, 0, o.stderr);
  chmodSync(join(tls, 'tls.key'), 0o644);
  const r = await runInstaller(t.context, 'proxy', ['metrics-proxy', '--listen', '127.0.0.1:9443', '--tls-cert', '/etc/berth-proxy-tls/tls.crt', '--tls-key', '/etc/berth-proxy-tls/tls.key'], {
    security: { run_as_user: { value: 65534 }, readonly_rootfs: true },
    mounts: [{ container_path: '/etc/berth-proxy-tls', host_path: tls, readonly: true }],
  });
  t.not(r.code, 0);
  t.regex(r.log, /KUBERNETES_SERVICE_HOST is not set/);
});
