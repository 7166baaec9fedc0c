// Client side of the SPDY/3.1 HTTP upgrade: what kubelet's or the API server's
// streaming client does against a CRI streaming server. Used by the conformance suite and
// the tests, never by berthd (test/unit/imports.test.ts keeps it so).
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Duplex } from 'node:stream';
import { SPDY_UPGRADE, STREAM_PROTOCOL_HEADER, SpdyError } from './codec.js';
import { SpdyConnection } from './connection.js';

/**
 * Client side: POST (as k8s does for exec/attach/port-forward) to an http(s) URL with the
 * upgrade headers and one X-Stream-Protocol-Version header per protocol. Resolves after
 * `101` with the client connection and the protocol the server chose ("" if none); any
 * other answer rejects with SpdyError ERR_SPDY_UPGRADE carrying `status` and `body`.
 */
export function dialSpdy(
  url: string,
  protocols: readonly string[],
  opts: { method?: string; timeoutMs?: number; rejectUnauthorized?: boolean; headers?: Record<string, string> } = {},
): Promise<{ conn: SpdyConnection; protocol: string }> {
  const u = new URL(url);
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const req = (u.protocol === 'https:' ? httpsRequest : httpRequest)(u, {
    method: opts.method ?? 'POST',
    ...(u.protocol === 'https:' ? { rejectUnauthorized: opts.rejectUnauthorized ?? true } : {}),
    headers: {
      ...opts.headers,
      Connection: 'Upgrade',
      Upgrade: SPDY_UPGRADE,
      'X-Stream-Protocol-Version': [...protocols],
      'Content-Length': '0',
    },
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => req.destroy(new SpdyError('ERR_SPDY_TIMEOUT', `SPDY upgrade of ${url} timed out after ${timeoutMs} ms`)), timeoutMs);
    req.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    req.on('response', (res: IncomingMessage) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        clearTimeout(timer);
        reject(new SpdyError('ERR_SPDY_UPGRADE', `SPDY upgrade refused: HTTP ${res.statusCode} ${body.trim()}`, res.statusCode, body));
      });
      res.on('error', () => undefined);
    });
    req.on('upgrade', (res: IncomingMessage, socket: Duplex, head: Buffer) => {
      clearTimeout(timer);
      if (!String(res.headers.upgrade ?? '').toLowerCase().includes(SPDY_UPGRADE.toLowerCase())) {
        socket.destroy();
        reject(new SpdyError('ERR_SPDY_UPGRADE', `upgrade answered with Upgrade: ${res.headers.upgrade ?? '(none)'}`, res.statusCode));
        return;
      }
      const protocol = String(res.headers[STREAM_PROTOCOL_HEADER] ?? '');
      resolve({ conn: new SpdyConnection(socket, { server: false, head }), protocol });
    });
    req.end();
  });
}
