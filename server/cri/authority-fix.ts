// Some CRI clients (crictl and critest up to at least 1.26, built on older grpc-go)
// send the socket path ("/run/berth/berth.sock") as the HTTP/2 :authority of calls over
// a unix socket. Node's HTTP/2 stack (nghttp2) rejects such an authority with
// RST_STREAM(PROTOCOL_ERROR) before grpc-js ever sees the call, and Node offers no
// switch to relax it. kubelet sends "localhost" and is not affected.
//
// So berthd accepts CRI connections itself and hands each to grpc-js through a stream
// that, on the client→server direction only, checks the first header block: if its
// :authority is a valid authority, the connection passes through untouched from then on.
// If not, every header block of that connection is decoded (HPACK) and re-encoded as
// literals without indexing, with the invalid :authority replaced by "localhost".
import { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import hpack from 'hpack.js';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const FRAME_HEADERS = 0x1;
const FRAME_CONTINUATION = 0x9;
const FLAG_END_STREAM = 0x1;
const FLAG_END_HEADERS = 0x4;
const FLAG_PADDED = 0x8;
const FLAG_PRIORITY = 0x20;
/** SETTINGS_MAX_FRAME_SIZE's initial value; grpc-js does not raise it. */
const MAX_FRAME = 16384;
/** SETTINGS_HEADER_TABLE_SIZE's initial value, which the server's decoder keeps. */
const TABLE_SIZE = 4096;

// RFC 3986 authority characters (what nghttp2 accepts): unreserved, sub-delims, ":", "@", "[", "]", "%".
const VALID_AUTHORITY = /^[A-Za-z0-9\-._~!$&'()*+,;=:@[\]%]*$/;

export function isValidAuthority(a: string): boolean {
  return VALID_AUTHORITY.test(a);
}

/** HPACK integer with an N-bit prefix (RFC 7541 §5.1). */
function encodeInt(value: number, prefixBits: number, firstByteFlags: number): number[] {
  const max = (1 << prefixBits) - 1;
  if (value < max) return [firstByteFlags | value];
  const out = [firstByteFlags | max];
  value -= max;
  while (value >= 128) {
    out.push((value % 128) + 128);
    value = Math.floor(value / 128);
  }
  out.push(value);
  return out;
}

function encodeString(s: string): Buffer {
  const bytes = Buffer.from(s, 'latin1');
  return Buffer.concat([Buffer.from(encodeInt(bytes.length, 7, 0)), bytes]);
}

/** A header block of literal fields without indexing (never touches the peer's dynamic table). */
export function encodeLiteralBlock(fields: ReadonlyArray<{ name: string; value: string; neverIndex: boolean }>): Buffer {
  const parts: Buffer[] = [];
  for (const f of fields) {
    parts.push(Buffer.from([f.neverIndex ? 0x10 : 0x00]), encodeString(f.name), encodeString(f.value));
  }
  return Buffer.concat(parts);
}

function frame(type: number, flags: number, streamId: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([h, payload]);
}

type Mode = 'preface' | 'inspect' | 'rewrite' | 'passthrough';

/** The client→server byte transformer; `push` receives what grpc-js should read. */
export class AuthorityRewriter {
  private mode: Mode = 'preface';
  private buf: Buffer = Buffer.alloc(0);
  private readonly decomp = hpack.decompressor.create({ table: { size: TABLE_SIZE } });
  /** The raw bytes of the header block being collected (inspect mode) and its parts. */
  private pendingRaw: Buffer[] = [];
  private block: { streamId: number; flags: number; priority?: Buffer; fragments: Buffer[] } | undefined;
  rewritten = false;

  constructor(private readonly push: (b: Buffer) => void) {}

  write(chunk: Buffer): void {
    if (this.mode === 'passthrough') return this.push(chunk);
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    if (this.mode === 'preface') {
      if (this.buf.length < PREFACE.length) return;
      if (!this.buf.subarray(0, PREFACE.length).equals(PREFACE)) return this.passthrough(); // not HTTP/2: let grpc-js reject it
      this.push(this.buf.subarray(0, PREFACE.length));
      this.buf = this.buf.subarray(PREFACE.length);
      this.mode = 'inspect';
    }
    while (this.buf.length >= 9 && (this.mode === 'inspect' || this.mode === 'rewrite')) {
      const len = this.buf.readUIntBE(0, 3);
      if (this.buf.length < 9 + len) return;
      const raw = this.buf.subarray(0, 9 + len);
      this.buf = this.buf.subarray(9 + len);
      this.onFrame(raw);
    }
    if ((this.mode as Mode) === 'passthrough' && this.buf.length) {
      const rest = this.buf;
      this.buf = Buffer.alloc(0);
      this.push(rest);
    }
  }

  private passthrough(): void {
    this.mode = 'passthrough';
    for (const r of this.pendingRaw) this.push(r);
    this.pendingRaw = [];
    if (this.buf.length) this.push(this.buf);
    this.buf = Buffer.alloc(0);
  }

  private onFrame(raw: Buffer): void {
    const type = raw[3]!;
    const flags = raw[4]!;
    const streamId = raw.readUInt32BE(5) & 0x7fffffff;
    let payload = raw.subarray(9);
    if (type === FRAME_HEADERS) {
      let priority: Buffer | undefined;
      if (flags & FLAG_PADDED) {
        const pad = payload[0]!;
        payload = payload.subarray(1, payload.length - pad);
      }
      if (flags & FLAG_PRIORITY) {
        priority = payload.subarray(0, 5);
        payload = payload.subarray(5);
      }
      this.block = { streamId, flags, priority, fragments: [payload] };
    } else if (type === FRAME_CONTINUATION && this.block) {
      this.block.fragments.push(payload);
    } else {
      // Any other frame: in inspect mode it can go ahead (header blocks are contiguous by spec).
      this.push(raw);
      return;
    }
    if (this.mode === 'inspect') this.pendingRaw.push(raw);
    const endHeaders = (type === FRAME_HEADERS ? flags : raw[4]!) & FLAG_END_HEADERS;
    if (!endHeaders) return;
    const blk = this.block!;
    this.block = undefined;
    this.decomp.write(Buffer.concat(blk.fragments));
    this.decomp.execute();
    const fields: Array<{ name: string; value: string; neverIndex: boolean }> = [];
    for (let f = this.decomp.read(); f; f = this.decomp.read()) fields.push(f);
    if (this.mode === 'inspect') {
      const auth = fields.find((f) => f.name === ':authority');
      if (!auth || isValidAuthority(auth.value)) return this.passthrough();
      this.mode = 'rewrite';
      this.pendingRaw = [];
    }
    for (const f of fields) {
      if (f.name === ':authority' && !isValidAuthority(f.value)) {
        f.value = 'localhost';
        this.rewritten = true;
      }
    }
    this.emitBlock(blk.streamId, blk.flags, blk.priority, encodeLiteralBlock(fields));
  }

  private emitBlock(streamId: number, origFlags: number, priority: Buffer | undefined, block: Buffer): void {
    let first: Buffer = priority ? Buffer.concat([priority, block]) : block;
    const flags0 = (origFlags & (FLAG_END_STREAM | FLAG_PRIORITY)) | (first.length <= MAX_FRAME ? FLAG_END_HEADERS : 0);
    let rest: Buffer = Buffer.alloc(0);
    if (first.length > MAX_FRAME) {
      rest = first.subarray(MAX_FRAME);
      first = first.subarray(0, MAX_FRAME);
    }
    this.push(frame(FRAME_HEADERS, flags0, streamId, first));
    while (rest.length) {
      const part = rest.subarray(0, MAX_FRAME);
      rest = rest.subarray(MAX_FRAME);
      this.push(frame(FRAME_CONTINUATION, rest.length ? 0 : FLAG_END_HEADERS, streamId, part));
    }
  }
}

/** Wraps an accepted socket: reads pass through the rewriter, writes go straight out. */
export function authorityFixingStream(socket: Socket): Duplex {
  let rewriter: AuthorityRewriter;
  const duplex = new Duplex({
    read() {
      socket.resume();
    },
    write(chunk: Buffer, _enc, cb) {
      socket.write(chunk, cb);
    },
    final(cb) {
      socket.end(cb);
    },
    destroy(err, cb) {
      socket.destroy(err ?? undefined);
      cb(err);
    },
  });
  rewriter = new AuthorityRewriter((b) => {
    if (!duplex.push(b)) socket.pause();
  });
  socket.on('data', (chunk: Buffer) => {
    try {
      rewriter.write(chunk);
    } catch (e) {
      socket.destroy(e as Error);
    }
  });
  socket.on('end', () => duplex.push(null));
  socket.on('error', (e) => duplex.destroy(e));
  socket.on('close', () => duplex.destroy());
  return duplex;
}
