// wire/spdy/codec.ts: the bytes of SPDY/3.1 (constants, header blocks and their
// compression, frames, the frame parser, errors). connection.ts builds sessions on it;
// berthd's server/streaming/spdy-upgrade.ts and dial.ts (the client side, for tests and
// the conformance suite) are the two ends of the HTTP upgrade.
//
// SPDY/3.1 as Kubernetes streaming uses it (exec, attach, port-forward between kubelet
// or the API server and a CRI streaming server): an HTTP/1.1 Upgrade to `SPDY/3.1`,
// then framed, multiplexed streams. The peer is Go's github.com/moby/spdystream driven by
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
import * as zlib from 'node:zlib';

export const SPDY_UPGRADE = 'SPDY/3.1';
export const SPDY_VERSION = 3;
/** The header in which a client offers, and a server names, the streaming sub-protocol. */
export const STREAM_PROTOCOL_HEADER = 'x-stream-protocol-version';

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
export const MAX_STREAM_ID = 0x7fffffff;

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

export const rstName = (s: number) => Object.entries(RstStatus).find(([, v]) => v === s)?.[0] ?? String(s);
