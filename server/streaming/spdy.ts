// SPDY/3.1 as Kubernetes streaming uses it (exec, attach, port-forward between kubelet or
// the API server and a CRI streaming server): an HTTP/1.1 Upgrade to `SPDY/3.1`, then
// framed, multiplexed streams. The peer is Go's github.com/moby/spdystream driven by
// k8s.io/apimachinery/pkg/util/httpstream/spdy, so this implements what that pair does on
// the wire, no more:
//
//   - frames: DATA and the SPDY/3 control frames SYN_STREAM, SYN_REPLY, RST_STREAM,
//     SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE (draft-mbelshe-httpbis-spdy-00 §2);
//   - header blocks: a 32-bit count, then 32-bit length-prefixed lowercase names and values
//     (several values of one name joined by NUL), compressed with one zlib stream per
//     direction for the whole connection, primed with the SPDY/3 dictionary, each block
//     ending with a sync flush;
//   - client streams have odd ids, server streams even ids; a PING is answered with the
//     same id; SETTINGS and WINDOW_UPDATE are accepted and ignored (spdystream does no flow
//     control, so neither do we: nothing enforces windows and no WINDOW_UPDATE is sent).
//
// Interop notes (spdystream + k8s httpstream/spdy):
//   - Go sends header names lowercased (`streamtype`, `port`, `requestid`); we lowercase
//     names on both sides and expose them lowercased.
//   - The k8s server answers every SYN_STREAM with an empty SYN_REPLY as soon as it has
//     it; the Go client waits up to 30 s for that reply before using the stream. A Go
//     receiver drops DATA for a stream it opened until the SYN_REPLY arrives, so a reply
//     always goes out before the first DATA frame here (writing replies implicitly).
//   - Go writes one DATA frame per Write (up to 16 MiB); "Close" on a Go stream is an empty
//     DATA frame with FIN; "Reset" is RST_STREAM(CANCEL). A k8s connection Close resets
//     every stream it has not finished, sends GOAWAY and closes the TCP connection.
//   - On GOAWAY a Go peer stops reading frames and closes the TCP connection once its
//     streams are gone: send GOAWAY (close()) only when done.
import { EventEmitter } from 'node:events';
import { Duplex } from 'node:stream';
import * as zlib from 'node:zlib';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';

export const SPDY_UPGRADE = 'SPDY/3.1';
export const SPDY_VERSION = 3;

export const FLAG_FIN = 0x01;
export const FLAG_UNIDIRECTIONAL = 0x02;

/** Control frame types (SPDY/3 §2.6). */
export const FrameType = {
  SynStream: 1,
  SynReply: 2,
  RstStream: 3,
  Settings: 4,
  Ping: 6,
  GoAway: 7,
  Headers: 8,
  WindowUpdate: 9,
} as const;

/** RST_STREAM status codes (SPDY/3 §2.6.3). */
export const RstStatus = {
  PROTOCOL_ERROR: 1,
  INVALID_STREAM: 2,
  REFUSED_STREAM: 3,
  UNSUPPORTED_VERSION: 4,
  CANCEL: 5,
  INTERNAL_ERROR: 6,
  FLOW_CONTROL_ERROR: 7,
  STREAM_IN_USE: 8,
  STREAM_ALREADY_CLOSED: 9,
  INVALID_CREDENTIALS: 10,
  FRAME_TOO_LARGE: 11,
} as const;

/** GOAWAY status codes (SPDY/3 §2.6.6). */
export const GoAwayStatus = { OK: 0, PROTOCOL_ERROR: 1, INTERNAL_ERROR: 2 } as const;

/** Largest DATA payload we send in one frame (Go accepts up to 2^24-1). */
export const MAX_DATA_FRAME = 32 * 1024;
const MAX_STREAM_ID = 0x7fffffff;

// ---------------------------------------------------------------------------------------
// The SPDY/3 header compression dictionary (draft-mbelshe-httpbis-spdy-00 §2.6.10.1, the
// same 1423 bytes as moby/spdystream spdy/dictionary.go and Chromium's). It is 65 header
// and method words, each preceded by its length as a 32-bit big-endian integer, then a
// run of status codes, reason phrases, dates and common values with no separators.
const DICT_WORDS = [
  'options', 'head', 'post', 'put', 'delete', 'trace', 'accept', 'accept-charset', 'accept-encoding', 'accept-language',
  'accept-ranges', 'age', 'allow', 'authorization', 'cache-control', 'connection', 'content-base', 'content-encoding',
  'content-language', 'content-length', 'content-location', 'content-md5', 'content-range', 'content-type', 'date',
  'etag', 'expect', 'expires', 'from', 'host', 'if-match', 'if-modified-since', 'if-none-match', 'if-range',
  'if-unmodified-since', 'last-modified', 'location', 'max-forwards', 'pragma', 'proxy-authenticate',
  'proxy-authorization', 'range', 'referer', 'retry-after', 'server', 'te', 'trailer', 'transfer-encoding', 'upgrade',
  'user-agent', 'vary', 'via', 'warning', 'www-authenticate', 'method', 'get', 'status', '200 OK', 'version',
  'HTTP/1.1', 'url', 'public', 'set-cookie', 'keep-alive', 'origin',
];
const DICT_TAIL = [
  '100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505',
  '203 Non-Authoritative Information', '204 No Content', '301 Moved Permanently', '400 Bad Request',
  '401 Unauthorized', '403 Forbidden', '404 Not Found', '500 Internal Server Error', '501 Not Implemented',
  '503 Service Unavailable',
  'Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT',
  'chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,text/javascript,',
  'publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.',
].join('');

export const SPDY_DICTIONARY: Buffer = Buffer.concat([
  ...DICT_WORDS.map((w) => {
    const b = Buffer.alloc(4 + w.length);
    b.writeUInt32BE(w.length, 0);
    b.write(w, 4, 'latin1');
    return b;
  }),
  Buffer.from(DICT_TAIL, 'latin1'),
]);

// ---------------------------------------------------------------------------------------
// Header blocks

/** Header names (lowercase) to their values. */
export type SpdyHeaders = Record<string, string[]>;
/** Headers as callers give them: any case, one value or several. */
export type HeaderInput = Record<string, string | number | readonly (string | number)[]>;

/** The uncompressed name/value block: names lowercased, values of one name joined by NUL. */
export function encodeHeaderBlock(headers: HeaderInput): Buffer {
  const merged = new Map<string, string[]>();
  for (const [k, v] of Object.entries(headers)) {
    const name = k.toLowerCase();
    const values = (Array.isArray(v) ? v : [v]).map(String);
    merged.set(name, [...(merged.get(name) ?? []), ...values]);
  }
  const parts: Buffer[] = [u32(merged.size)];
  for (const [name, values] of merged) {
    const n = Buffer.from(name, 'utf8');
    const val = Buffer.from(values.join('\0'), 'utf8');
    parts.push(u32(n.length), n, u32(val.length), val);
  }
  return Buffer.concat(parts);
}

/** Parses an uncompressed name/value block; names are lowercased. */
export function decodeHeaderBlock(buf: Buffer): SpdyHeaders {
  const out: SpdyHeaders = {};
  let off = 0;
  const need = (n: number) => {
    if (off + n > buf.length) throw new SpdyError('ERR_SPDY_PROTOCOL', 'truncated header block');
  };
  need(4);
  const count = buf.readUInt32BE(off);
  off += 4;
  for (let i = 0; i < count; i++) {
    need(4);
    const nl = buf.readUInt32BE(off);
    off += 4;
    need(nl);
    const name = buf.toString('utf8', off, off + nl).toLowerCase();
    off += nl;
    need(4);
    const vl = buf.readUInt32BE(off);
    off += 4;
    need(vl);
    const values = buf.toString('utf8', off, off + vl).split('\0');
    off += vl;
    (out[name] ??= []).push(...values);
  }
  return out;
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0, 0);
  return b;
}

/**
 * One zlib stream used block by block, in order: each block is written with a sync flush
 * and its output collected. Node's zlib is asynchronous; callers get a promise per block,
 * and blocks are processed strictly in call order.
 */
class ZlibBlocks {
  private out: Buffer[] = [];
  private chain: Promise<unknown> = Promise.resolve();
  private failed: Error | undefined;
  private pendingReject: ((e: Error) => void) | undefined;

  constructor(private readonly z: zlib.Deflate | zlib.Inflate) {
    // Drain as output appears: with a full readable buffer, zlib would wait for a reader.
    z.on('readable', () => this.drain());
    z.on('error', (e: Error) => {
      this.failed = e;
      this.pendingReject?.(e);
    });
  }

  private drain(): void {
    let c: Buffer | null;
    while ((c = this.z.read() as Buffer | null) !== null) this.out.push(c);
  }

  run(input: Buffer): Promise<Buffer> {
    const p = this.chain.then(
      () =>
        new Promise<Buffer>((resolve, reject) => {
          if (this.failed) return reject(this.failed);
          this.out = [];
          this.pendingReject = reject;
          this.z.write(input, (err) => {
            this.pendingReject = undefined;
            if (err || this.failed) return reject(err ?? this.failed);
            this.drain();
            const o = Buffer.concat(this.out);
            this.out = [];
            resolve(o);
          });
        }),
    );
    this.chain = p.catch(() => undefined);
    return p;
  }

  close(): void {
    this.z.close();
  }
}

/** The sending side's header compression: one deflate stream for the whole connection. */
export class HeaderCompressor {
  private readonly z = new ZlibBlocks(zlib.createDeflate({ dictionary: SPDY_DICTIONARY, flush: zlib.constants.Z_SYNC_FLUSH }));
  compress(headers: HeaderInput): Promise<Buffer> {
    return this.z.run(encodeHeaderBlock(headers));
  }
  close(): void {
    this.z.close();
  }
}

/** The receiving side's header decompression: one inflate stream for the whole connection. */
export class HeaderDecompressor {
  private readonly z = new ZlibBlocks(zlib.createInflate({ dictionary: SPDY_DICTIONARY, flush: zlib.constants.Z_SYNC_FLUSH }));
  async decompress(block: Buffer): Promise<SpdyHeaders> {
    let raw: Buffer;
    try {
      raw = await this.z.run(block);
    } catch (e) {
      throw new SpdyError('ERR_SPDY_PROTOCOL', `header block does not decompress: ${(e as Error).message}`);
    }
    return decodeHeaderBlock(raw);
  }
  close(): void {
    this.z.close();
  }
}

// ---------------------------------------------------------------------------------------
// Frames

export type SpdyFrame =
  /** From the parser, a DATA frame may come in several pieces; only the last carries FIN. */
  | { type: 'data'; streamId: number; flags: number; data: Buffer }
  | { type: 'syn_stream'; streamId: number; associatedId: number; priority: number; slot: number; flags: number; block: Buffer }
  | { type: 'syn_reply'; streamId: number; flags: number; block: Buffer }
  | { type: 'rst_stream'; streamId: number; status: number }
  | { type: 'settings'; flags: number; entries: Array<{ flags: number; id: number; value: number }> }
  | { type: 'ping'; id: number }
  | { type: 'goaway'; lastGoodStreamId: number; status: number }
  | { type: 'headers'; streamId: number; flags: number; block: Buffer }
  | { type: 'window_update'; streamId: number; delta: number }
  | { type: 'unknown'; version: number; frameType: number; flags: number; payload: Buffer };

/** The 8-bit flags and 24-bit length word shared by every frame header. */
function flagsAndLength(flags: number, length: number): number {
  return (flags & 0xff) * 0x1000000 + (length & 0xffffff);
}

function controlFrame(type: number, flags: number, payload: Buffer): Buffer {
  if (payload.length > 0xffffff) throw new SpdyError('ERR_SPDY_PROTOCOL', 'control frame too large');
  const h = Buffer.alloc(8);
  h.writeUInt16BE(0x8000 | SPDY_VERSION, 0);
  h.writeUInt16BE(type, 2);
  h.writeUInt32BE(flagsAndLength(flags, payload.length), 4);
  return Buffer.concat([h, payload]);
}

/** One frame on the wire; header blocks must already be compressed. */
export function encodeFrame(f: SpdyFrame): Buffer {
  switch (f.type) {
    case 'data': {
      if (f.data.length > 0xffffff) throw new SpdyError('ERR_SPDY_PROTOCOL', 'DATA frame too large');
      const h = Buffer.alloc(8);
      h.writeUInt32BE(f.streamId & MAX_STREAM_ID, 0);
      h.writeUInt32BE(flagsAndLength(f.flags, f.data.length), 4);
      return Buffer.concat([h, f.data]);
    }
    case 'syn_stream': {
      const p = Buffer.alloc(10);
      p.writeUInt32BE(f.streamId & MAX_STREAM_ID, 0);
      p.writeUInt32BE(f.associatedId & MAX_STREAM_ID, 4);
      p[8] = (f.priority & 0x7) << 5;
      p[9] = f.slot & 0xff;
      return controlFrame(FrameType.SynStream, f.flags, Buffer.concat([p, f.block]));
    }
    case 'syn_reply':
    case 'headers': {
      const p = u32(f.streamId & MAX_STREAM_ID);
      return controlFrame(f.type === 'syn_reply' ? FrameType.SynReply : FrameType.Headers, f.flags, Buffer.concat([p, f.block]));
    }
    case 'rst_stream':
      return controlFrame(FrameType.RstStream, 0, Buffer.concat([u32(f.streamId & MAX_STREAM_ID), u32(f.status)]));
    case 'settings': {
      const parts = [u32(f.entries.length)];
      for (const e of f.entries) parts.push(u32(flagsAndLength(e.flags, e.id & 0xffffff)), u32(e.value));
      return controlFrame(FrameType.Settings, f.flags, Buffer.concat(parts));
    }
    case 'ping':
      return controlFrame(FrameType.Ping, 0, u32(f.id));
    case 'goaway':
      return controlFrame(FrameType.GoAway, 0, Buffer.concat([u32(f.lastGoodStreamId & MAX_STREAM_ID), u32(f.status)]));
    case 'window_update':
      return controlFrame(FrameType.WindowUpdate, 0, Buffer.concat([u32(f.streamId & MAX_STREAM_ID), u32(f.delta & MAX_STREAM_ID)]));
    case 'unknown': {
      const h = Buffer.alloc(8);
      h.writeUInt16BE(0x8000 | f.version, 0);
      h.writeUInt16BE(f.frameType, 2);
      h.writeUInt32BE(flagsAndLength(f.flags, f.payload.length), 4);
      return Buffer.concat([h, f.payload]);
    }
  }
}

/**
 * Incremental frame parser: feed it socket chunks in order, get the complete frames they
 * finish. DATA payloads are handed out as they arrive (a large frame split over chunks
 * comes out in pieces, FIN on the last), control frames once complete. Throws SpdyError
 * (ERR_SPDY_PROTOCOL) on a malformed frame; the connection is unusable after that.
 */
export class FrameParser {
  private chunks: Buffer[] = [];
  private length = 0;
  /** Remaining payload bytes of the DATA frame being read, with its stream and flags. */
  private data: { streamId: number; flags: number; remaining: number } | undefined;
  /** Header of the control frame whose payload is awaited. */
  private control: { version: number; type: number; flags: number; length: number } | undefined;

  push(chunk: Buffer): SpdyFrame[] {
    if (chunk.length) {
      this.chunks.push(chunk);
      this.length += chunk.length;
    }
    const out: SpdyFrame[] = [];
    for (;;) {
      if (this.data) {
        if (!this.length) break;
        const piece = this.takeUpTo(this.data.remaining);
        this.data.remaining -= piece.length;
        const last = this.data.remaining === 0;
        out.push({ type: 'data', streamId: this.data.streamId, flags: last ? this.data.flags : this.data.flags & ~FLAG_FIN, data: piece });
        if (last) this.data = undefined;
        continue;
      }
      if (this.control) {
        if (this.length < this.control.length) break;
        const payload = this.take(this.control.length);
        out.push(parseControl(this.control.version, this.control.type, this.control.flags, payload));
        this.control = undefined;
        continue;
      }
      if (this.length < 8) break;
      const h = this.take(8);
      const w0 = h.readUInt32BE(0);
      const flags = h[4]!;
      const len = h.readUInt32BE(4) & 0xffffff;
      if (w0 & 0x80000000) {
        this.control = { version: (w0 >>> 16) & 0x7fff, type: w0 & 0xffff, flags, length: len };
      } else if (len === 0) {
        out.push({ type: 'data', streamId: w0, flags, data: Buffer.alloc(0) });
      } else {
        this.data = { streamId: w0, flags, remaining: len };
      }
    }
    return out;
  }

  /** Exactly n bytes (n ≤ length), copied only when they span chunks. */
  private take(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    const first = this.chunks[0]!;
    if (first.length >= n) {
      const r = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      this.length -= n;
      return r;
    }
    const out = Buffer.allocUnsafe(n);
    let off = 0;
    while (off < n) {
      const c = this.chunks[0]!;
      const k = Math.min(c.length, n - off);
      c.copy(out, off, 0, k);
      off += k;
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
    }
    this.length -= n;
    return out;
  }

  /** Up to n bytes from the first chunk, without copying. */
  private takeUpTo(n: number): Buffer {
    const first = this.chunks[0]!;
    return this.take(Math.min(n, first.length));
  }
}

function parseControl(version: number, type: number, flags: number, p: Buffer): SpdyFrame {
  const bad = (what: string) => new SpdyError('ERR_SPDY_PROTOCOL', `malformed ${what} frame (length ${p.length})`);
  if (version !== SPDY_VERSION) return { type: 'unknown', version, frameType: type, flags, payload: p };
  switch (type) {
    case FrameType.SynStream:
      if (p.length < 10) throw bad('SYN_STREAM');
      return {
        type: 'syn_stream',
        streamId: p.readUInt32BE(0) & MAX_STREAM_ID,
        associatedId: p.readUInt32BE(4) & MAX_STREAM_ID,
        priority: p[8]! >> 5,
        slot: p[9]!,
        flags,
        block: p.subarray(10),
      };
    case FrameType.SynReply:
    case FrameType.Headers:
      if (p.length < 4) throw bad(type === FrameType.SynReply ? 'SYN_REPLY' : 'HEADERS');
      return { type: type === FrameType.SynReply ? 'syn_reply' : 'headers', streamId: p.readUInt32BE(0) & MAX_STREAM_ID, flags, block: p.subarray(4) };
    case FrameType.RstStream:
      if (p.length !== 8) throw bad('RST_STREAM');
      return { type: 'rst_stream', streamId: p.readUInt32BE(0) & MAX_STREAM_ID, status: p.readUInt32BE(4) };
    case FrameType.Settings: {
      if (p.length < 4) throw bad('SETTINGS');
      const n = p.readUInt32BE(0);
      if (p.length !== 4 + 8 * n) throw bad('SETTINGS');
      const entries = [];
      for (let i = 0; i < n; i++) {
        const w = p.readUInt32BE(4 + 8 * i);
        entries.push({ flags: w >>> 24, id: w & 0xffffff, value: p.readUInt32BE(8 + 8 * i) });
      }
      return { type: 'settings', flags, entries };
    }
    case FrameType.Ping:
      if (p.length !== 4) throw bad('PING');
      return { type: 'ping', id: p.readUInt32BE(0) };
    case FrameType.GoAway:
      // SPDY/3 adds a status word; accept the 4-byte SPDY/2 form too.
      if (p.length !== 8 && p.length !== 4) throw bad('GOAWAY');
      return { type: 'goaway', lastGoodStreamId: p.readUInt32BE(0) & MAX_STREAM_ID, status: p.length === 8 ? p.readUInt32BE(4) : 0 };
    case FrameType.WindowUpdate:
      if (p.length !== 8) throw bad('WINDOW_UPDATE');
      return { type: 'window_update', streamId: p.readUInt32BE(0) & MAX_STREAM_ID, delta: p.readUInt32BE(4) & MAX_STREAM_ID };
    default:
      return { type: 'unknown', version, frameType: type, flags, payload: p };
  }
}

// ---------------------------------------------------------------------------------------
// Errors

export type SpdyErrorCode =
  | 'ERR_SPDY_PROTOCOL'
  | 'ERR_SPDY_STREAM_RESET'
  | 'ERR_SPDY_CONNECTION_CLOSED'
  | 'ERR_SPDY_GOAWAY'
  | 'ERR_SPDY_TIMEOUT'
  | 'ERR_SPDY_UPGRADE';

export class SpdyError extends Error {
  override name = 'SpdyError';
  constructor(
    readonly code: SpdyErrorCode,
    message: string,
    /** RST_STREAM status (ERR_SPDY_STREAM_RESET) or HTTP status (ERR_SPDY_UPGRADE). */
    readonly status?: number,
    /** Response body of a refused upgrade. */
    readonly body?: string,
  ) {
    super(message);
  }
}

const rstName = (s: number) => Object.entries(RstStatus).find(([, v]) => v === s)?.[0] ?? String(s);

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

// ---------------------------------------------------------------------------------------
// The HTTP upgrade

const PROTOCOL_HEADER = 'x-stream-protocol-version';

/** The protocols a client offers: every X-Stream-Protocol-Version header, comma-split. */
function offeredProtocols(req: IncomingMessage): string[] {
  const raw = req.headersDistinct?.[PROTOCOL_HEADER] ?? [];
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
      const protocol = String(res.headers[PROTOCOL_HEADER] ?? '');
      resolve({ conn: new SpdyConnection(socket, { server: false, head }), protocol });
    });
    req.end();
  });
}
