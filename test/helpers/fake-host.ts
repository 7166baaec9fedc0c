// A fake node for `berth node install/uninstall` tests: a host root directory under
// /tmp/berth-test-* with the files a Debian node with kubelet has (os-release, the
// programs berth drives as empty executables, kubelet's config), and a host-command
// runner that records every command and plays systemd, apt-get and ip: `systemctl start
// berth.service` runs the installed bundle's berthd for real, from <root>/opt/berth/current,
// with its socket and state directories inside the fake root (flags override the host
// paths of the config the installer wrote); `apt-get install PKG` creates PKG's files.
// What it does not cover: systemd itself (unit syntax, Type=notify, KillMode, enable
// links), real apt/dpkg, nsenter into PID 1, kubelet reading its new endpoint.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { RunResult } from '../../hostutil/exec.js';
import type { HostRunner, HostRunOptions } from '../../cli/node/host.js';

/** The files Debian packages would put on the node, per package. */
export const PACKAGE_FILES: Record<string, string[]> = {
  runc: ['/usr/sbin/runc'],
  crun: ['/usr/bin/crun'],
  conmon: ['/usr/bin/conmon'],
  catatonit: ['/usr/bin/catatonit'],
  'containernetworking-plugins': ['bridge', 'host-local', 'portmap', 'loopback'].map((p) => `/usr/lib/cni/${p}`),
  iptables: ['/usr/sbin/iptables'],
};

export function writeHostFile(root: string, p: string, content: string, mode = 0o644): void {
  mkdirSync(dirname(join(root, p)), { recursive: true });
  writeFileSync(join(root, p), content, { mode });
  chmodSync(join(root, p), mode);
}

/** A node: Debian with apt, kubelet configured by kubeadm, and the given packages installed. */
export function makeFakeNode(root: string, opts: { packages?: string[]; debian?: boolean; kubelet?: 'config' | 'flags' | 'none'; cgroupDriver?: string } = {}): void {
  writeHostFile(root, '/etc/os-release', opts.debian === false ? 'ID=fedora\nVERSION_ID=40\n' : 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n');
  if (opts.debian !== false) writeHostFile(root, '/usr/bin/apt-get', '#!/bin/sh\n', 0o755);
  for (const pkg of opts.packages ?? Object.keys(PACKAGE_FILES)) for (const f of PACKAGE_FILES[pkg]!) writeHostFile(root, f, '#!/bin/sh\n', 0o755);
  const kubelet = opts.kubelet ?? 'config';
  if (kubelet === 'none') return;
  writeHostFile(
    root,
    '/var/lib/kubelet/config.yaml',
    `apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\ncgroupDriver: ${opts.cgroupDriver ?? 'cgroupfs'}\n` +
      (kubelet === 'config' ? 'containerRuntimeEndpoint: unix:///run/containerd/containerd.sock\n' : '') +
      'clusterDNS:\n- 10.96.0.10\n',
    0o600,
  );
  writeHostFile(root, '/etc/systemd/system/kubelet.service.d/10-kubeadm.conf', '[Service]\nEnvironment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml"\nEnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env\n');
  if (kubelet === 'flags') {
    writeHostFile(root, '/var/lib/kubelet/kubeadm-flags.env', 'KUBELET_KUBEADM_ARGS="--container-runtime-endpoint=unix:///run/containerd/containerd.sock --pod-infra-container-image=registry.k8s.io/pause:3.9"\n');
  }
}

/** Every path under `root` with its type, mode and content checksum (or link target). */
export function snapshot(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    const st = lstatSync(join(root, rel));
    const mode = (st.mode & 0o7777).toString(8);
    if (st.isSymbolicLink()) out[rel] = `link ${readlinkSync(join(root, rel))}`;
    else if (st.isDirectory()) {
      out[rel || '/'] = `dir ${mode}`;
      for (const n of readdirSync(join(root, rel))) walk(`${rel}/${n}`);
    } else if (st.isFile()) out[rel] = `file ${mode} ${createHash('sha256').update(readFileSync(join(root, rel))).digest('hex')}`;
    else out[rel] = `other ${st.mode.toString(8)}`;
  };
  walk('');
  return out;
}

export class FakeHost implements HostRunner {
  readonly description = 'a fake host (recorded commands)';
  readonly calls: string[] = [];
  berthd?: ChildProcess;
  berthdLog = '';
  enabled = false;
  /** Commands that fail once, to interrupt a run ("systemctl start berth.service"). */
  failOnce = new Set<string>();

  constructor(readonly root: string) {}

  private result(code: number, stdout = '', stderr = ''): RunResult {
    return { code, signal: null, stdout, stderr };
  }

  get berthdRunning(): boolean {
    return !!this.berthd && this.berthd.exitCode === null && this.berthd.signalCode === null;
  }

  async run(argv: readonly string[], opts: HostRunOptions = {}): Promise<RunResult> {
    const cmd = argv.join(' ');
    this.calls.push(cmd);
    const r = await this.play(argv, cmd);
    if (r.code !== 0 && !opts.allowFailure) throw new Error(`fake host: ${cmd}: exit ${r.code}: ${r.stderr}`);
    return r;
  }

  private async play(argv: readonly string[], cmd: string): Promise<RunResult> {
    if (this.failOnce.delete(cmd)) return this.result(1, '', 'interrupted (test)');
    const [prog, ...args] = argv;
    if (prog === 'systemctl') {
      const unit = args[args.length - 1];
      if (cmd === 'systemctl daemon-reload') return this.result(0);
      if (unit === 'kubelet.service' && args[0] === 'restart') return this.result(0);
      if (unit !== 'berth.service') return this.result(5, '', `unit ${unit} not found`);
      switch (args[0]) {
        case 'enable':
          this.enabled = true;
          return this.result(0);
        case 'is-active':
          return this.result(this.berthdRunning ? 0 : 3);
        case 'is-failed':
          return this.result(this.berthd && !this.berthdRunning ? 0 : 1);
        case 'start':
          if (!this.berthdRunning) this.startBerthd();
          return this.result(0);
        case 'restart':
          await this.stopBerthd();
          this.startBerthd();
          return this.result(0);
        case 'disable':
          this.enabled = false;
          if (args.includes('--now')) await this.stopBerthd();
          return this.result(0);
        case 'reset-failed':
          return this.result(0);
      }
    }
    if (prog === 'apt-get') {
      if (args[0] === '-s') return this.result(0);
      const pkgs = args.filter((a) => !a.startsWith('-') && a !== 'install' && a !== 'remove');
      for (const p of pkgs) {
        if (!PACKAGE_FILES[p]) return this.result(100, '', `E: Unable to locate package ${p}`);
        for (const f of PACKAGE_FILES[p]!) {
          if (args[0] === 'install') writeHostFile(this.root, f, '#!/bin/sh\n', 0o755);
          else {
            // dpkg removes the directories it created once they are empty.
            rmSync(join(this.root, f), { force: true });
            for (let d = dirname(f); d !== '/'; d = dirname(d)) {
              try {
                rmdirSync(join(this.root, d));
              } catch {
                break;
              }
            }
          }
        }
      }
      return this.result(0);
    }
    if (prog === 'ip' && args[0] === 'link' && args[1] === 'show') return this.result(1, '', `Device "${args[2]}" does not exist.`);
    return this.result(127, '', `fake host: no such command: ${cmd}`);
  }

  private startBerthd(): void {
    const r = this.root;
    this.berthdLog = '';
    // The installed config, without spare shims (nothing is created here; saves CPU).
    const config = join(r, '..', `${r.split('/').pop()}-berthd.toml`);
    const installed = readFileSync(join(r, 'etc/berth/config.toml'), 'utf8');
    writeFileSync(config, /^shim_spares\s*=/m.test(installed) ? installed.replace(/^shim_spares\s*=.*$/m, 'shim_spares = 0') : `shim_spares = 0\n${installed}`);
    this.berthd = spawn(
      join(r, 'opt/berth/current/bin/berthd'),
      ['--config', config, '--socket', join(r, 'run/berth/berth.sock'), '--root', join(r, 'var/lib/berth'), '--state', join(r, 'run/berth'), '--cni-conf-dir', join(r, 'etc/cni/net.d'), '--pod-log-root', join(r, 'var/log/pods'), '--shutdown-timeout', '5'],
      { stdio: ['ignore', 'ignore', 'pipe'], env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', BERTH_TEST_RUN: r } },
    );
    this.berthd.stderr!.on('data', (b: Buffer) => (this.berthdLog = (this.berthdLog + b.toString()).slice(-8192)));
  }

  async stopBerthd(): Promise<void> {
    const p = this.berthd;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise<void>((res) => p.once('exit', () => res()));
    p.kill('SIGTERM');
    await exited;
  }

  /** The host commands run, without the read-only ones. */
  changes(): string[] {
    return this.calls.filter((c) => !/^systemctl (is-active|is-failed)|^ip link show|^apt-get -s/.test(c));
  }
}
