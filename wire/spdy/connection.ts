// SPDY/3.1 sessions over an upgraded socket: SpdyStream (one stream as a Duplex) and
// SpdyConnection (stream ids, header compression state, PING, GOAWAY, teardown), for
// either role. The frames themselves are in codec.ts; see its header for the interop notes.
import { EventEmitter } from 'node:events';
import { Duplex } from 'node:stream';
import {
  FLAG_FIN,
  FLAG_UNIDIRECTIONAL,
  RstStatus,
  GoAwayStatus,
  MAX_DATA_FRAME,
  MAX_STREAM_ID,
  type SpdyHeaders,
  type HeaderInput,
  HeaderCompressor,
  HeaderDecompressor,
  type SpdyFrame,
  encodeFrame,
  FrameParser,
  SpdyError,
  rstName,
} from './codec.js';

// ---------------------------------------------------------------------------------------
// Streams

/** What a stream needs from its connection (kept narrow so the classes stay decoupled). */
interface StreamHost {
  sendFrame(f: SpdyFrame, cb?: (err?: Error | null) => void): void;
  sendHeaderFrame(make: (block: Buffer) => SpdyFrame, headers: HeaderInput): void;
  afterWrite(cb: (err?: Error | null) => void): void;
  readResumed(s: SpdyStream): void;
  streamDone(s: SpdyStream): void;
  readonly dead: boolean;
}

/**
 * One SPDY stream as a Duplex. Readable: the peer's DATA payloads until its FIN ('end').
 * Writable: write() sends DATA frames (≤ 32 KiB each), end() an empty DATA frame with FIN.
 * Both directions close independently (half-close). A stream the peer opened is answered
 * with SYN_REPLY by reply(), or implicitly before its first DATA frame.
 *
 * A RST_STREAM from the peer destroys the stream with a SpdyError ERR_SPDY_STREAM_RESET
 * (`status` = the RST status; k8s peers reset every stream they have not finished, with
 * CANCEL, when they close the connection), once a reader that is consuming has had the
 * data that came before it. A peer that closes the connection under an unfinished stream
 * destroys it the same way with ERR_SPDY_CONNECTION_CLOSED. So listen for 'error' (or use
 * pipeline/finished). destroy() before both directions have finished sends
 * RST_STREAM(CANCEL). Readers that fall behind pause the whole connection (TCP
 * backpressure; spdystream blocks the same way): read every stream you accept.
 */
export class SpdyStream extends Duplex {
  /** Headers of the peer's SYN_REPLY, once received (streams we opened). */
  replyHeaders: SpdyHeaders | undefined;
  /** @internal */ replied: boolean;
  /** @internal FIN (or RST) received. */ remoteFin = false;
  /** @internal FIN (or RST) sent. */ localFin = false;
  /** @internal */ resetError: SpdyError | undefined;
  /** @internal set by openStream: settles the SYN_REPLY wait. */ onReply: ((err?: Error) => void) | undefined;

  constructor(
    private readonly host: StreamHost,
    readonly id: number,
    /** The SYN_STREAM headers, names lowercased. */
    readonly headers: SpdyHeaders,
    /** True for a stream this side opened. */
    readonly local: boolean,
  ) {
    super({ allowHalfOpen: true, readableHighWaterMark: 64 * 1024 });
    this.replied = local;
  }

  /** Sends SYN_REPLY (streams the peer opened; once; later calls do nothing). */
  reply(headers: HeaderInput = {}, opts: { fin?: boolean } = {}): void {
    if (this.replied || this.host.dead || this.resetError) return;
    this.replied = true;
    const fin = !!opts.fin;
    this.host.sendHeaderFrame((block) => ({ type: 'syn_reply', streamId: this.id, flags: fin ? FLAG_FIN : 0, block }), headers);
    if (fin) {
      this.localFin = true;
      this.end();
      this.checkDone();
    }
  }

  /** Sends a HEADERS frame on the stream. */
  sendHeaders(headers: HeaderInput): void {
    if (this.host.dead || this.localFin) return;
    if (!this.replied) this.reply();
    this.host.sendHeaderFrame((block) => ({ type: 'headers', streamId: this.id, flags: 0, block }), headers);
  }

  /** Sends RST_STREAM (default CANCEL) and destroys the stream without an error. */
  reset(status: number = RstStatus.CANCEL): void {
    if (!(this.localFin && this.remoteFin) && !this.host.dead) {
      this.host.sendFrame({ type: 'rst_stream', streamId: this.id, status });
    }
    this.localFin = this.remoteFin = true;
    this.checkDone();
    this.destroy();
  }

  override _read(): void {
    this.host.readResumed(this);
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.resetError || this.localFin) return cb(); // the peer reset it: drop, destroy follows
    if (this.host.dead) return cb(new SpdyError('ERR_SPDY_CONNECTION_CLOSED', 'SPDY connection closed'));
    if (!this.replied) this.reply();
    for (let off = 0; off < chunk.length; off += MAX_DATA_FRAME) {
      this.host.sendFrame({ type: 'data', streamId: this.id, flags: 0, data: chunk.subarray(off, off + MAX_DATA_FRAME) });
    }
    this.host.afterWrite(cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (this.localFin || this.resetError || this.host.dead) return cb();
    if (!this.replied) this.reply();
    this.localFin = true;
    this.host.sendFrame({ type: 'data', streamId: this.id, flags: FLAG_FIN, data: Buffer.alloc(0) });
    this.checkDone();
    this.host.afterWrite(cb);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (!(this.localFin && this.remoteFin)) {
      if (!this.host.dead) this.host.sendFrame({ type: 'rst_stream', streamId: this.id, status: RstStatus.CANCEL });
      this.localFin = this.remoteFin = true;
    }
    this.onReply?.(err ?? new SpdyError('ERR_SPDY_STREAM_RESET', `stream ${this.id} destroyed before SYN_REPLY`, RstStatus.CANCEL));
    this.host.streamDone(this);
    cb(err);
  }

  /** @internal Peer data. Returns false when the reader is behind. */
  deliver(data: Buffer, fin: boolean): boolean {
    let more = true;
    if (this.remoteFin || this.destroyed) return true;
    if (data.length) more = this.push(data);
    if (fin) {
      this.remoteFin = true;
      this.push(null);
      this.checkDone();
    }
    return more;
  }

  /**
   * @internal The stream ends abnormally (RST_STREAM received, connection gone). A reader
   * that is consuming still gets the data that came before; then the stream is destroyed,
   * with err if given (while that reader is still attached).
   */
  fail(err: SpdyError | undefined): void {
    if (this.destroyed) return;
    this.resetError = err ?? new SpdyError('ERR_SPDY_CONNECTION_CLOSED', 'SPDY connection closed');
    this.localFin = this.remoteFin = true;
    this.host.streamDone(this);
    if (this.onReply) {
      // Nobody holds this stream yet: openStream rejects with err instead.
      this.onReply(this.resetError);
      this.destroy();
      return;
    }
    if (this.readableLength === 0 || this.readableFlowing === null) {
      this.destroy(err);
      return;
    }
    // 'data' is emitted for every chunk read, flowing or not; ours runs after the reader's.
    const check = () => {
      if (this.readableLength > 0) return;
      this.off('data', check);
      this.destroy(err);
    };
    this.on('data', check);
  }

  private checkDone(): void {
    if (this.localFin && this.remoteFin) this.host.streamDone(this);
  }
}

// ---------------------------------------------------------------------------------------
// Connections

export interface SpdyConnectionOptions {
  /** This side's role: server streams get even ids, client streams odd ones. */
  server: boolean;
  /** Bytes already read from the socket after the upgrade response/request. */
  head?: Buffer;
  /** Answer every peer SYN_STREAM with an empty SYN_REPLY on receipt, as k8s servers do. */
  autoReply?: boolean;
}

type Outgoing = { frame: SpdyFrame; cb?: (err?: Error | null) => void } | { make: (block: Buffer) => SpdyFrame; headers: HeaderInput };

/**
 * A SPDY/3.1 session over a socket (after the HTTP upgrade). Header names are sent
 * lowercased and merged (a Go peer drops the connection on an uppercase or repeated name,
 * and on Connection, Host, Keep-Alive, Proxy-Connection or Transfer-Encoding headers in a
 * SYN_STREAM: do not send those).
 *
 * Events: 'stream' (SpdyStream) for each SYN_STREAM from the peer — reply() to it, or it is
 * answered before its first DATA frame; with no 'stream' listener a peer stream is refused
 * (RST REFUSED_STREAM). 'goaway' (lastGoodStreamId, status) when the peer sends GOAWAY; the
 * connection then ends once no stream is left. 'error' (only when listened for) on a
 * protocol or socket error; 'close' once, when the connection is gone.
 */
export class SpdyConnection extends EventEmitter implements StreamHost {
  readonly server: boolean;
  private readonly socket: Duplex;
  private readonly streams = new Map<number, SpdyStream>();
  private readonly parser = new FrameParser();
  private readonly compressor = new HeaderCompressor();
  private readonly decompressor = new HeaderDecompressor();
  private readonly autoReply: boolean;
  private nextStreamId: number;
  private lastPeerStreamId = 0;
  private nextPingId: number;
  private readonly pings = new Map<number, { resolve: (ms: number) => void; reject: (e: Error) => void; start: number; timer: NodeJS.Timeout }>();
  private inbox: SpdyFrame[] = [];
  private processing = false;
  private outbox: Outgoing[] = [];
  private compressing = false;
  private readonly pausedBy = new Set<SpdyStream>();
  private goAwaySent = false;
  private goAwayReceived = false;
  private ending = false;
  /** @internal */ dead = false;
  private closeEmitted = false;
  private endTimer: NodeJS.Timeout | undefined;

  constructor(socket: Duplex, opts: SpdyConnectionOptions) {
    super();
    this.socket = socket;
    this.server = opts.server;
    this.autoReply = !!opts.autoReply;
    this.nextStreamId = opts.server ? 2 : 1;
    this.nextPingId = opts.server ? 2 : 1;
    const s = socket as Duplex & { setNoDelay?: (v: boolean) => void; setTimeout?: (ms: number) => void };
    s.setNoDelay?.(true);
    s.setTimeout?.(0);
    socket.on('end', () => this.onSocketEnd());
    socket.on('error', (e: Error) => this.destroy(e));
    socket.on('close', () => this.onSocketClose());
    // Frames are read once the caller has the connection and its listeners are on: first
    // the bytes read with the upgrade, then the socket (Node leaves an upgraded socket
    // neither flowing nor paused, so nothing is lost meanwhile).
    const head = opts.head;
    process.nextTick(() => {
      if (this.dead) return;
      if (head?.length) this.onData(head);
      socket.on('data', (chunk: Buffer) => this.onData(chunk));
    });
  }

  /** Streams not yet closed in both directions. */
  get activeStreams(): number {
    return this.streams.size;
  }

  /**
   * Opens a stream (SYN_STREAM with the headers, names lowercased) and resolves once the
   * peer's SYN_REPLY arrives; `fin` opens it half-closed (we send nothing). Rejects on
   * RST_STREAM, GOAWAY, connection close, or after timeoutMs (default 30 s, as k8s; the
   * stream is then reset).
   */
  openStream(headers: HeaderInput, opts: { fin?: boolean; timeoutMs?: number } = {}): Promise<SpdyStream> {
    if (this.dead || this.goAwaySent || this.goAwayReceived || this.ending) {
      return Promise.reject(new SpdyError('ERR_SPDY_CONNECTION_CLOSED', 'SPDY connection is closing'));
    }
    const id = this.nextStreamId;
    if (id > MAX_STREAM_ID) return Promise.reject(new SpdyError('ERR_SPDY_PROTOCOL', 'stream ids exhausted'));
    this.nextStreamId += 2;
    const lower: SpdyHeaders = {};
    for (const [k, v] of Object.entries(headers)) (lower[k.toLowerCase()] ??= []).push(...(Array.isArray(v) ? v : [v]).map(String));
    const stream = new SpdyStream(this, id, lower, true);
    this.streams.set(id, stream);
    const fin = !!opts.fin;
    const timeoutMs = opts.timeoutMs ?? 30_000;
    return new Promise<SpdyStream>((resolve, reject) => {
      const timer = setTimeout(() => {
        stream.onReply = undefined;
        reject(new SpdyError('ERR_SPDY_TIMEOUT', `no SYN_REPLY for stream ${id} within ${timeoutMs} ms`));
        stream.reset(RstStatus.CANCEL);
      }, timeoutMs);
      stream.onReply = (err) => {
        clearTimeout(timer);
        stream.onReply = undefined;
        if (err) reject(err);
        else resolve(stream);
      };
      this.sendHeaderFrame((block) => ({ type: 'syn_stream', streamId: id, associatedId: 0, priority: 0, slot: 0, flags: fin ? FLAG_FIN : 0, block }), headers);
      if (fin) {
        stream.localFin = true;
        stream.end();
      }
    });
  }

  /** Sends a PING and resolves with the round trip in ms. */
  ping(timeoutMs = 10_000): Promise<number> {
    if (this.dead) return Promise.reject(new SpdyError('ERR_SPDY_CONNECTION_CLOSED', 'SPDY connection closed'));
    const id = this.nextPingId;
    this.nextPingId = this.nextPingId + 2 > 0xffffffff ? (this.server ? 2 : 1) : this.nextPingId + 2;
    return new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pings.delete(id);
        reject(new SpdyError('ERR_SPDY_TIMEOUT', `no PING reply within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pings.set(id, { resolve, reject, start: performance.now(), timer });
      this.sendFrame({ type: 'ping', id });
    });
  }

  /**
   * Sends GOAWAY and ends the socket once everything queued is written; streams still open
   * are destroyed (without an error) when the socket closes. A Go peer stops reading at the
   * GOAWAY and closes the connection: finish or reset streams first.
   */
  close(): void {
    if (this.dead) return;
    if (!this.goAwaySent) {
      this.goAwaySent = true;
      this.sendFrame({ type: 'goaway', lastGoodStreamId: this.lastPeerStreamId, status: GoAwayStatus.OK });
    }
    this.endSocket();
  }

  /**
   * Tears the connection down now: the socket and every open stream are destroyed (the
   * streams with ERR_SPDY_CONNECTION_CLOSED when err is given, else without an error).
   */
  destroy(err?: Error): void {
    this.teardown(err, err ? new SpdyError('ERR_SPDY_CONNECTION_CLOSED', `SPDY connection failed: ${err.message}`) : undefined);
  }

  private teardown(err: Error | undefined, streamErr: SpdyError | undefined): void {
    if (this.dead) return;
    this.dead = true;
    clearTimeout(this.endTimer);
    for (const s of [...this.streams.values()]) s.fail(streamErr);
    this.streams.clear();
    const closed = streamErr ?? new SpdyError('ERR_SPDY_CONNECTION_CLOSED', 'SPDY connection closed');
    for (const p of this.pings.values()) {
      clearTimeout(p.timer);
      p.reject(closed);
    }
    this.pings.clear();
    this.outbox = [];
    this.inbox = [];
    this.socket.destroy();
    this.compressor.close();
    this.decompressor.close();
    if (err && this.listenerCount('error') > 0) this.emit('error', err);
    if (!this.closeEmitted) {
      this.closeEmitted = true;
      process.nextTick(() => this.emit('close'));
    }
  }

  /** The socket closed: streams the peer left unfinished fail, unless we were closing. */
  private onSocketClose(): void {
    this.teardown(undefined, this.goAwaySent && this.ending ? undefined : new SpdyError('ERR_SPDY_CONNECTION_CLOSED', 'SPDY connection closed by the peer'));
  }

  // -- sending ------------------------------------------------------------------------

  /** @internal Queues a frame; frames go out in call order. */
  sendFrame(frame: SpdyFrame, cb?: (err?: Error | null) => void): void {
    if (this.dead) return cb?.(new SpdyError('ERR_SPDY_CONNECTION_CLOSED', 'SPDY connection closed'));
    if (!this.compressing && this.outbox.length === 0) this.writeFrame(frame, cb);
    else this.outbox.push({ frame, cb });
  }

  /** @internal Queues a frame whose header block is compressed first (in order). */
  sendHeaderFrame(make: (block: Buffer) => SpdyFrame, headers: HeaderInput): void {
    if (this.dead) return;
    this.outbox.push({ make, headers });
    void this.pumpOut();
  }

  /** @internal Calls cb when the socket can take more (now, or on 'drain'/close). */
  afterWrite(cb: (err?: Error | null) => void): void {
    if (this.dead) return cb(new SpdyError('ERR_SPDY_CONNECTION_CLOSED', 'SPDY connection closed'));
    if (!this.socket.writableNeedDrain) return cb();
    const done = () => {
      this.socket.off('drain', done);
      this.socket.off('close', done);
      cb(this.dead ? new SpdyError('ERR_SPDY_CONNECTION_CLOSED', 'SPDY connection closed') : null);
    };
    this.socket.on('drain', done);
    this.socket.on('close', done);
  }

  private writeFrame(frame: SpdyFrame, cb?: (err?: Error | null) => void): void {
    if (this.socket.destroyed || this.socket.writableEnded) return cb?.(new SpdyError('ERR_SPDY_CONNECTION_CLOSED', 'SPDY connection closed'));
    this.socket.write(encodeFrame(frame), cb);
  }

  private async pumpOut(): Promise<void> {
    if (this.compressing) return;
    this.compressing = true;
    try {
      while (this.outbox.length && !this.dead) {
        const item = this.outbox.shift()!;
        if ('frame' in item) {
          this.writeFrame(item.frame, item.cb);
          continue;
        }
        let block: Buffer;
        try {
          block = await this.compressor.compress(item.headers);
        } catch (e) {
          this.destroy(e as Error);
          return;
        }
        if (this.dead) return;
        this.writeFrame(item.make(block));
      }
    } finally {
      this.compressing = false;
    }
    if (this.ending) this.endSocket();
  }

  private endSocket(): void {
    this.ending = true;
    if (this.dead || this.compressing || this.outbox.length) return;
    if (!this.socket.writableEnded) this.socket.end();
    // A peer that keeps its half open does not get to keep us.
    this.endTimer ??= setTimeout(() => this.destroy(), 5000).unref();
  }

  // -- receiving ----------------------------------------------------------------------

  private onData(chunk: Buffer): void {
    if (this.dead) return;
    let frames: SpdyFrame[];
    try {
      frames = this.parser.push(chunk);
    } catch (e) {
      return this.protocolError(e as Error);
    }
    if (!frames.length) return;
    this.inbox.push(...frames);
    void this.processInbox();
  }

  private onSocketEnd(): void {
    // The peer sends nothing more: finish writing, then close.
    this.endSocket();
  }

  /** Handles frames strictly in arrival order; header blocks are awaited in place. */
  private async processInbox(): Promise<void> {
    if (this.processing) return;
    this.processing = true;
    try {
      while (this.inbox.length && !this.dead) {
        const f = this.inbox.shift()!;
        if (f.type === 'syn_stream' || f.type === 'syn_reply' || f.type === 'headers') {
          let headers: SpdyHeaders;
          try {
            headers = await this.decompressor.decompress(f.block);
          } catch (e) {
            this.protocolError(e as Error);
            return;
          }
          if (this.dead) return;
          this.handleHeaderFrame(f, headers);
        } else {
          this.handleFrame(f);
        }
      }
    } finally {
      this.processing = false;
    }
  }

  private handleHeaderFrame(f: Extract<SpdyFrame, { type: 'syn_stream' | 'syn_reply' | 'headers' }>, headers: SpdyHeaders): void {
    if (f.type === 'syn_stream') {
      const id = f.streamId;
      const peerParity = this.server ? 1 : 0;
      if (id === 0) return this.protocolError(new SpdyError('ERR_SPDY_PROTOCOL', 'SYN_STREAM with stream id 0'));
      if (id % 2 !== peerParity || id <= this.lastPeerStreamId) {
        this.sendFrame({ type: 'rst_stream', streamId: id, status: RstStatus.PROTOCOL_ERROR });
        return;
      }
      this.lastPeerStreamId = id;
      if (this.goAwaySent || this.goAwayReceived || this.ending || this.listenerCount('stream') === 0) {
        this.sendFrame({ type: 'rst_stream', streamId: id, status: RstStatus.REFUSED_STREAM });
        return;
      }
      const stream = new SpdyStream(this, id, headers, false);
      this.streams.set(id, stream);
      if (f.flags & FLAG_UNIDIRECTIONAL) {
        // We may not send on it: no reply expected either.
        stream.replied = true;
        stream.localFin = true;
        stream.end();
      }
      if (this.autoReply) stream.reply();
      if (f.flags & FLAG_FIN) stream.deliver(Buffer.alloc(0), true);
      this.emit('stream', stream);
      return;
    }
    const stream = this.streams.get(f.streamId);
    if (!stream) return; // gone already (reset, or never ours): ignore, as spdystream does
    if (f.type === 'syn_reply') {
      if (!stream.local || stream.replyHeaders) return;
      stream.replyHeaders = headers;
      stream.onReply?.();
    } else {
      stream.emit('headers', headers);
    }
    if (f.flags & FLAG_FIN) stream.deliver(Buffer.alloc(0), true);
  }

  private handleFrame(f: SpdyFrame): void {
    switch (f.type) {
      case 'data': {
        const stream = this.streams.get(f.streamId);
        if (!stream) return; // unknown or already closed: ignored, as spdystream does
        const fin = (f.flags & FLAG_FIN) !== 0;
        if (!f.data.length && !fin) return;
        if (!stream.deliver(f.data, fin) && !this.pausedBy.has(stream)) {
          this.pausedBy.add(stream);
          this.socket.pause();
        }
        return;
      }
      case 'rst_stream': {
        const stream = this.streams.get(f.streamId);
        if (!stream) return;
        stream.fail(new SpdyError('ERR_SPDY_STREAM_RESET', `stream ${f.streamId} reset by peer (${rstName(f.status)})`, f.status));
        return;
      }
      case 'ping': {
        const mine = (f.id & 1) === (this.server ? 0 : 1);
        if (!mine) {
          this.sendFrame({ type: 'ping', id: f.id });
          return;
        }
        const p = this.pings.get(f.id);
        if (p) {
          this.pings.delete(f.id);
          clearTimeout(p.timer);
          p.resolve(performance.now() - p.start);
        }
        return;
      }
      case 'goaway': {
        if (this.goAwayReceived) return;
        this.goAwayReceived = true;
        // Streams we opened above the peer's last good id were never seen by it.
        for (const s of [...this.streams.values()]) {
          if (s.local && s.id > f.lastGoodStreamId && !s.replyHeaders) {
            s.fail(new SpdyError('ERR_SPDY_GOAWAY', `stream ${s.id} refused: the peer sent GOAWAY`, RstStatus.REFUSED_STREAM));
          }
        }
        this.emit('goaway', f.lastGoodStreamId, f.status);
        if (this.streams.size === 0) this.endSocket();
        return;
      }
      case 'settings':
      case 'window_update':
      case 'unknown':
        return; // no flow control, nothing to configure; unknown control frames are ignored
      default:
        return;
    }
  }

  /** @internal A stream's reader wants more: resume the socket if nobody else is behind. */
  readResumed(s: SpdyStream): void {
    if (this.pausedBy.delete(s) && this.pausedBy.size === 0 && !this.dead) this.socket.resume();
  }

  /** @internal Both directions of the stream are closed (or it was reset/destroyed). */
  streamDone(s: SpdyStream): void {
    if (this.streams.get(s.id) === s) this.streams.delete(s.id);
    this.readResumed(s);
    if (this.goAwayReceived && this.streams.size === 0 && !this.dead) this.endSocket();
  }

  private protocolError(e: Error): void {
    if (this.dead) return;
    if (!this.socket.destroyed && !this.socket.writableEnded) {
      this.socket.write(encodeFrame({ type: 'goaway', lastGoodStreamId: this.lastPeerStreamId, status: GoAwayStatus.PROTOCOL_ERROR }));
    }
    this.destroy(e instanceof SpdyError ? e : new SpdyError('ERR_SPDY_PROTOCOL', e.message));
  }
}

