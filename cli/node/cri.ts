// CRI calls the installer makes: Version on berth's socket (is it serving, which
// release), ListPodSandbox on berth's or the previous runtime's socket, and the stop and
// remove of berth's pods on uninstall.
import * as grpc from '@grpc/grpc-js';
import { loadCri } from '../../wire/cri/proto.js';

export function criCall<T = unknown>(socket: string, method: string, req: object, timeoutMs = 10_000): Promise<T> {
  const cri = loadCri();
  const client = new cri.runtime.v1.RuntimeService(`unix://${socket}`, grpc.credentials.createInsecure());
  return new Promise<T>((resolve, reject) => {
    const fn = (client as unknown as Record<string, Function>)[method]!;
    fn.call(client, req, { deadline: new Date(Date.now() + timeoutMs) }, (err: grpc.ServiceError | null, res: T) => {
      client.close();
      if (err) reject(err);
      else resolve(res);
    });
  });
}

export interface PodInfo {
  id: string;
  name: string;
  namespace: string;
  state: string;
}

export async function listPods(socket: string, readyOnly: boolean): Promise<PodInfo[]> {
  const res = await criCall<{ items: Array<{ id: string; state: string; metadata: { name: string; namespace: string } | null }> }>(socket, 'ListPodSandbox', readyOnly ? { filter: { state: { state: 'SANDBOX_READY' } } } : {});
  return res.items.map((p) => ({ id: p.id, name: p.metadata?.name ?? '', namespace: p.metadata?.namespace ?? '', state: p.state }));
}

/** Waits until the socket answers Version; returns the runtime's version string. */
export async function waitForCri(socket: string, timeoutMs: number, stillWorthWaiting: () => Promise<string | undefined> = async () => undefined): Promise<string> {
  const until = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    try {
      const v = await criCall<{ runtime_name: string; runtime_version: string }>(socket, 'Version', { version: 'v1' }, 5_000);
      return v.runtime_version;
    } catch (e) {
      last = (e as Error).message;
    }
    const why = await stillWorthWaiting();
    if (why) throw new Error(`berth does not answer on ${socket}: ${why}`);
    if (Date.now() > until) throw new Error(`berth did not answer a CRI Version call on ${socket} within ${Math.round(timeoutMs / 1000)} s (${last})`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
