// The :authority rewrite in front of grpc-js, driven by a real grpc-js client that
// sends a socket path as authority (as crictl/critest 1.26 do).
import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { createServer } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { authorityFixingStream, isValidAuthority, encodeLiteralBlock } from '../../server/cri/authority-fix.js';
import { loadCri } from '../../wire/cri/proto.js';
import hpack from 'hpack.js';

async function serve(fix: boolean) {
  const dir = await mkdtemp(join(tmpdir(), 'berth-auth-'));
  const sock = join(dir, 's.sock');
  const cri = loadCri();
  const server = new grpc.Server();
  let seenAuthority = '';
  server.addService(cri.runtime.v1.RuntimeService.service, {
    Version: (call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      seenAuthority = String(call.metadata.get('x-echo')[0] ?? '');
      cb(null, { version: '0.1.0', runtime_name: 'berth', runtime_version: 'x', runtime_api_version: 'v1' });
    },
  } as grpc.UntypedServiceImplementation);
  const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  const listener = createServer((s) => injector.injectConnection(fix ? authorityFixingStream(s) : s));
  await new Promise<void>((r) => listener.listen(sock, () => r()));
  const client = new cri.runtime.v1.RuntimeService(`unix://${sock}`, grpc.credentials.createInsecure(), { 'grpc.default_authority': sock });
  const version = (md: Record<string, string> = {}) =>
    new Promise<{ runtime_name: string }>((resolve, reject) => {
      const m = new grpc.Metadata();
      for (const [k, v] of Object.entries(md)) m.set(k, v);
      client.Version({}, m, (err: grpc.ServiceError | null, res: unknown) => (err ? reject(err) : resolve(res as { runtime_name: string })));
    });
  return {
    version,
    seen: () => seenAuthority,
    async close() {
      client.close();
      listener.close();
      injector.destroy();
      server.forceShutdown();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

test('without the rewrite, Node rejects a socket-path authority (the problem this solves)', async (t) => {
  const s = await serve(false);
  t.teardown(() => s.close());
  await t.throwsAsync(s.version(), { message: /PROTOCOL_ERROR|RST_STREAM|INTERNAL/ });
});

test('with the rewrite, calls with a socket-path authority succeed, many on one connection', async (t) => {
  const s = await serve(true);
  t.teardown(() => s.close());
  for (let i = 0; i < 200; i++) {
    // Changing metadata values keep the client's HPACK dynamic table churning and evicting.
    const res = await s.version({ 'x-echo': `call-${i}-${'v'.repeat(i % 50)}` });
    t.is(res.runtime_name, 'berth');
  }
  t.is(s.seen(), `call-199-${'v'.repeat(199 % 50)}`);
  // A header block larger than one frame arrives split into CONTINUATION frames.
  const big = 'b'.repeat(40000);
  await s.version({ 'x-echo': big });
  t.is(s.seen(), big);
});

test('valid authorities pass untouched; literal blocks decode back to the same fields', (t) => {
  t.true(isValidAuthority('localhost'));
  t.true(isValidAuthority('127.0.0.1:10010'));
  t.true(isValidAuthority('[::1]:80'));
  t.false(isValidAuthority('/run/berth/berth.sock'));
  const fields = [
    { name: ':authority', value: 'localhost', neverIndex: false },
    { name: 'x-long', value: 'z'.repeat(300), neverIndex: true },
  ];
  const d = hpack.decompressor.create({ table: { size: 4096 } });
  d.write(encodeLiteralBlock(fields));
  d.execute();
  t.deepEqual([d.read(), d.read()], fields);
});
