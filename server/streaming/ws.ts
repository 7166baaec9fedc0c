// WebSocket side of the streaming server: the upgrade (through the `ws` library) with
// Kubernetes' subprotocol choice, and the channel framing of `*.channel.k8s.io`: every
// message carries one channel's bytes behind a leading channel byte (binary protocols) or
// behind an ASCII digit with the bytes base64-encoded (the `base64.` protocols, for
// clients that can only send text).
import type { IncomingMessage } from 'node:http';
import { Writable, type Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket, type RawData } from 'ws';

type ChosenRequest = IncomingMessage & { berthProtocol?: string };

const server = new WebSocketServer({
  noServer: true,
  perMessageDeflate: false,
  maxPayload: 16 * 1024 * 1024,
  // `ws` asks which offered subprotocol to answer with; acceptWebSocket chose it already.
  handleProtocols: (_offered, req) => (req as ChosenRequest).berthProtocol || false,
});

/**
 * Completes a WebSocket upgrade choosing the first subprotocol in the client's list that
 * we support (the client's preference, as k8s does). A client that offers none gets the
 * unversioned binary protocol (""); one that offers only unknown ones is refused.
 */
export function acceptWebSocket(req: IncomingMessage, socket: Duplex, head: Buffer, supported: string[], onOpen: (ws: WebSocket, protocol: string) => void): void {
  const offered = (req.headers['sec-websocket-protocol'] ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  const chosen = offered.length === 0 ? '' : offered.find((p) => supported.includes(p));
  if (chosen === undefined) {
    const body = `unable to upgrade: unable to negotiate protocol: client supports ${JSON.stringify(offered)}, server supports ${JSON.stringify(supported)}\n`;
    socket.end(`HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    return;
  }
  (req as ChosenRequest).berthProtocol = chosen;
  server.handleUpgrade(req, socket, head, (ws) => onOpen(ws, chosen));
}

export interface Channels {
  /** Sends bytes on a channel (no waiting). */
  send(channel: number, data: Buffer): void;
  /** Sends and resolves once handed to the socket. */
  sendAsync(channel: number, data: Buffer): Promise<void>;
  /** A Writable whose writes go out on a channel, with backpressure. */
  writable(channel: number): Writable;
  onMessage(cb: (channel: number, data: Buffer) => void): void;
}

/** Channel framing over an open WebSocket. */
export function websocketChannels(ws: WebSocket, encoding: 'binary' | 'base64'): Channels {
  const encode = (channel: number, data: Buffer): Buffer | string =>
    encoding === 'binary' ? Buffer.concat([Buffer.from([channel]), data]) : String.fromCharCode(48 + channel) + data.toString('base64');
  const sendAsync = (channel: number, data: Buffer) =>
    new Promise<void>((resolve, reject) => {
      if (ws.readyState !== ws.OPEN) return reject(new Error('websocket closed'));
      ws.send(encode(channel, data), { binary: encoding === 'binary' }, (e) => (e ? reject(e) : resolve()));
    });
  return {
    send(channel, data) {
      if (ws.readyState === ws.OPEN) ws.send(encode(channel, data), { binary: encoding === 'binary' });
    },
    sendAsync,
    writable(channel) {
      return new Writable({
        highWaterMark: 64 * 1024,
        write(chunk: Buffer, _enc, cb) {
          sendAsync(channel, chunk).then(() => cb(), cb);
        },
      });
    },
    onMessage(cb) {
      ws.on('message', (raw: RawData, isBinary: boolean) => {
        const buf = Array.isArray(raw) ? Buffer.concat(raw) : Buffer.isBuffer(raw) ? raw : Buffer.from(raw);
        if (buf.length === 0) return;
        if (isBinary) cb(buf[0]!, buf.subarray(1));
        else {
          const channel = buf[0]! - 48;
          if (channel < 0 || channel > 9) return;
          cb(channel, Buffer.from(buf.subarray(1).toString('latin1'), 'base64'));
        }
      });
    },
  };
}
