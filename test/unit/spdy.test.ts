// SPDY/3.1 (wire/spdy codec and connection, berthd's server/streaming/spdy-upgrade.ts and
// the client's wire/spdy/dial.ts): frames, header blocks and their compression, and a
// client and a server talking over a real loopback TCP connection through dialSpdy and
// acceptSpdy on a Node http server.
import test from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Duplex } from 'node:stream';
import * as zlib from 'node:zlib';
import {
  FLAG_FIN,
  FrameParser,
  HeaderCompressor,
  HeaderDecompressor,
  RstStatus,
  SPDY_DICTIONARY,
  SpdyError,
  decodeHeaderBlock,
  encodeFrame,
  encodeHeaderBlock,
  type SpdyFrame,
} from '../../wire/spdy/codec.js';
import { SpdyConnection, type SpdyStream } from '../../wire/spdy/connection.js';
import { dialSpdy } from '../../wire/spdy/dial.js';
import { acceptSpdy } from '../../server/streaming/spdy-upgrade.js';

function adler32(b: Buffer): number {
  let a = 1;
  let s = 0;
  for (const x of b) {
    a = (a + x) % 65521;
    s = (s + a) % 65521;
  }
  return ((s << 16) | a) >>> 0;
}

/** Every DATA piece merged back into whole frames (the parser hands out pieces). */
function mergeData(frames: SpdyFrame[]): SpdyFrame[] {
  const out: SpdyFrame[] = [];
  let cur: Extract<SpdyFrame, { type: 'data' }> | undefined;
  for (const f of frames) {
    if (f.type === 'data') {
      if (cur && cur.streamId === f.streamId) {
        cur.data = Buffer.concat([cur.data, f.data]);
        cur.flags = f.flags;
      } else {
        cur = { ...f, data: Buffer.from(f.data) };
        out.push(cur);
      }
      // A piece without FIN of a frame whose end is still to come: keep merging.
      continue;
    }
    cur = undefined;
    out.push(f);
  }
  return out;
}

const SAMPLE_FRAMES: SpdyFrame[] = [
  { type: 'syn_stream', streamId: 1, associatedId: 0, priority: 3, slot: 0, flags: 0, block: Buffer.from('compressed-ish') },
  { type: 'syn_stream', streamId: 0x7ffffffd, associatedId: 7, priority: 7, slot: 9, flags: FLAG_FIN | 0x02, block: Buffer.alloc(0) },
  { type: 'syn_reply', streamId: 1, flags: 0, block: Buffer.from([1, 2, 3]) },
  { type: 'syn_reply', streamId: 3, flags: FLAG_FIN, block: Buffer.from([4]) },
  { type: 'rst_stream', streamId: 5, status: RstStatus.CANCEL },
  { type: 'settings', flags: 1, entries: [{ flags: 1, id: 7, value: 65536 }, { flags: 0, id: 4, value: 100 }] },
  { type: 'settings', flags: 0, entries: [] },
  { type: 'ping', id: 1 },
  { type: 'ping', id: 0xfffffffe },
  { type: 'goaway', lastGoodStreamId: 9, status: 1 },
  { type: 'headers', streamId: 7, flags: FLAG_FIN, block: Buffer.from('hdr') },
  { type: 'window_update', streamId: 3, delta: 0x7fffffff },
  { type: 'data', streamId: 1, flags: 0, data: Buffer.from('hello') },
  { type: 'data', streamId: 3, flags: FLAG_FIN, data: Buffer.alloc(0) },
  { type: 'data', streamId: 0x7fffffff, flags: FLAG_FIN, data: randomBytes(70_000) },
  { type: 'unknown', version: 3, frameType: 10, flags: 0, payload: Buffer.from('credential') },
  { type: 'unknown', version: 2, frameType: 1, flags: 0, payload: Buffer.alloc(12) },
];

test('the SPDY/3 dictionary is the protocol constant: 1423 bytes, adler32 0xe3c6a7c2, length-prefixed words then values', (t) => {
  t.is(SPDY_DICTIONARY.length, 1423);
  t.is(adler32(SPDY_DICTIONARY), 0xe3c6a7c2);
  t.deepEqual(SPDY_DICTIONARY.subarray(0, 11), Buffer.from('\0\0\0\x07options', 'latin1'));
  t.is(SPDY_DICTIONARY.subarray(-6).toString('latin1'), 'enq=0.');
  t.true(SPDY_DICTIONARY.includes(Buffer.from('\0\0\0\x08HTTP/1.1\0\0\0\x03url', 'latin1')));
});

test('the first compressed header block opens a zlib stream whose DICTID is the dictionary adler32', async (t) => {
  const c = new HeaderCompressor();
  t.teardown(() => c.close());
  const block = await c.compress({ streamType: 'error' });
  // CMF/FLG with FDICT (0x20) set, then the dictionary id, big endian.
  t.is(block[0]! & 0x0f, 8, 'deflate');
  t.is((block.readUInt16BE(0) % 31), 0, 'header check');
  t.truthy(block[1]! & 0x20, 'FDICT');
  t.is(block.readUInt32BE(2), adler32(SPDY_DICTIONARY));
  t.deepEqual(block.subarray(-4), Buffer.from([0, 0, 0xff, 0xff]), 'sync flush marker');
  // Without the dictionary, zlib refuses the stream.
  t.throws(() => zlib.inflateSync(block, { finishFlush: zlib.constants.Z_SYNC_FLUSH }), { message: /dictionary/i });
});

test('header blocks: names lowercased, several values joined by NUL, same-named keys merged', (t) => {
  const raw = encodeHeaderBlock({ StreamType: 'stdout', port: 8080, 'X-Multi': ['a', 'b'], 'x-multi': 'c' });
  t.is(raw.readUInt32BE(0), 3);
  t.true(raw.includes(Buffer.from('streamtype')));
  t.true(raw.includes(Buffer.from('a\0b\0c')));
  t.deepEqual(decodeHeaderBlock(raw), { streamtype: ['stdout'], port: ['8080'], 'x-multi': ['a', 'b', 'c'] });
  t.deepEqual(decodeHeaderBlock(encodeHeaderBlock({})), {});
  t.throws(() => decodeHeaderBlock(raw.subarray(0, raw.length - 1)), { instanceOf: SpdyError });
});

test('header compression: one context for many blocks, each decodable in order, the whole a single zlib stream', async (t) => {
  const c = new HeaderCompressor();
  const d = new HeaderDecompressor();
  t.teardown(() => {
    c.close();
    d.close();
  });
  const inputs = Array.from({ length: 300 }, (_, i) => ({
    streamType: ['error', 'stdin', 'stdout', 'stderr', 'resize'][i % 5]!,
    requestID: String(i),
    port: String(8000 + (i % 3)),
    ...(i % 7 === 0 ? { 'x-big': randomBytes(3000).toString('base64') } : {}),
  }));
  // Started together: the compressor must keep call order.
  const blocks = await Promise.all(inputs.map((h) => c.compress(h)));
  for (const b of blocks) t.deepEqual(b.subarray(-4), Buffer.from([0, 0, 0xff, 0xff]));
  t.true(blocks[5]!.length < blocks[0]!.length, 'later blocks reuse the shared context');
  const decoded = await Promise.all(blocks.map((b) => d.decompress(b)));
  decoded.forEach((h, i) => {
    t.deepEqual(h, Object.fromEntries(Object.entries(inputs[i]!).map(([k, v]) => [k.toLowerCase(), [v]])));
  });
  // An independent inflater sees one continuous stream: the raw blocks back to back.
  const all = zlib.inflateSync(Buffer.concat(blocks), { dictionary: SPDY_DICTIONARY, finishFlush: zlib.constants.Z_SYNC_FLUSH });
  t.deepEqual(all, Buffer.concat(inputs.map((h) => encodeHeaderBlock(h))));
  // A fresh decompressor cannot start in the middle of the stream.
  const d2 = new HeaderDecompressor();
  t.teardown(() => d2.close());
  await t.throwsAsync(d2.decompress(blocks[1]!), { instanceOf: SpdyError });
});

test('frames: every type survives encode and parse', (t) => {
  for (const f of SAMPLE_FRAMES) {
    const p = new FrameParser();
    t.deepEqual(mergeData(p.push(encodeFrame(f))), [f], f.type);
  }
  // Wire layout spot checks against SPDY/3.
  t.deepEqual(encodeFrame({ type: 'ping', id: 5 }), Buffer.from([0x80, 3, 0, 6, 0, 0, 0, 4, 0, 0, 0, 5]));
  t.deepEqual(encodeFrame({ type: 'rst_stream', streamId: 3, status: 5 }), Buffer.from([0x80, 3, 0, 3, 0, 0, 0, 8, 0, 0, 0, 3, 0, 0, 0, 5]));
  t.deepEqual(encodeFrame({ type: 'data', streamId: 1, flags: FLAG_FIN, data: Buffer.from('x') }), Buffer.from([0, 0, 0, 1, 1, 0, 0, 1, 0x78]));
  t.deepEqual(
    encodeFrame({ type: 'syn_stream', streamId: 1, associatedId: 0, priority: 0, slot: 0, flags: FLAG_FIN, block: Buffer.alloc(0) }),
    Buffer.from([0x80, 3, 0, 1, 1, 0, 0, 10, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]),
  );
});

test('frames: split and merged across chunks in every way, including one byte at a time', (t) => {
  const wire = Buffer.concat(SAMPLE_FRAMES.map(encodeFrame));
  const expected = SAMPLE_FRAMES;
  for (const size of [1, 2, 3, 7, 8, 9, 100, 4096, 65536, wire.length]) {
    const p = new FrameParser();
    const got: SpdyFrame[] = [];
    for (let i = 0; i < wire.length; i += size) got.push(...p.push(wire.subarray(i, i + size)));
    t.deepEqual(mergeData(got), expected, `chunks of ${size}`);
  }
  // Random cuts.
  for (let round = 0; round < 20; round++) {
    const p = new FrameParser();
    const got: SpdyFrame[] = [];
    for (let i = 0; i < wire.length; ) {
      const n = 1 + Math.floor(Math.random() * 300);
      got.push(...p.push(wire.subarray(i, i + n)));
      i += n;
    }
    t.deepEqual(mergeData(got), expected);
  }
  // A DATA frame split over chunks comes out in pieces, FIN only on the last.
  const p = new FrameParser();
  const big = encodeFrame({ type: 'data', streamId: 1, flags: FLAG_FIN, data: Buffer.alloc(100, 1) });
  const a = p.push(big.subarray(0, 50));
  const b = p.push(big.subarray(50));
  t.deepEqual(a.map((f) => f.type === 'data' && [f.data.length, f.flags]), [[42, 0]]);
  t.deepEqual(b.map((f) => f.type === 'data' && [f.data.length, f.flags]), [[58, FLAG_FIN]]);
});

test('frames: malformed control frames are protocol errors', (t) => {
  const bad = Buffer.from([0x80, 3, 0, 6, 0, 0, 0, 3, 0, 0, 1]); // PING with 3 bytes
  t.throws(() => new FrameParser().push(bad), { instanceOf: SpdyError, message: /PING/ });
  const rst = Buffer.from([0x80, 3, 0, 3, 0, 0, 0, 4, 0, 0, 0, 1]);
  t.throws(() => new FrameParser().push(rst), { instanceOf: SpdyError, message: /RST_STREAM/ });
});

// ---------------------------------------------------------------------------------------
// Client and server over loopback TCP

interface Pair {
  client: SpdyConnection;
  server: SpdyConnection;
  protocol: string;
  serverSocket: Duplex;
  url: string;
  close(): Promise<void>;
}

async function listen(supported: string[], onConn?: (c: SpdyConnection, socket: Duplex) => void, opts: { autoReply?: boolean } = {}): Promise<{ http: Server; url: string }> {
  const http = createServer((_req, res) => {
    res.statusCode = 404;
    res.end();
  });
  http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const r = acceptSpdy(req, socket, head, supported, opts);
    if (r) onConn?.(r.conn, socket);
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', () => resolve()));
  return { http, url: `http://127.0.0.1:${(http.address() as AddressInfo).port}/exec/token` };
}

async function pair(opts: { autoReply?: boolean; supported?: string[]; offer?: string[] } = {}): Promise<Pair> {
  let gotServer!: (v: { conn: SpdyConnection; socket: Duplex }) => void;
  const serverP = new Promise<{ conn: SpdyConnection; socket: Duplex }>((r) => (gotServer = r));
  const { http, url } = await listen(opts.supported ?? ['v4.channel.k8s.io'], (conn, socket) => gotServer({ conn, socket }), { autoReply: opts.autoReply ?? false });
  const { conn: client, protocol } = await dialSpdy(url, opts.offer ?? ['v4.channel.k8s.io']);
  const { conn: server, socket: serverSocket } = await serverP;
  return {
    client,
    server,
    protocol,
    serverSocket,
    url,
    async close() {
      client.destroy();
      server.destroy();
      http.closeAllConnections();
      await new Promise<void>((r) => http.close(() => r()));
    },
  };
}

function collect(s: SpdyStream): Promise<{ data: Buffer; error?: SpdyError }> {
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    let error: SpdyError | undefined;
    s.on('data', (c: Buffer) => parts.push(c));
    s.on('error', (e: SpdyError) => (error = e));
    s.on('close', () => resolve({ data: Buffer.concat(parts), error }));
  });
}

function readAll(s: SpdyStream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    s.on('data', (c: Buffer) => parts.push(c));
    s.on('end', () => resolve(Buffer.concat(parts)));
    s.on('error', reject);
  });
}

function nextStream(c: SpdyConnection): Promise<SpdyStream> {
  return new Promise((r) => c.once('stream', r));
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

test('upgrade negotiation: the client order wins among supported versions, comma lists count, none offered gives ""', async (t) => {
  const { http, url } = await listen(['v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io'], (c) => c.close());
  t.teardown(() => new Promise<void>((r) => http.close(() => r())));
  const cases: Array<[string[], string]> = [
    [['v4.channel.k8s.io', 'v3.channel.k8s.io'], 'v4.channel.k8s.io'],
    [['v5.channel.k8s.io', 'v3.channel.k8s.io', 'v4.channel.k8s.io'], 'v3.channel.k8s.io'],
    [['v9, v2.channel.k8s.io', 'v4.channel.k8s.io'], 'v2.channel.k8s.io'],
    [[], ''],
  ];
  for (const [offer, want] of cases) {
    const { conn, protocol } = await dialSpdy(url, offer);
    t.is(protocol, want, offer.join('|'));
    conn.destroy();
  }
});

test('upgrade negotiation: no common version is a 403 naming both lists', async (t) => {
  const { http, url } = await listen(['v4.channel.k8s.io']);
  t.teardown(() => new Promise<void>((r) => http.close(() => r())));
  const err = await t.throwsAsync(dialSpdy(url, ['v1.channel.k8s.io', 'v2.channel.k8s.io']), { instanceOf: SpdyError });
  t.is(err?.code, 'ERR_SPDY_UPGRADE');
  t.is(err?.status, 403);
  t.regex(err?.body ?? '', /client supports \[v1\.channel\.k8s\.io v2\.channel\.k8s\.io\], server accepts \[v4\.channel\.k8s\.io\]/);
});

test('streams: headers arrive lowercased, reply resolves openStream, both half-closes work', async (t) => {
  const p = await pair();
  t.teardown(() => p.close());
  t.is(p.protocol, 'v4.channel.k8s.io');

  // Client finishes first (stdin-like): the server keeps writing after the client's FIN.
  const srv1 = nextStream(p.server);
  const c1P = p.client.openStream({ streamType: 'stdin', requestID: '0', Multi: ['a', 'b'] });
  const s1 = await srv1;
  t.deepEqual(s1.headers, { streamtype: ['stdin'], requestid: ['0'], multi: ['a', 'b'] });
  t.false(s1.local);
  t.is(s1.id % 2, 1, 'client streams are odd');
  s1.reply();
  const c1 = await c1P;
  t.deepEqual(c1.replyHeaders, {});
  c1.end('from client');
  t.is((await readAll(s1)).toString(), 'from client');
  const clientGot = readAll(c1);
  s1.write('after ');
  s1.end('your FIN');
  t.is((await clientGot).toString(), 'after your FIN');

  // Server finishes first (stdout-like): the client keeps writing after the server's FIN.
  const srv2 = nextStream(p.server);
  const c2P = p.client.openStream({ streamType: 'stdout' });
  const s2 = await srv2;
  s2.end('server done');
  const c2 = await c2P; // the reply went out implicitly before the data
  t.is((await readAll(c2)).toString(), 'server done');
  const serverGot = readAll(s2);
  c2.end('client still writing');
  t.is((await serverGot).toString(), 'client still writing');
  t.is(c2.id, 3);
  await new Promise((r) => setImmediate(r));
  t.is(p.client.activeStreams, 0);
  t.is(p.server.activeStreams, 0);
});

test('streams: 1 MiB each way at once, intact', async (t) => {
  const p = await pair({ autoReply: true });
  t.teardown(() => p.close());
  const up = randomBytes(1024 * 1024);
  const down = randomBytes(1024 * 1024);
  const srv = nextStream(p.server);
  const c = await p.client.openStream({ streamType: 'data' });
  const s = await srv;
  const serverGot = readAll(s);
  const clientGot = readAll(c);
  // Odd write sizes, larger than a frame.
  for (let i = 0; i < up.length; i += 50_001) c.write(up.subarray(i, i + 50_001));
  c.end();
  for (let i = 0; i < down.length; i += 12_345) s.write(down.subarray(i, i + 12_345));
  s.end();
  t.is(sha(await serverGot), sha(up));
  t.is(sha(await clientGot), sha(down));
});

test('streams: many opened at once, each with its own headers and data', async (t) => {
  const p = await pair({ autoReply: true });
  t.teardown(() => p.close());
  p.server.on('stream', (s: SpdyStream) => {
    s.end(`you are ${s.headers.requestid?.[0]}`);
    s.resume();
  });
  const streams = await Promise.all(Array.from({ length: 60 }, (_, i) => p.client.openStream({ requestID: String(i), streamType: 'data' }, { fin: true })));
  const bodies = await Promise.all(streams.map(readAll));
  t.deepEqual(
    bodies.map((b) => b.toString()),
    streams.map((_, i) => `you are ${i}`),
  );
});

test('RST_STREAM: data sent before the reset still arrives, then the stream errors with the status', async (t) => {
  const p = await pair({ autoReply: true });
  t.teardown(() => p.close());
  const srv = nextStream(p.server);
  const c = await p.client.openStream({ streamType: 'stdout' });
  const s = await srv;
  const got = collect(c);
  s.write('partial output');
  s.reset();
  const r = await got;
  t.is(r.data.toString(), 'partial output');
  t.is(r.error?.code, 'ERR_SPDY_STREAM_RESET');
  t.is(r.error?.status, RstStatus.CANCEL);
  t.true(s.destroyed);

  // The other way, with a status of our choosing.
  const srv2 = nextStream(p.server);
  const c2 = await p.client.openStream({ streamType: 'stdin' });
  const s2 = await srv2;
  const got2 = collect(s2);
  c2.reset(RstStatus.INTERNAL_ERROR);
  const r2 = await got2;
  t.is(r2.error?.status, RstStatus.INTERNAL_ERROR);
  // Destroying a stream that is still open resets it.
  const srv3 = nextStream(p.server);
  const c3 = await p.client.openStream({ streamType: 'x' });
  const got3 = collect(await srv3);
  c3.destroy();
  t.is((await got3).error?.status, RstStatus.CANCEL);
});

test('openStream: refused without a stream listener, times out without a reply', async (t) => {
  const p = await pair();
  t.teardown(() => p.close());
  const err = await t.throwsAsync(p.client.openStream({ streamType: 'x' }), { instanceOf: SpdyError });
  t.is(err?.status, RstStatus.REFUSED_STREAM);

  const srv = nextStream(p.server);
  const pending = p.client.openStream({ streamType: 'y' }, { timeoutMs: 200 });
  const s = await srv; // never replied
  const serverSide = collect(s);
  const e2 = await t.throwsAsync(pending, { instanceOf: SpdyError });
  t.is(e2?.code, 'ERR_SPDY_TIMEOUT');
  t.is((await serverSide).error?.status, RstStatus.CANCEL, 'the client reset the unanswered stream');
});

test('PING both ways; SETTINGS and WINDOW_UPDATE are ignored', async (t) => {
  const p = await pair();
  t.teardown(() => p.close());
  t.true((await p.client.ping()) >= 0);
  t.true((await p.server.ping()) >= 0);
  // Raw frames straight onto the server's socket (nothing else is queued there).
  p.serverSocket.write(
    Buffer.concat([
      encodeFrame({ type: 'settings', flags: 0, entries: [{ flags: 0, id: 7, value: 1 }] }),
      encodeFrame({ type: 'window_update', streamId: 1, delta: 1 }),
      encodeFrame({ type: 'ping', id: 2 }), // an unsolicited server ping: the client echoes it
    ]),
  );
  t.true((await p.client.ping()) >= 0);
  t.is(p.client.activeStreams, 0);
});

test('GOAWAY from the peer: reported, open streams finish, then the connection closes', async (t) => {
  const p = await pair({ autoReply: true });
  t.teardown(() => p.close());
  const srv = nextStream(p.server);
  const c = await p.client.openStream({ streamType: 'stdout' });
  const s = await srv;
  const goaway = new Promise<[number, number]>((r) => p.client.once('goaway', (id: number, st: number) => r([id, st])));
  const closed = new Promise<void>((r) => p.client.once('close', () => r()));
  // A GOAWAY that leaves the socket open (raw, so the server keeps its stream).
  p.serverSocket.write(encodeFrame({ type: 'goaway', lastGoodStreamId: c.id, status: 0 }));
  t.deepEqual(await goaway, [c.id, 0]);
  await t.throwsAsync(p.client.openStream({ streamType: 'late' }), { code: 'ERR_SPDY_CONNECTION_CLOSED' } as never);
  const clientGot = readAll(c);
  s.end('still delivered');
  t.is((await clientGot).toString(), 'still delivered');
  c.end();
  await closed;
  t.pass();
});

test('close(): GOAWAY after the queued frames, the peer sees goaway and close', async (t) => {
  const p = await pair({ autoReply: true });
  t.teardown(() => p.close());
  const srv = nextStream(p.server);
  const c = await p.client.openStream({ streamType: 'error' });
  const s = await srv;
  const got = collect(c);
  const goaway = new Promise<number>((r) => p.client.once('goaway', (id: number) => r(id)));
  const closed = new Promise<void>((r) => p.client.once('close', () => r()));
  // As the k8s exec server does: status on the error stream, then close the connection.
  s.write('{"status":"Success"}');
  p.server.close();
  t.is(await goaway, c.id);
  await closed;
  const r = await got;
  t.is(r.data.toString(), '{"status":"Success"}');
  t.is(r.error?.code, 'ERR_SPDY_CONNECTION_CLOSED');
});

test('a connection over an in-memory pair, every byte delivered separately', async (t) => {
  // Two Duplexes wired together, delivering one byte per chunk: the receive path must
  // cope with frames cut anywhere.
  const mk = () => {
    let peer!: Duplex;
    const d = new Duplex({
      read() {},
      write(chunk: Buffer, _enc, cb) {
        for (const b of chunk) peer.push(Buffer.from([b]));
        cb();
      },
      final(cb) {
        peer.push(null);
        cb();
      },
    });
    return { d, link: (o: Duplex) => (peer = o) };
  };
  const a = mk();
  const b = mk();
  a.link(b.d);
  b.link(a.d);
  const client = new SpdyConnection(a.d, { server: false });
  const server = new SpdyConnection(b.d, { server: true, autoReply: true });
  t.teardown(() => {
    client.destroy();
    server.destroy();
  });
  server.on('stream', (s: SpdyStream) => s.pipe(s)); // echo
  for (let i = 0; i < 5; i++) {
    const c = await client.openStream({ streamType: 'echo', n: String(i) });
    const got = readAll(c);
    c.end(`message ${i} `.repeat(100));
    t.is((await got).toString(), `message ${i} `.repeat(100));
  }
  t.true((await client.ping()) >= 0);
});

test('frames that arrive with the 101 response (the upgrade head) are handled first', async (t) => {
  const http = createServer();
  const echoed = new Promise<SpdyFrame[]>((resolve) => {
    http.on('upgrade', (_req: IncomingMessage, socket: Duplex) => {
      // The 101 and a PING in one write: the client sees the PING in its upgrade head.
      socket.write(Buffer.concat([Buffer.from('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: p\r\n\r\n'), encodeFrame({ type: 'ping', id: 42 })]));
      const parser = new FrameParser();
      socket.on('data', (c: Buffer) => {
        const frames = parser.push(c);
        if (frames.length) resolve(frames);
      });
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', () => resolve()));
  t.teardown(() => {
    http.closeAllConnections();
    http.close();
  });
  const { conn, protocol } = await dialSpdy(`http://127.0.0.1:${(http.address() as AddressInfo).port}/`, ['p']);
  t.teardown(() => conn.destroy());
  t.is(protocol, 'p');
  t.deepEqual(await echoed, [{ type: 'ping', id: 42 }]);
});
