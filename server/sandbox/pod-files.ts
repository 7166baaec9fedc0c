// The per-pod files containers mount: /etc/hostname, /etc/hosts and /etc/resolv.conf.
// The builders are pure; writePodFiles puts them in the pod's files directory.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { hostname as hostHostname } from 'node:os';
import { join } from 'node:path';
import type { DNSConfig__Output } from '../../wire/cri/generated/runtime/v1/DNSConfig.js';

/** resolv.conf from the pod's DNSConfig; with none, the host's file is used as is. */
export function buildResolvConf(dns: DNSConfig__Output | null, hostResolvConf: string): string {
  if (!dns || (dns.servers.length === 0 && dns.searches.length === 0 && dns.options.length === 0)) return hostResolvConf;
  const lines: string[] = [];
  if (dns.searches.length) lines.push(`search ${dns.searches.join(' ')}`);
  for (const s of dns.servers) lines.push(`nameserver ${s}`);
  if (dns.options.length) lines.push(`options ${dns.options.join(' ')}`);
  return lines.join('\n') + '\n';
}

/** /etc/hosts for a pod on its own network: loopback names only (kubelet adds the pod's own entry when it manages the file). */
export function buildHosts(): string {
  return [
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'fe00::0\tip6-localnet',
    'fe00::0\tip6-mcastprefix',
    'fe00::1\tip6-allnodes',
    'fe00::2\tip6-allrouters',
    '',
  ].join('\n');
}

export interface PodFiles {
  hostnamePath: string;
  hostsPath: string;
  resolvConfPath: string;
}

export interface PodFilesInput {
  dir: string;
  hostname: string;
  hostNetwork: boolean;
  dns: DNSConfig__Output | null;
  /** Host files (parameters so tests can point elsewhere). */
  hostResolvConf?: string;
  hostHosts?: string;
}

async function readOr(path: string, fallback: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return fallback;
  }
}

export async function writePodFiles(input: PodFilesInput): Promise<PodFiles> {
  await mkdir(input.dir, { recursive: true, mode: 0o755 });
  const files: PodFiles = {
    hostnamePath: join(input.dir, 'hostname'),
    hostsPath: join(input.dir, 'hosts'),
    resolvConfPath: join(input.dir, 'resolv.conf'),
  };
  const hostResolv = await readOr(input.hostResolvConf ?? '/etc/resolv.conf', '');
  // A host-network pod shares the node's names; otherwise the pod's own.
  const hosts = input.hostNetwork ? await readOr(input.hostHosts ?? '/etc/hosts', buildHosts()) : buildHosts();
  const name = input.hostNetwork || !input.hostname ? hostHostname() : input.hostname;
  await Promise.all([
    writeFile(files.hostnamePath, `${name}\n`, { mode: 0o644 }),
    writeFile(files.hostsPath, hosts, { mode: 0o644 }),
    writeFile(files.resolvConfPath, buildResolvConf(input.dns, hostResolv), { mode: 0o644 }),
  ]);
  return files;
}
