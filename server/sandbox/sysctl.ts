// Namespaced sysctls, written from inside the pod's pinned namespaces: /proc/sys/net
// and the IPC sysctls resolve to the namespaces of the process that opens them, so
// `nsenter --net=… tee /proc/sys/…` sets the pod's value and not the host's.
import { run } from '../exec.js';
import { invalidArgument } from '../errors.js';
import type { Sysctl } from './validate.js';
import type { PinnedNamespaces } from './types.js';

export async function applySysctls(pins: PinnedNamespaces, sysctls: readonly Sysctl[]): Promise<void> {
  for (const s of sysctls) {
    const nsFile = s.ns === 'net' ? pins.net : pins.ipc;
    if (!nsFile) throw invalidArgument(`sysctl ${s.name} needs the pod's own ${s.ns} namespace`);
    const res = await run('nsenter', [`--${s.ns}=${nsFile}`, '--', 'tee', `/proc/sys/${s.path}`], {
      input: s.value,
      allowFailure: true,
      timeoutMs: 10_000,
    });
    if (res.code !== 0) {
      throw invalidArgument(`cannot set sysctl ${s.name}=${s.value}: ${res.stderr.trim().replace(/^tee: /, '')}`);
    }
  }
}
