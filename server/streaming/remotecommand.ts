// The Kubernetes remote-command protocol (exec and attach) over both transports kubelet
// and its clients use: SPDY/3.1 (one SPDY stream per std stream, told apart by their
// `streamType` header) and WebSocket (one connection, every message tagged with a
// channel byte). The transport work ends in a `CommandStreams` the exec/attach backends
// use without knowing which transport carries it, and a final status written the way the
// negotiated protocol version wants it (v4+: a metav1.Status as JSON on the error stream;
// older: the error text, nothing on success).
import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { PassThrough, Writable, type Readable, type Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import { acceptSpdy } from './spdy-upgrade.js';
import type { SpdyStream } from '../../wire/spdy/connection.js';
import { acceptWebSocket, websocketChannels } from './ws.js';

export interface StreamOptions {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
}

export interface TermSize {
  width: number;
  height: number;
}

/** Terminal sizes from the client; remembers the latest for a backend that starts late. */
export class TermSizes extends EventEmitter {
  last?: TermSize;
  push(size: TermSize): void {
    this.last = size;
    this.emit('resize', size);
  }
}

/** What a backend gets: the client's streams, resize events, and a signal for hang-ups. */
export interface CommandStreams {
  /** Bytes the client types; ends when the client closes its stdin. */
  stdin?: Readable;
  stdout?: Writable;
  stderr?: Writable;
  /** Emits 'resize' (TermSize) when the client's terminal changes size (tty only); `last` is the latest. */
  resize: TermSizes;
  /** Aborted when the client goes away; the backend stops its work then. */
  signal: AbortSignal;
}

/** How the command ended: an exit code (exec) or a plain success (attach), or an error. */
export type CommandResult = { exitCode: number; cmd?: string[] } | { error: string };

export const SPDY_REMOTECOMMAND_PROTOCOLS = ['v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io'];
export const WS_REMOTECOMMAND_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io', 'v4.base64.channel.k8s.io', 'channel.k8s.io', 'base64.channel.k8s.io'];
/** How long the client has to open its streams after the upgrade (kubelet: 30 s). */
export const STREAM_CREATION_TIMEOUT_MS = 30_000;

const STDIN = 0;
const STDOUT = 1;
const STDERR = 2;
const ERROR = 3;
const RESIZE = 4;

/** The final status as the protocol version wants it (pure; exported for tests). */
export function statusPayload(protocol: string, result: CommandResult): Buffer | undefined {
  const json = /^v[45]\./.test(protocol);
  if ('error' in result) {
    const message = `Internal error occurred: ${result.error}`;
    if (!json) return Buffer.from(message);
    return Buffer.from(
      JSON.stringify({ metadata: {}, status: 'Failure', message, reason: 'InternalError', details: { causes: [{ message: result.error }] }, code: 500 }),
    );
  }
  if (result.exitCode === 0) return json ? Buffer.from(JSON.stringify({ metadata: {}, status: 'Success' })) : undefined;
  const message = `command terminated with non-zero exit code: error executing command ${formatCmd(result.cmd ?? [])}, exit code ${result.exitCode}`;
  if (!json) return Buffer.from(message);
  return Buffer.from(
    JSON.stringify({
      metadata: {},
      status: 'Failure',
      message,
      reason: 'NonZeroExitCode',
      details: { causes: [{ reason: 'ExitCode', message: String(result.exitCode) }] },
    }),
  );
}

function formatCmd(cmd: string[]): string {
  return `[${cmd.join(' ')}]`;
}

/** Parses one resize message (`{"Width":80,"Height":24}`); undefined when malformed. */
export function parseResize(text: string): TermSize | undefined {
  try {
    const v = JSON.parse(text) as { Width?: unknown; Height?: unknown };
    const width = Number(v.Width);
    const height = Number(v.Height);
    if (!Number.isInteger(width) || !Number.isInteger(height) || width < 0 || height < 0 || width > 65535 || height > 65535) return undefined;
    return { width, height };
  } catch {
    return undefined;
  }
}

/** Splits concatenated JSON resize objects (SPDY's resize stream is a JSON stream). */
export class ResizeDecoder {
  private buf = '';
  push(chunk: string, onSize: (s: TermSize) => void): void {
    this.buf += chunk;
    if (this.buf.length > 64 * 1024) this.buf = ''; // garbage, not sizes
    let depth = 0;
    let start = -1;
    let inString = false;
    let consumed = 0;
    for (let i = 0; i < this.buf.length; i++) {
      const ch = this.buf[i];
      if (inString) {
        if (ch === '\\') i++;
        else if (ch === '"') inString = false;
        continue;
      }
      if (ch === '"') inString = true;
      else if (ch === '{') {
        if (depth++ === 0) start = i;
      } else if (ch === '}' && depth > 0 && --depth === 0) {
        const size = parseResize(this.buf.slice(start, i + 1));
        if (size) onSize(size);
        consumed = i + 1;
      }
    }
    this.buf = this.buf.slice(consumed);
  }
}

export type RunCommand = (streams: CommandStreams) => Promise<CommandResult>;

export interface ServeOptions extends StreamOptions {
  idleTimeoutMs: number;
  log?: (msg: string, meta?: Record<string, unknown>) => void;
}

/** Serves one exec/attach connection on an upgraded request (SPDY or WebSocket). */
export function serveRemoteCommand(req: IncomingMessage, socket: Duplex, head: Buffer, opts: ServeOptions, run: RunCommand): void {
  if (isWebSocket(req)) serveOverWebSocket(req, socket, head, opts, run);
  else serveOverSpdy(req, socket, head, opts, run);
}

export function isWebSocket(req: IncomingMessage): boolean {
  return (req.headers.upgrade ?? '').toLowerCase() === 'websocket';
}

// ---------------------------------------------------------------- SPDY

function serveOverSpdy(req: IncomingMessage, socket: Duplex, head: Buffer, opts: ServeOptions, run: RunCommand): void {
  const accepted = acceptSpdy(req, socket, head, SPDY_REMOTECOMMAND_PROTOCOLS);
  if (!accepted) return;
  const { conn, protocol } = accepted;
  setIdleTimeout(socket, opts.idleTimeoutMs, () => conn.destroy(new Error('streaming connection idle')));
  const resizable = opts.tty && (protocol === 'v4.channel.k8s.io' || protocol === 'v3.channel.k8s.io');
  const expected = 1 + Number(opts.stdin) + Number(opts.stdout) + Number(opts.stderr) + Number(resizable);
  const got: Partial<Record<'error' | 'stdin' | 'stdout' | 'stderr' | 'resize', SpdyStream>> = {};
  const abort = new AbortController();
  let started = false;
  conn.on('close', () => abort.abort());
  conn.on('error', () => abort.abort());
  const timer = setTimeout(() => {
    opts.log?.('client did not open its streams in time', { protocol, got: Object.keys(got) });
    conn.destroy();
  }, STREAM_CREATION_TIMEOUT_MS);
  conn.on('stream', (s: SpdyStream) => {
    // A hang-up or reset surfaces as an error on each stream; the session handles it through `abort`.
    s.on('error', () => undefined);
    s.reply();
    const type = (s.headers['streamtype']?.[0] ?? '').toLowerCase();
    if (started || !(type === 'error' || type === 'stdin' || type === 'stdout' || type === 'stderr' || type === 'resize') || got[type]) {
      s.reset();
      return;
    }
    got[type] = s;
    // Streams the client opens but we do not read still need draining.
    if (type !== 'stdin' && type !== 'resize') s.resume();
    if (Object.keys(got).length < expected) return;
    started = true;
    clearTimeout(timer);
    const resize = new TermSizes();
    if (got.resize) {
      const dec = new ResizeDecoder();
      got.resize.setEncoding('utf8');
      got.resize.on('data', (t: string) => dec.push(t, (sz) => resize.push(sz)));
    }
    const streams: CommandStreams = { stdin: got.stdin, stdout: got.stdout, stderr: got.stderr, resize, signal: abort.signal };
    void finish(run, streams, async (result) => {
      await Promise.all([endStream(got.stdout), endStream(got.stderr)]);
      const payload = statusPayload(protocol, result);
      if (got.error) {
        if (payload) await writeAll(got.error, payload);
        await endStream(got.error);
      }
      conn.close();
    });
  });
}

// ---------------------------------------------------------------- WebSocket

function serveOverWebSocket(req: IncomingMessage, socket: Duplex, head: Buffer, opts: ServeOptions, run: RunCommand): void {
  acceptWebSocket(req, socket, head, WS_REMOTECOMMAND_PROTOCOLS, (ws: WebSocket, protocol: string) => {
    setIdleTimeout(socket, opts.idleTimeoutMs, () => ws.terminate());
    const ch = websocketChannels(ws, protocol.includes('base64') ? 'base64' : 'binary');
    const abort = new AbortController();
    ws.on('close', () => abort.abort());
    ws.on('error', () => ws.terminate());
    const stdin = opts.stdin ? new PassThrough() : undefined;
    const resize = new TermSizes();
    ch.onMessage((channel, data) => {
      if (channel === STDIN && stdin && !stdin.writableEnded) stdin.write(data);
      else if (channel === RESIZE && opts.tty) {
        const sz = parseResize(data.toString('utf8'));
        if (sz) resize.push(sz);
      } else if (channel === 255 && protocol === 'v5.channel.k8s.io' && data[0] === STDIN) stdin?.end(); // v5 close signal
    });
    ws.on('close', () => stdin?.end());
    // k8s announces each channel it writes with an empty message.
    const writers: number[] = [...(opts.stdout ? [STDOUT] : []), ...(opts.stderr ? [STDERR] : []), ERROR];
    for (const c of writers) ch.send(c, Buffer.alloc(0));
    const stdout = opts.stdout ? ch.writable(STDOUT) : undefined;
    const stderr = opts.stderr ? ch.writable(STDERR) : undefined;
    void finish(run, { stdin, stdout, stderr, resize, signal: abort.signal }, async (result) => {
      await Promise.all([endStream(stdout), endStream(stderr)]);
      const payload = statusPayload(protocol, result);
      if (payload) await ch.sendAsync(ERROR, payload);
      ws.close(1000);
    });
  });
}

// ---------------------------------------------------------------- shared

async function finish(run: RunCommand, streams: CommandStreams, done: (r: CommandResult) => Promise<void>): Promise<void> {
  let result: CommandResult;
  try {
    result = await run(streams);
  } catch (e) {
    result = { error: (e as Error).message };
  }
  if (streams.signal.aborted) return;
  try {
    await done(result);
  } catch {
    // The client went away while we wrote the status: nothing left to tell it.
  }
}

function endStream(s: Writable | undefined): Promise<void> {
  if (!s || s.writableEnded || s.destroyed) return Promise.resolve();
  return new Promise((resolve) => s.end(() => resolve()));
}

function writeAll(s: Writable, data: Buffer): Promise<void> {
  return new Promise((resolve, reject) => s.write(data, (e) => (e ? reject(e) : resolve())));
}

export function setIdleTimeout(socket: Duplex, ms: number, onIdle: () => void): void {
  const s = socket as Duplex & { setTimeout?: (ms: number, cb: () => void) => void };
  s.setTimeout?.(ms, onIdle);
}
