// PortForward's backend: a TCP connection to a port on the pod's own loopback. For pods
// with their own network namespace berthd runs a small relay inside it
// (server/streaming/pf-helper.ts under nsenter); pods on the host network are reached
// directly.
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { failedPrecondition } from '../errors.js';
import type { SandboxDeps } from './deps.js';

const HELPER = fileURLToPath(new URL('../streaming/pf-helper.js', import.meta.url));

export function readySandbox(deps: SandboxDeps, podId: string) {
  const id = deps.store.resolve(podId);
  const rec = deps.store.get(id)!;
  if (rec.state !== 'SANDBOX_READY') throw failedPrecondition(`pod sandbox ${id} is not ready`);
  return rec;
}

export async function openPodPort(deps: SandboxDeps, podId: string, port: number, signal: AbortSignal): Promise<Duplex> {
  const rec = readySandbox(deps, podId);
  const netns = rec.runtime.networkMode === 'NODE' ? undefined : rec.runtime.namespaces.net;
  if (rec.runtime.networkMode !== 'NODE' && !netns) throw failedPrecondition(`pod sandbox ${rec.id} has no network namespace`);
  if (!netns) {
    return new Promise((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
      s.once('connect', () => resolve(s));
      s.once('error', (e) => reject(new Error(`dial tcp 127.0.0.1:${port}: ${e.message}`)));
      signal.addEventListener('abort', () => s.destroy(), { once: true });
    });
  }
  const child = spawn('nsenter', [`--net=${netns}`, '--', process.execPath, HELPER, String(port)], { stdio: ['pipe', 'pipe', 'pipe'] });
  signal.addEventListener('abort', () => child.kill('SIGKILL'), { once: true });
  child.stdin.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    let err = '';
    const onData = (b: Buffer) => {
      err += b.toString();
      if (err.startsWith('ok\n')) {
        child.stderr.off('data', onData);
        child.off('exit', onExit);
        resolve();
      }
    };
    const onExit = () => reject(new Error(err.trim() || `port relay exited with ${child.exitCode}`));
    child.stderr.on('data', onData);
    child.once('exit', onExit);
    child.once('error', (e) => reject(new Error(`cannot run nsenter: ${e.message}`)));
  });
  child.stderr.resume();
  const conn = Duplex.from({ readable: child.stdout, writable: child.stdin });
  // However the session ends (reset, hang-up), the relay and its connection go with it.
  conn.once('close', () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return conn;
}
