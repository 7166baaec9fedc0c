// Pieces of `berth node install` that need no node: host paths resolved under a host root
// the way the host would (absolute and relative symlinks followed inside it, `..` never
// leaving it), kubelet's endpoint edited and restored in YAML, JSON and flag files, where
// the endpoint is found (a flag wins over the config file), kubelet's cgroup driver, the
// config text install writes (kubelet's driver into the template or ahead of a given
// config that sets none), and the host runner entering the host's namespaces (PID 1's in
// the chart's pod; a stand-in process here) when the host root is not / (root only).
import test from 'ava';
import { mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { inRoot } from '../../cli/node/paths.js';
import { findEndpointSetting, kubeletCgroupDriver, withEndpoint } from '../../cli/node/kubelet.js';
import { configText } from '../../cli/node/install.js';
import { hostRunner, HOST_ENV } from '../../cli/node/host.js';

function root(t: { teardown(fn: () => void): void }): string {
  const r = mkdtempSync(join(tmpdir(), 'berth-node-pure-'));
  t.teardown(() => rmSync(r, { recursive: true, force: true }));
  return r;
}

test('host paths follow the host\'s symlinks inside the host root and never leave it', (t) => {
  const r = root(t);
  mkdirSync(join(r, 'opt/local/bin'), { recursive: true });
  mkdirSync(join(r, 'usr'), { recursive: true });
  symlinkSync('/opt/local', join(r, 'usr/local'));
  mkdirSync(join(r, 'srv/cni'), { recursive: true });
  mkdirSync(join(r, 'etc'), { recursive: true });
  symlinkSync('../srv/cni', join(r, 'etc/cni'));
  symlinkSync('../../../../../../..', join(r, 'etc/up'));
  t.is(inRoot(r, '/usr/local/bin/berth'), join(r, 'opt/local/bin/berth'));
  t.is(inRoot(r, '/etc/cni/net.d/10-berth.conflist'), join(r, 'srv/cni/net.d/10-berth.conflist'));
  t.is(inRoot(r, '/etc/up/etc/passwd'), join(r, 'etc/passwd'));
  t.is(inRoot(r, '/../../etc/passwd'), join(r, 'etc/passwd'));
  t.is(inRoot(r, '/usr/local'), join(r, 'usr/local'), 'the last component is not followed');
  t.is(inRoot('/', '/usr/local/bin'), '/usr/local/bin');
  t.throws(() => inRoot(r, 'relative'), { message: /must be absolute/ });
});

test('kubelet\'s endpoint is set, added and removed in YAML, JSON and flags, touching nothing else', (t) => {
  const yaml = 'kind: KubeletConfiguration\ncgroupDriver: systemd\ncontainerRuntimeEndpoint: unix:///run/containerd/containerd.sock\nclusterDNS:\n- 10.96.0.10\n';
  const set = withEndpoint(yaml, 'config', 'unix:///run/berth/berth.sock');
  t.is(set, yaml.replace('unix:///run/containerd/containerd.sock', 'unix:///run/berth/berth.sock'));
  t.is(withEndpoint(set, 'config', 'unix:///run/containerd/containerd.sock'), yaml);
  const none = 'kind: KubeletConfiguration\n';
  const added = withEndpoint(none, 'config', 'unix:///run/berth/berth.sock');
  t.is(added, 'kind: KubeletConfiguration\ncontainerRuntimeEndpoint: unix:///run/berth/berth.sock\n');
  t.is(withEndpoint(added, 'config', null), none);
  const json = '{"kind":"KubeletConfiguration","cgroupDriver":"systemd"}';
  t.deepEqual(JSON.parse(withEndpoint(json, 'config', 'unix:///run/berth/berth.sock')), { kind: 'KubeletConfiguration', cgroupDriver: 'systemd', containerRuntimeEndpoint: 'unix:///run/berth/berth.sock' });
  const flags = 'KUBELET_KUBEADM_ARGS="--container-runtime-endpoint=unix:///run/containerd/containerd.sock --node-ip=10.0.0.2"\n';
  t.is(withEndpoint(flags, 'flag', 'unix:///run/berth/berth.sock'), 'KUBELET_KUBEADM_ARGS="--container-runtime-endpoint=unix:///run/berth/berth.sock --node-ip=10.0.0.2"\n');
  t.is(withEndpoint('ARGS=--container-runtime-endpoint unix:///a.sock --v=2', 'flag', 'unix:///b.sock'), 'ARGS=--container-runtime-endpoint unix:///b.sock --v=2');
});

test('the endpoint is where kubelet reads it: a flag in its environment files or drop-ins wins over its config file', (t) => {
  const r = root(t);
  t.is(findEndpointSetting(r), undefined);
  mkdirSync(join(r, 'var/lib/kubelet'), { recursive: true });
  writeFileSync(join(r, 'var/lib/kubelet/config.yaml'), 'kind: KubeletConfiguration\ncgroupDriver: "systemd"  # kubeadm\n');
  t.deepEqual(findEndpointSetting(r), { where: 'config', path: '/var/lib/kubelet/config.yaml', value: null });
  t.deepEqual(kubeletCgroupDriver(r), { driver: 'systemd', path: '/var/lib/kubelet/config.yaml' });
  mkdirSync(join(r, 'etc/systemd/system/kubelet.service.d'), { recursive: true });
  mkdirSync(join(r, 'srv'), { recursive: true });
  writeFileSync(join(r, 'srv/kubelet.yaml'), 'cgroupDriver: cgroupfs\ncontainerRuntimeEndpoint: "unix:///run/crio/crio.sock"\n');
  writeFileSync(join(r, 'etc/systemd/system/kubelet.service.d/10-kubeadm.conf'), '[Service]\nEnvironment="KUBELET_CONFIG_ARGS=--config=/srv/kubelet.yaml"\n');
  t.deepEqual(findEndpointSetting(r), { where: 'config', path: '/srv/kubelet.yaml', value: 'unix:///run/crio/crio.sock' }, 'the file --config names');
  t.deepEqual(kubeletCgroupDriver(r), { driver: 'cgroupfs', path: '/srv/kubelet.yaml' });
  mkdirSync(join(r, 'etc/default'), { recursive: true });
  writeFileSync(join(r, 'etc/default/kubelet'), 'KUBELET_EXTRA_ARGS=--container-runtime-endpoint=unix:///run/containerd/containerd.sock\n');
  t.deepEqual(findEndpointSetting(r), { where: 'flag', path: '/etc/default/kubelet', value: 'unix:///run/containerd/containerd.sock' });
});

test('the config install writes carries kubelet\'s cgroup driver', (t) => {
  const template = 'socket = "/run/berth/berth.sock"\ncgroup_driver = "cgroupfs"\n[cni]\nifname = "eth0"\n';
  t.is(configText(template, undefined, undefined), template);
  t.is(configText(template, undefined, 'systemd'), template.replace('"cgroupfs"', '"systemd"'));
  t.is(configText(template, 'log_level = "debug"\n', 'systemd'), 'cgroup_driver = "systemd"\nlog_level = "debug"\n');
  t.is(configText(template, 'cgroup_driver = "cgroupfs"\n', 'systemd'), 'cgroup_driver = "cgroupfs"\n', 'a given config\'s own driver stays');
});

const asRoot = process.getuid?.() === 0 ? test : test.skip;
asRoot('with a host root other than /, host commands run in the host\'s namespaces (here a stand-in for PID 1) with a clean environment', async (t) => {
  // A stand-in "host": new mount, UTS, IPC, network and PID namespaces with their own hostname.
  const host = spawn('unshare', ['--mount', '--uts', '--ipc', '--net', '--pid', '--fork', '--kill-child', 'sh', '-c', 'hostname berth-fake-host && exec sleep 60'], { stdio: 'ignore' });
  t.teardown(() => void host.kill('SIGKILL'));
  let inner = 0;
  for (let i = 0; i < 100 && !inner; i++) {
    await new Promise((r) => setTimeout(r, 50));
    inner = Number(readFileSync(`/proc/${host.pid}/task/${host.pid}/children`, 'utf8').trim().split(' ')[0]) || 0;
    if (inner && readFileSync(`/proc/${inner}/comm`, 'utf8').trim() !== 'sleep') inner = 0;
  }
  t.true(inner > 0);
  t.teardown(() => {
    try {
      process.kill(inner, 'SIGKILL');
    } catch {
      /* gone with unshare (--kill-child) */
    }
  });
  const r = await hostRunner('/host', inner).run(['sh', '-c', 'hostname; echo "$PATH"; echo "$HOME"; readlink /proc/self/ns/net']);
  t.deepEqual(r.stdout.trim().split('\n').slice(0, 3), ['berth-fake-host', HOST_ENV.PATH, '']);
  t.is(r.stdout.trim().split('\n')[3], readlinkSync(`/proc/${inner}/ns/net`));
  t.is((await hostRunner('/').run(['sh', '-c', 'echo "$DEBIAN_FRONTEND"'])).stdout, 'noninteractive\n');
});
