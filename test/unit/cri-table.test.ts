// The CRI handler table (server/cri/rpc.ts ServiceImpl, buildHandlers): typed against the
// generated service handlers, so a handler with a wrong request or response type, or in the
// wrong table, does not compile (the @ts-expect-error lines below fail the build if it ever
// does); at run time every proto method gets a handler, unlisted ones answer UNIMPLEMENTED
// naming the RPC, and a name the proto lacks is refused.
import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { EventEmitter } from 'node:events';
import { buildHandlers, type ServiceImpl, type RpcOptions } from '../../server/cri/rpc.js';
import { silentLogger } from '../../server/logger.js';
import { loadCri } from '../../wire/cri/proto.js';
import type { RuntimeServiceHandlers } from '../../wire/cri/generated/runtime/v1/RuntimeService.js';
import type { ImageServiceHandlers } from '../../wire/cri/generated/runtime/v1/ImageService.js';
import type { StopContainerRequest__Output } from '../../wire/cri/generated/runtime/v1/StopContainerRequest.js';

type Runtime = ServiceImpl<RuntimeServiceHandlers>;

const VERSION = { version: '0.1.0', runtime_name: 'test', runtime_version: '0', runtime_api_version: 'v1' };

// Compile-time checks: each object below is wrong in one way, and tsc must say so.
export const wrongTables: Runtime[] = [
  // @ts-expect-error a handler that takes another RPC's request
  { unary: { Version: (req: StopContainerRequest__Output) => ({ ...VERSION, version: req.container_id }) }, stream: {} },
  // @ts-expect-error a handler that answers with a field the response does not have
  { unary: { Version: () => ({ nope: 1 }) }, stream: {} },
  // @ts-expect-error a streaming RPC in the unary table
  { unary: { GetContainerEvents: () => ({}) }, stream: {} },
  // @ts-expect-error a unary RPC in the stream table
  { unary: {}, stream: { Version: async () => undefined } },
  // @ts-expect-error a stream handler that sends another RPC's response
  { unary: {}, stream: { StreamContainers: async (_req, send) => send({ pods: [] }) } },
  // @ts-expect-error a request field read with the wrong type
  { unary: { StopContainer: (req) => ((n: number) => ({}))(req.container_id) }, stream: {} },
  // @ts-expect-error an RPC the proto does not have
  { unary: { Frobnicate: () => ({}) }, stream: {} },
];

// And what is right compiles: handler parameters take their types from the table.
export const rightTable: Runtime = {
  unary: { Version: () => VERSION, StopContainer: (req) => (req.container_id ? {} : {}) },
  stream: { StreamContainers: async (_req, send) => send({ containers: [] }) },
};

const opts: RpcOptions = { logger: silentLogger(), quiet: new Set() };

/** Calls a unary handler as grpc-js would and resolves with its error or response. */
function callUnary(handler: grpc.UntypedHandleCall, request: object): Promise<{ err: grpc.ServiceError | null; res: unknown }> {
  const call = Object.assign(new EventEmitter(), { request, cancelled: false, metadata: new grpc.Metadata() });
  return new Promise((resolve) => (handler as grpc.handleUnaryCall<object, unknown>)(call as never, (err, res) => resolve({ err: err as grpc.ServiceError | null, res })));
}

test('every RuntimeService RPC gets a handler; listed ones answer, the rest are UNIMPLEMENTED by name', async (t) => {
  const def = loadCri().runtime.v1.RuntimeService.service;
  const handlers = buildHandlers('RuntimeService', def, rightTable, opts);
  t.deepEqual(Object.keys(handlers).sort(), Object.keys(def).sort());
  const ok = await callUnary(handlers.Version!, { version: 'v1' });
  t.is(ok.err, null);
  t.deepEqual(ok.res, VERSION);
  const missing = await callUnary(handlers.RunPodSandbox!, {});
  t.is(missing.err?.code, grpc.status.UNIMPLEMENTED);
  t.regex(String(missing.err?.details), /RuntimeService\/RunPodSandbox is not implemented/);
});

test('ImageService handlers are built from their own table', (t) => {
  const def = loadCri().runtime.v1.ImageService.service;
  const table: ServiceImpl<ImageServiceHandlers> = { unary: { ListImages: () => ({ images: [] }) }, stream: {} };
  t.deepEqual(Object.keys(buildHandlers('ImageService', def, table, opts)).sort(), Object.keys(def).sort());
});

test('a table naming an RPC the service lacks, or one in the wrong table, is refused at start', (t) => {
  const def = loadCri().runtime.v1.RuntimeService.service;
  // Tables that bypass the types (as data from elsewhere could): the builder still checks names and kinds.
  const unknownName = { unary: { Frobnicate: () => ({}) }, stream: {} } as unknown as Runtime;
  t.throws(() => buildHandlers('RuntimeService', def, unknownName, opts), { message: /RuntimeService has no RPC named Frobnicate/ });
  const wrongKind = { unary: { GetContainerEvents: () => ({}) }, stream: {} } as unknown as Runtime;
  t.throws(() => buildHandlers('RuntimeService', def, wrongKind, opts), { message: /GetContainerEvents streams its responses/ });
});
