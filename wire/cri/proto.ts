// Loads the CRI proto once. Field names are kept as written (snake_case, as on the
// wire and in the generated types), int64 values travel as decimal strings so
// nanosecond timestamps never lose precision, enums as their names, and defaults are
// filled so missing scalars read as zero values (missing messages stay null).
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { fileURLToPath } from 'node:url';
import type { ProtoGrpcType } from './generated/api.js';

/** proto/runtime/v1/api.proto, relative to this file's compiled place (dist/wire/cri/). */
export const CRI_PROTO_PATH = fileURLToPath(new URL('../../../proto/runtime/v1/api.proto', import.meta.url));

export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  arrays: true,
  objects: true,
  oneofs: true,
};

let cached: ProtoGrpcType | undefined;

export function loadCri(): ProtoGrpcType {
  if (!cached) {
    const def = protoLoader.loadSync(CRI_PROTO_PATH, LOADER_OPTIONS);
    cached = grpc.loadPackageDefinition(def) as unknown as ProtoGrpcType;
  }
  return cached;
}
