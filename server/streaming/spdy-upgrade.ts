// Server side of the SPDY/3.1 HTTP upgrade for berthd's streaming server (exec, attach,
// port-forward): protocol negotiation as k8s httpstream does it, then a server-role
// SpdyConnection from the shared wire module.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { SPDY_UPGRADE, STREAM_PROTOCOL_HEADER } from '../../wire/spdy/codec.js';
import { SpdyConnection } from '../../wire/spdy/connection.js';

/** The protocols a client offers: every X-Stream-Protocol-Version header, comma-split. */
function offeredProtocols(req: IncomingMessage): string[] {
  const raw = req.headersDistinct?.[STREAM_PROTOCOL_HEADER] ?? [];
  return raw.flatMap((v) => v.split(',')).map((p) => p.trim()).filter(Boolean);
}

function httpError(socket: Duplex, status: number, reason: string, body: string, extra: string[] = []): void {
  const text = `${body}\n`;
  socket.end(
    [
      `HTTP/1.1 ${status} ${reason}`,
      'Content-Type: text/plain; charset=utf-8',
      'X-Content-Type-Options: nosniff',
      ...extra,
      `Content-Length: ${Buffer.byteLength(text)}`,
      'Connection: close',
      '',
      text,
    ].join('\r\n'),
  );
}

/**
 * Server side of the upgrade, from a Node http server's 'upgrade' event (req, socket,
 * head). Negotiates X-Stream-Protocol-Version as k8s httpstream.Handshake does: the client
 * lists versions in one or more headers, possibly comma-separated; the first of them (in
 * the client's order) that we support wins; a client offering none gets "" (old clients,
 * as the kubelet streaming server vendored by containerd 1.6 allows). No overlap: 403 with
 * a text body naming both lists, X-Accepted-Stream-Protocol-Versions headers, and null. A
 * request without `Connection: Upgrade` / `Upgrade: SPDY/3.1`: 400 and null. Otherwise
 * writes `101 Switching Protocols` and returns the server connection and the protocol.
 * Peer streams are answered with SYN_REPLY on receipt unless `autoReply: false` (client-go
 * opens its streams one by one, each only after the previous one's reply).
 */
export function acceptSpdy(
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  supported: readonly string[],
  opts: { autoReply?: boolean } = {},
): { conn: SpdyConnection; protocol: string } | null {
  const offered = offeredProtocols(req);
  let protocol = '';
  if (offered.length) {
    protocol = offered.find((p) => supported.includes(p)) ?? '';
    if (!protocol) {
      httpError(
        socket,
        403,
        'Forbidden',
        `unable to upgrade: unable to negotiate protocol: client supports [${offered.join(' ')}], server accepts [${supported.join(' ')}]`,
        supported.map((p) => `X-Accepted-Stream-Protocol-Versions: ${p}`),
      );
      return null;
    }
  }
  const connection = String(req.headers.connection ?? '').toLowerCase();
  const upgrade = String(req.headers.upgrade ?? '').toLowerCase();
  if (!connection.includes('upgrade') || !upgrade.includes(SPDY_UPGRADE.toLowerCase())) {
    httpError(socket, 400, 'Bad Request', 'unable to upgrade: missing upgrade headers in request');
    return null;
  }
  socket.write(
    [
      'HTTP/1.1 101 Switching Protocols',
      'Connection: Upgrade',
      `Upgrade: ${SPDY_UPGRADE}`,
      ...(protocol ? [`X-Stream-Protocol-Version: ${protocol}`] : []),
      `Date: ${new Date().toUTCString()}`,
      '',
      '',
    ].join('\r\n'),
  );
  return { conn: new SpdyConnection(socket, { server: true, head, autoReply: opts.autoReply ?? true }), protocol };
}
