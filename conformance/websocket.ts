// A minimal WebSocket client (RFC 6455) for the CRI streaming server's channel protocol
// (`v4.channel.k8s.io`): every binary message starts with a channel byte (exec/attach:
// 0 stdin, 1 stdout, 2 stderr, 3 error, 4 resize; port-forward: 2 per port, data then
// error). Node 20 has no WebSocket client without a flag, and the suite adds no
// dependency for one.
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createHash, randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';

export interface ChannelMessage {
  channel: number;
  data: Buffer;
}

export interface ChannelConn {
  /** The subprotocol the server chose. */
  protocol: string;
  /** Every message received so far, in order (empty opening messages included). */
  messages: ChannelMessage[];
  /** Sends data on a channel (a binary frame: channel byte + data). */
  send(channel: number, data: Buffer | string): void;
  /** Resolves when the server closes the connection (or the socket ends). */
  closed: Promise<void>;
  /** Resolves once `pred` holds for the messages received (checked on every message). */
  until(pred: (msgs: ChannelMessage[]) => boolean, timeoutMs: number): Promise<void>;
  close(): void;
  /** Data received on one channel, concatenated. */
  channel(n: number): Buffer;
}

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

function frame(opcode: number, payload: Buffer): Buffer {
  const mask = randomBytes(4);
  const len = payload.length;
  const head = len < 126 ? Buffer.from([0x80 | opcode, 0x80 | len]) : len < 65536 ? Buffer.alloc(4) : Buffer.alloc(10);
  if (len >= 126 && len < 65536) {
    head[0] = 0x80 | opcode;
    head[1] = 0x80 | 126;
    head.writeUInt16BE(len, 2);
  } else if (len >= 65536) {
    head[0] = 0x80 | opcode;
    head[1] = 0x80 | 127;
    head.writeBigUInt64BE(BigInt(len), 2);
  }
  const masked = Buffer.alloc(len);
  for (let i = 0; i < len; i++) masked[i] = payload[i]! ^ mask[i % 4]!;
  return Buffer.concat([head, mask, masked]);
}

/** Opens `url` (http[s]://…) as a WebSocket with the given subprotocols. */
export function connectChannels(url: string, protocols: readonly string[], timeoutMs = 10_000): Promise<ChannelConn> {
  const u = new URL(url);
  const key = randomBytes(16).toString('base64');
  const req = (u.protocol === 'https:' ? httpsRequest : httpRequest)(u, {
    method: 'GET',
    timeout: timeoutMs,
    rejectUnauthorized: false,
    headers: {
      Connection: 'Upgrade',
      Upgrade: 'websocket',
      'Sec-WebSocket-Version': '13',
      'Sec-WebSocket-Key': key,
      'Sec-WebSocket-Protocol': protocols.join(', '),
    },
  });
  return new Promise((resolve, reject) => {
    req.on('timeout', () => req.destroy(new Error(`WebSocket connect to ${url} timed out`)));
    req.on('error', reject);
    req.on('response', (res: IncomingMessage) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => reject(new Error(`WebSocket upgrade refused: HTTP ${res.statusCode} ${body.trim()}`)));
    });
    req.on('upgrade', (res: IncomingMessage, socket: Socket, head: Buffer) => {
      const accept = createHash('sha1').update(key + GUID).digest('base64');
      if (res.headers['sec-websocket-accept'] !== accept) {
        socket.destroy();
        reject(new Error('WebSocket upgrade: bad Sec-WebSocket-Accept'));
        return;
      }
      socket.setTimeout(0);
      const messages: ChannelMessage[] = [];
      const waiters: Array<() => void> = [];
      let buf = head;
      let fragments: Buffer[] = [];
      let resolveClosed!: () => void;
      const closed = new Promise<void>((r) => (resolveClosed = r));
      const deliver = (payload: Buffer) => {
        if (payload.length === 0) return;
        messages.push({ channel: payload[0]!, data: payload.subarray(1) });
        for (const w of [...waiters]) w();
      };
      const parse = () => {
        for (;;) {
          if (buf.length < 2) return;
          const fin = (buf[0]! & 0x80) !== 0;
          const opcode = buf[0]! & 0x0f;
          let len = buf[1]! & 0x7f;
          let off = 2;
          if (len === 126) {
            if (buf.length < 4) return;
            len = buf.readUInt16BE(2);
            off = 4;
          } else if (len === 127) {
            if (buf.length < 10) return;
            len = Number(buf.readBigUInt64BE(2));
            off = 10;
          }
          const masked = (buf[1]! & 0x80) !== 0;
          const maskKey = masked ? buf.subarray(off, off + 4) : undefined;
          if (masked) off += 4;
          if (buf.length < off + len) return;
          let payload = Buffer.from(buf.subarray(off, off + len));
          if (maskKey) for (let i = 0; i < payload.length; i++) payload[i] = payload[i]! ^ maskKey[i % 4]!;
          buf = buf.subarray(off + len);
          if (opcode === 0x8) {
            socket.end(frame(0x8, Buffer.alloc(0)));
            return;
          }
          if (opcode === 0x9) {
            socket.write(frame(0xa, payload));
            continue;
          }
          if (opcode === 0xa) continue;
          // Text frames carry the same layout in the base64 protocols; we ask for binary.
          fragments.push(payload);
          if (fin) {
            payload = Buffer.concat(fragments);
            fragments = [];
            deliver(payload);
          }
        }
      };
      socket.on('data', (d: Buffer) => {
        buf = buf.length ? Buffer.concat([buf, d]) : d;
        parse();
      });
      const end = () => {
        resolveClosed();
        for (const w of [...waiters]) w();
      };
      socket.on('end', end);
      socket.on('close', end);
      socket.on('error', end);
      let isClosed = false;
      void closed.then(() => (isClosed = true));
      const conn: ChannelConn = {
        protocol: String(res.headers['sec-websocket-protocol'] ?? ''),
        messages,
        closed,
        send(channel, data) {
          socket.write(frame(0x2, Buffer.concat([Buffer.from([channel]), Buffer.from(data)])));
        },
        until(pred, ms) {
          return new Promise((res2, rej2) => {
            const check = () => {
              if (pred(messages)) {
                done();
                res2();
              } else if (isClosed) {
                done();
                rej2(new Error('the stream closed before the expected data arrived'));
              }
            };
            const timer = setTimeout(() => {
              done();
              rej2(new Error(`no expected data within ${ms} ms`));
            }, ms);
            const done = () => {
              clearTimeout(timer);
              const i = waiters.indexOf(check);
              if (i >= 0) waiters.splice(i, 1);
            };
            waiters.push(check);
            check();
          });
        },
        close() {
          if (!socket.destroyed) socket.end(frame(0x8, Buffer.from([0x03, 0xe8])));
          setTimeout(() => socket.destroy(), 500).unref();
        },
        channel(n) {
          return Buffer.concat(messages.filter((m) => m.channel === n).map((m) => m.data));
        },
      };
      resolve(conn);
      if (buf.length) parse();
    });
    req.end();
  });
}
