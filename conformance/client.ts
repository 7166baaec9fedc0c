// A promise-based CRI client over berth's proto: used by the conformance suite, the
// integration tests and the benchmarks, against any CRI socket.
import * as grpc from '@grpc/grpc-js';
import { loadCri } from '../wire/cri/proto.js';
import type { RuntimeServiceClient } from '../wire/cri/generated/runtime/v1/RuntimeService.js';
import type { ImageServiceClient } from '../wire/cri/generated/runtime/v1/ImageService.js';

export interface CriClient {
  runtime: RuntimeServiceClient;
  image: ImageServiceClient;
  /** Calls a unary RPC by name and resolves with its response (rejects with the grpc ServiceError). */
  call<T = any>(method: string, req: object, opts?: { service?: 'runtime' | 'image'; timeoutMs?: number }): Promise<T>;
  close(): void;
}

/** `endpoint` as kubelet writes it: unix:///path/to.sock (a bare path works too). */
export function criClient(endpoint: string): CriClient {
  const target = endpoint.startsWith('unix:') ? endpoint : `unix://${endpoint}`;
  const cri = loadCri();
  const creds = grpc.credentials.createInsecure();
  const options = { 'grpc.max_receive_message_length': 16 * 1024 * 1024 };
  const runtime = new cri.runtime.v1.RuntimeService(target, creds, options);
  const image = new cri.runtime.v1.ImageService(target, creds, options);
  return {
    runtime,
    image,
    call(method, req, opts = {}) {
      const client = (opts.service === 'image' ? image : runtime) as unknown as Record<string, Function>;
      const fn = client[method];
      if (typeof fn !== 'function') return Promise.reject(new Error(`no RPC ${method}`));
      const deadline = new Date(Date.now() + (opts.timeoutMs ?? 60_000));
      return new Promise((resolve, reject) => {
        fn.call(client, req, { deadline }, (err: grpc.ServiceError | null, res: unknown) => (err ? reject(err) : resolve(res as never)));
      });
    },
    close() {
      runtime.close();
      image.close();
    },
  };
}
