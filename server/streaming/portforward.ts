// The Kubernetes port-forward protocol over both transports:
// - SPDY (`portforward.k8s.io`): the client opens a pair of streams per TCP connection,
//   `streamType: error` and `streamType: data`, both carrying `port` and `requestID`;
//   the data stream is the connection's bytes, failures go to the error stream as text.
// - WebSocket (`v4.channel.k8s.io`, or none): the ports come from `?port=` query values;
//   each port gets a data and an error channel (2i, 2i+1), both opened with the port
//   number as two little-endian bytes, and one connection for the whole session.
// Where the bytes go is the backend's business (`OpenPort`).
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import { acceptSpdy } from './spdy-upgrade.js';
import type { SpdyStream } from '../../wire/spdy/connection.js';
import { acceptWebSocket, websocketChannels } from './ws.js';
import { isWebSocket, setIdleTimeout } from './remotecommand.js';

/** Connects to a port of the pod; the Duplex carries the connection (half-close aware). */
export type OpenPort = (port: number, signal: AbortSignal) => Promise<Duplex>;

export const SPDY_PORTFORWARD_PROTOCOLS = ['portforward.k8s.io'];
export const WS_PORTFORWARD_PROTOCOLS = ['v4.channel.k8s.io', 'v4.base64.channel.k8s.io', 'channel.k8s.io', 'base64.channel.k8s.io'];

export interface PortForwardOptions {
  podId: string;
  idleTimeoutMs: number;
  log?: (msg: string, meta?: Record<string, unknown>) => void;
}

/** A valid TCP port from a header or query value, or undefined. */
export function parsePort(v: string | undefined): number | undefined {
  if (v === undefined || !/^[0-9]{1,5}$/.test(v)) return undefined;
  const n = Number(v);
  return n >= 1 && n <= 65535 ? n : undefined;
}

export function servePortForward(req: IncomingMessage, socket: Duplex, head: Buffer, opts: PortForwardOptions, open: OpenPort): void {
  if (isWebSocket(req)) serveOverWebSocket(req, socket, head, opts, open);
  else serveOverSpdy(req, socket, head, opts, open);
}

function errorText(port: number, podId: string, e: unknown): string {
  return `error forwarding port ${port} to pod ${podId}: ${(e as Error).message ?? String(e)}`;
}

/**
 * Copies both ways: the client's end of input half-closes the pod connection; the pod
 * side ending (or either side failing) ends the forward, as kubelet's does.
 */
function splice(client: Duplex, pod: Duplex): Promise<void> {
  return new Promise((resolve, reject) => {
    client.on('error', reject);
    pod.on('error', reject);
    client.pipe(pod);
    pod.pipe(client);
    pod.once('end', () => resolve());
    pod.once('close', () => setTimeout(resolve, 0));
    client.once('close', () => setTimeout(resolve, 0));
  });
}

// ---------------------------------------------------------------- SPDY

function serveOverSpdy(req: IncomingMessage, socket: Duplex, head: Buffer, opts: PortForwardOptions, open: OpenPort): void {
  const accepted = acceptSpdy(req, socket, head, SPDY_PORTFORWARD_PROTOCOLS);
  if (!accepted) return;
  const { conn } = accepted;
  setIdleTimeout(socket, opts.idleTimeoutMs, () => conn.destroy(new Error('streaming connection idle')));
  const abort = new AbortController();
  conn.on('close', () => abort.abort());
  conn.on('error', () => abort.abort());
  const pending = new Map<string, { data?: SpdyStream; error?: SpdyStream; timer: NodeJS.Timeout }>();
  conn.on('stream', (s: SpdyStream) => {
    // A hang-up or reset surfaces as an error on each stream; the session handles it through `abort`.
    s.on('error', () => undefined);
    s.reply();
    const type = (s.headers['streamtype']?.[0] ?? '').toLowerCase();
    // Clients older than requestID pair a data stream with the error stream just before it.
    const requestId = s.headers['requestid']?.[0] ?? String(type === 'data' ? s.id - 2 : s.id);
    if (type !== 'data' && type !== 'error') {
      s.reset();
      return;
    }
    let p = pending.get(requestId);
    if (!p) {
      p = { timer: setTimeout(() => pending.get(requestId) && (pending.delete(requestId), p!.data?.reset(), p!.error?.reset()), 30_000) };
      pending.set(requestId, p);
    }
    if (p[type]) {
      s.reset();
      return;
    }
    p[type] = s;
    if (!p.data || !p.error) return;
    clearTimeout(p.timer);
    pending.delete(requestId);
    const { data, error } = p;
    error.resume(); // nothing is read from it
    void (async () => {
      const port = parsePort(data.headers['port']?.[0]);
      let up: Duplex | undefined;
      try {
        if (port === undefined) throw new Error(`invalid port ${JSON.stringify(data.headers['port']?.[0] ?? '')}`);
        up = await open(port, abort.signal);
        await splice(data, up);
      } catch (e) {
        opts.log?.('port forward failed', { pod: opts.podId, port, error: (e as Error).message });
        if (!error.destroyed) error.write(errorText(port ?? 0, opts.podId, e));
      } finally {
        up?.destroy();
        if (!error.destroyed) error.end();
        if (!data.destroyed && !data.writableEnded) data.end();
      }
    })();
  });
}

// ---------------------------------------------------------------- WebSocket

function serveOverWebSocket(req: IncomingMessage, socket: Duplex, head: Buffer, opts: PortForwardOptions, open: OpenPort): void {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const raw = url.searchParams.getAll('port');
  const ports = raw.map(parsePort);
  if (raw.length === 0 || ports.some((p) => p === undefined)) {
    const body = raw.length === 0 ? 'query parameter "port" is required\n' : `invalid port in ${JSON.stringify(raw)}\n`;
    socket.end(`HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    return;
  }
  acceptWebSocket(req, socket, head, WS_PORTFORWARD_PROTOCOLS, (ws: WebSocket, protocol: string) => {
    setIdleTimeout(socket, opts.idleTimeoutMs, () => ws.terminate());
    const ch = websocketChannels(ws, protocol.includes('base64') ? 'base64' : 'binary');
    const abort = new AbortController();
    ws.on('close', () => abort.abort());
    ws.on('error', () => ws.terminate());
    const ups: Array<Duplex | undefined> = [];
    const early: Buffer[][] = ports.map(() => []);
    ch.onMessage((channel, data) => {
      if (channel % 2 !== 0) return; // error channels are server → client
      const i = channel / 2;
      if (i >= ports.length) return;
      const up = ups[i];
      if (up) up.write(data);
      else early[i]!.push(data);
    });
    const sessions = ports.map(async (port, i) => {
      const prefix = Buffer.alloc(2);
      prefix.writeUInt16LE(port!);
      ch.send(2 * i, prefix);
      ch.send(2 * i + 1, prefix);
      try {
        const up = await open(port!, abort.signal);
        ups[i] = up;
        for (const b of early[i]!.splice(0)) up.write(b);
        up.on('data', (b: Buffer) => ch.send(2 * i, b));
        await new Promise<void>((resolve, reject) => {
          up.once('end', resolve);
          up.once('close', resolve);
          up.once('error', reject);
          abort.signal.addEventListener('abort', () => (up.destroy(), resolve()), { once: true });
        });
      } catch (e) {
        opts.log?.('port forward failed', { pod: opts.podId, port, error: (e as Error).message });
        ch.send(2 * i + 1, Buffer.from(errorText(port!, opts.podId, e)));
      }
    });
    void Promise.all(sessions).then(() => ws.close(1000));
  });
}
