// berthd's streaming server: the HTTP endpoint behind the URLs that Exec, Attach and
// PortForward return. kubelet (or crictl, or critest) connects to the URL right away and
// upgrades the connection to SPDY/3.1 or WebSocket; the single-use token in the path
// names the request the URL was made for, so the connection needs no other credentials.
// It listens on 127.0.0.1 by default: only local clients (kubelet proxies for the API
// server) can reach it.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { resourceExhausted } from '../errors.js';
import type { Logger } from '../logger.js';
import { TokenCache } from './tokens.js';
import { serveRemoteCommand, type CommandResult, type CommandStreams, type StreamOptions } from './remotecommand.js';
import { servePortForward } from './portforward.js';

export type StreamRequest =
  | { kind: 'exec'; containerId: string; cmd: string[]; opts: StreamOptions }
  | { kind: 'attach'; containerId: string; opts: StreamOptions }
  | { kind: 'portforward'; podId: string; ports: number[] };

/** The domain side: what runs once a client connected. */
export interface StreamingBackends {
  exec(containerId: string, cmd: string[], opts: StreamOptions, streams: CommandStreams): Promise<CommandResult>;
  attach(containerId: string, opts: StreamOptions, streams: CommandStreams): Promise<CommandResult>;
  openPort(podId: string, port: number, signal: AbortSignal): Promise<Duplex>;
}

export interface StreamingServerOptions {
  address: string;
  port: number;
  idleTimeoutMs: number;
}

export class StreamingServer {
  private readonly tokens = new TokenCache<StreamRequest>();
  private readonly sockets = new Set<Duplex>();

  /** Streaming tokens and connections held (for the soak's leak check). */
  counts(): { tokens: number; sockets: number } {
    return { tokens: this.tokens.size, sockets: this.sockets.size };
  }

  private constructor(
    private readonly http: Server,
    readonly baseUrl: string,
    private readonly backends: StreamingBackends,
    private readonly opts: StreamingServerOptions,
    private readonly log: Logger,
  ) {}

  static async start(opts: StreamingServerOptions, backends: StreamingBackends, log: Logger): Promise<StreamingServer> {
    const http = createServer();
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen(opts.port, opts.address, () => {
        http.off('error', reject);
        resolve();
      });
    });
    const addr = http.address() as AddressInfo;
    const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
    const s = new StreamingServer(http, `http://${host}:${addr.port}`, backends, opts, log);
    http.on('request', (req, res) => {
      // Every valid use is an upgrade; a plain request still burns its token (as kubelet's does).
      s.take(req);
      res.writeHead(400, { 'content-type': 'text/plain' }).end('unable to upgrade: missing upgrade headers in request\n');
    });
    http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => s.onUpgrade(req, socket, head));
    http.on('clientError', (_e, socket) => socket.destroy());
    return s;
  }

  /** Registers a request and returns its URL; RESOURCE_EXHAUSTED when too many are outstanding. */
  url(req: StreamRequest): string {
    const token = this.tokens.insert(req);
    if (!token) throw resourceExhausted('too many streaming requests are waiting for their client; try again');
    return `${this.baseUrl}/${req.kind}/${token}`;
  }

  /** Open streaming connections (berth_streaming_sessions). */
  get sessions(): number {
    return this.sockets.size;
  }

  /** Stops listening and closes every streaming connection. */
  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
  }

  private take(req: IncomingMessage): StreamRequest | undefined {
    const m = /^\/(exec|attach|portforward)\/([A-Za-z0-9_-]{1,64})(?:\?.*)?$/.exec(req.url ?? '');
    if (!m) return undefined;
    const r = this.tokens.consume(m[2]!);
    return r && r.kind === m[1] ? r : undefined;
  }

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const r = this.take(req);
    if (!r) {
      socket.end('HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 38\r\nConnection: close\r\n\r\nunknown, used or expired stream token\n');
      return;
    }
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    const log = (msg: string, meta?: Record<string, unknown>) => this.log.warn(msg, { ...meta, kind: r.kind });
    const started = Date.now();
    socket.on('close', () => this.log.debug('streaming connection closed', { kind: r.kind, ms: Date.now() - started }));
    if (r.kind === 'portforward') {
      servePortForward(req, socket, head, { podId: r.podId, idleTimeoutMs: this.opts.idleTimeoutMs, log }, (port, signal) => this.backends.openPort(r.podId, port, signal));
      return;
    }
    const run =
      r.kind === 'exec'
        ? (streams: CommandStreams) => this.backends.exec(r.containerId, r.cmd, r.opts, streams)
        : (streams: CommandStreams) => this.backends.attach(r.containerId, r.opts, streams);
    serveRemoteCommand(req, socket, head, { ...r.opts, idleTimeoutMs: this.opts.idleTimeoutMs, log }, run);
  }
}
