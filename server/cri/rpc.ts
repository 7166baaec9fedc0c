// Turns berth's async RPC implementations into grpc-js handlers: one request id and
// one log line per call with its duration and status, typed errors mapped to status
// codes, and UNIMPLEMENTED (naming the RPC) for everything berth does not serve yet.
import * as grpc from '@grpc/grpc-js';
import { killPointsEnabled, withKillPointScope } from '../kill-points.js';
import { randomBytes } from 'node:crypto';
import type { Logger } from '../logger.js';
import { toServiceError, codeName } from './status-codes.js';
import { unimplemented } from '../errors.js';

export interface CallContext {
  /** Short random id that ties together every log line of one call. */
  requestId: string;
  method: string;
  /** Aborted when the client cancels or its deadline passes. */
  signal: AbortSignal;
  log: Logger;
}

export type UnaryImpl<Req, Res> = (req: Req, ctx: CallContext) => Promise<Res> | Res;
/** Writes each response with `send`; resolves when the stream is complete. */
export type StreamImpl<Req, Res> = (req: Req, send: (res: Res) => void, ctx: CallContext) => Promise<void>;

export interface RpcObserver {
  /** Called once per finished call (metrics hook). */
  (method: string, code: grpc.status, seconds: number): void;
}

export interface RpcOptions {
  logger: Logger;
  /** Methods logged at debug level (frequent read-only polls such as ListPodSandbox). */
  quiet: ReadonlySet<string>;
  observe?: RpcObserver;
  /** Checks each request before its handler runs (server/validate); a throw is the call's error. */
  validate?: (method: string, req: unknown) => void | Promise<void>;
}

type AnyCall = grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>;

function contextFor(service: string, method: string, call: AnyCall, opts: RpcOptions): CallContext {
  const requestId = randomBytes(6).toString('hex');
  const ac = new AbortController();
  call.on('cancelled', () => ac.abort(new Error('the client cancelled the call')));
  const log = opts.logger.child({ rpc: `${service}/${method}`, request_id: requestId });
  return { requestId, method, signal: ac.signal, log };
}

function finish(ctx: CallContext, opts: RpcOptions, started: bigint, code: grpc.status, err?: string): void {
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  opts.observe?.(ctx.method, code, seconds);
  const level = code !== grpc.status.OK ? (code === grpc.status.UNKNOWN || code === grpc.status.INTERNAL ? 'error' : 'warn') : opts.quiet.has(ctx.method) ? 'debug' : 'info';
  ctx.log.log(level, 'rpc', { code: codeName(code), duration_ms: Math.round(seconds * 1e5) / 100, ...(err ? { error: err } : {}) });
}

export function wrapUnary<Req, Res>(service: string, method: string, impl: UnaryImpl<Req, Res>, opts: RpcOptions): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    const started = process.hrtime.bigint();
    const ctx = contextFor(service, method, call as AnyCall, opts);
    Promise.resolve()
      .then(() => opts.validate?.(method, call.request))
      // Fault injection (server/kill-points.ts): a scope per call only when enabled.
      .then(() => (killPointsEnabled ? withKillPointScope(method, async () => impl(call.request, ctx)) : impl(call.request, ctx)))
      .then(
        (res) => {
          finish(ctx, opts, started, grpc.status.OK);
          callback(null, res);
        },
        (err: unknown) => {
          const se = toServiceError(err);
          finish(ctx, opts, started, se.code, se.details);
          callback(se as grpc.ServiceError);
        },
      );
  };
}

export function wrapStream<Req, Res>(service: string, method: string, impl: StreamImpl<Req, Res>, opts: RpcOptions): grpc.handleServerStreamingCall<Req, Res> {
  return (call) => {
    const started = process.hrtime.bigint();
    const ctx = contextFor(service, method, call as AnyCall, opts);
    const send = (res: Res) => {
      if (!call.cancelled) call.write(res);
    };
    Promise.resolve()
      .then(() => opts.validate?.(method, call.request))
      .then(() => impl(call.request, send, ctx))
      .then(
        () => {
          finish(ctx, opts, started, grpc.status.OK);
          call.end();
        },
        (err: unknown) => {
          const se = toServiceError(err);
          finish(ctx, opts, started, call.cancelled ? grpc.status.CANCELLED : se.code, se.details);
          if (!call.cancelled) call.destroy(Object.assign(new Error(se.details), se));
        },
      );
  };
}

/** Items per message of the Stream* list RPCs: many small messages, none near the size limit. */
export const STREAM_BATCH = 100;

/** The Stream* list RPCs: one list split into messages of STREAM_BATCH items. */
export function inBatches<T>(items: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += STREAM_BATCH) out.push(items.slice(i, i + STREAM_BATCH));
  return out;
}

// The handler table of one service, typed from the generated *ServiceHandlers interface
// (wire/cri/generated): each unary method takes an UnaryImpl and each server-streaming
// method a StreamImpl with that RPC's request (the decoded __Output form) and response
// types, so a handler with a wrong request or response type does not compile. Methods
// left out answer UNIMPLEMENTED.

/** The RPC names of a generated handlers interface (without grpc's string index signature). */
type MethodName<H> = keyof { [K in keyof H as string extends K ? never : K]: H[K] } & string;

type UnaryName<H> = { [K in MethodName<H>]: H[K] extends grpc.handleUnaryCall<infer _Req, infer _Res> ? K : never }[MethodName<H>];
type StreamName<H> = { [K in MethodName<H>]: H[K] extends grpc.handleServerStreamingCall<infer _Req, infer _Res> ? K : never }[MethodName<H>];

export interface ServiceImpl<H> {
  unary: { [K in UnaryName<H>]?: H[K] extends grpc.handleUnaryCall<infer Req, infer Res> ? UnaryImpl<Req, Res> : never };
  stream: { [K in StreamName<H>]?: H[K] extends grpc.handleServerStreamingCall<infer Req, infer Res> ? StreamImpl<Req, Res> : never };
}

/**
 * Builds the handler map for one service definition: every method of the proto gets a
 * handler, implemented or UNIMPLEMENTED with the method's name in the message.
 */
export function buildHandlers<H>(serviceName: string, def: grpc.ServiceDefinition, impl: ServiceImpl<H>, opts: RpcOptions): grpc.UntypedServiceImplementation {
  // Walking the proto's methods by name at run time erases the per-method types that
  // ServiceImpl<H> checked at compile time; this is the one place they are erased.
  const unary = impl.unary as Partial<Record<string, UnaryImpl<unknown, unknown>>>;
  const stream = impl.stream as Partial<Record<string, StreamImpl<unknown, unknown>>>;
  const out: grpc.UntypedServiceImplementation = {};
  for (const [method, md] of Object.entries(def)) {
    const u = unary[method];
    const s = stream[method];
    if (md.responseStream && !md.requestStream) {
      if (u) throw new Error(`${serviceName}/${method} streams its responses: its handler belongs in the stream table`);
      out[method] = wrapStream(serviceName, method, s ?? (async () => {
        throw unimplementedError(serviceName, method);
      }), opts);
    } else if (!md.responseStream && !md.requestStream) {
      if (s) throw new Error(`${serviceName}/${method} is unary: its handler belongs in the unary table`);
      out[method] = wrapUnary(serviceName, method, u ?? (() => {
        throw unimplementedError(serviceName, method);
      }), opts);
    } else {
      throw new Error(`${serviceName}/${method}: client-streaming RPCs are not part of CRI runtime.v1`);
    }
  }
  for (const name of [...Object.keys(unary), ...Object.keys(stream)]) {
    if (!(name in def)) throw new Error(`${serviceName} has no RPC named ${name}`);
  }
  return out;
}

function unimplementedError(service: string, method: string) {
  return unimplemented(`${service}/${method} is not implemented by berth`);
}
