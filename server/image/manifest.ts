// Parsing and checking indexes, image manifests and image configs (OCI image spec
// and Docker schema 2). Pure.
import { failedPrecondition } from '../errors.js';
import { isConfig, isIndex, isManifest, layerCompression, MediaType } from './media-types.js';
import type { PlatformDescriptor } from './platform.js';
import { validateDigest } from './reference.js';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
}

export interface ImageIndex {
  mediaType: string;
  manifests: PlatformDescriptor[];
}

export interface ImageManifest {
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

/** The parts of the OCI image config berth reads (the rest is kept as JSON). */
export interface ImageConfig {
  architecture?: string;
  os?: string;
  variant?: string;
  created?: string;
  author?: string;
  config?: {
    User?: string;
    ExposedPorts?: Record<string, object>;
    Env?: string[];
    Entrypoint?: string[] | null;
    Cmd?: string[] | null;
    Volumes?: Record<string, object>;
    WorkingDir?: string;
    Labels?: Record<string, string>;
    StopSignal?: string;
  };
  rootfs: { type: string; diff_ids: string[] };
  history?: unknown[];
}

function parseJson(bytes: Buffer, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw failedPrecondition(`${what} is not valid JSON`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw failedPrecondition(`${what} is not a JSON object`);
  return v as Record<string, unknown>;
}

function descriptor(v: unknown, what: string): Descriptor {
  const d = v as Partial<Descriptor> | null;
  if (!d || typeof d !== 'object') throw failedPrecondition(`${what}: descriptor is not an object`);
  if (typeof d.mediaType !== 'string') throw failedPrecondition(`${what}: descriptor has no mediaType`);
  if (typeof d.digest !== 'string') throw failedPrecondition(`${what}: descriptor has no digest`);
  try {
    validateDigest(d.digest);
  } catch (e) {
    throw failedPrecondition(`${what}: ${(e as Error).message}`);
  }
  if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) throw failedPrecondition(`${what}: descriptor ${d.digest} has an invalid size`);
  return d as Descriptor;
}

export function parseIndex(bytes: Buffer, mediaType: string, what: string): ImageIndex {
  const j = parseJson(bytes, what);
  if (!isIndex(mediaType)) throw failedPrecondition(`${what}: ${mediaType} is not an index`);
  if (!Array.isArray(j.manifests)) throw failedPrecondition(`${what}: index has no manifests list`);
  const manifests = j.manifests.map((m, i) => {
    const d = descriptor(m, `${what} manifests[${i}]`);
    return { ...d, ...((m as PlatformDescriptor).platform ? { platform: (m as PlatformDescriptor).platform } : {}) } as PlatformDescriptor;
  });
  return { mediaType, manifests };
}

export function parseManifest(bytes: Buffer, mediaType: string, what: string): ImageManifest {
  const j = parseJson(bytes, what);
  if (!isManifest(mediaType)) throw failedPrecondition(`${what}: unsupported manifest media type ${JSON.stringify(mediaType)}`);
  const config = descriptor(j.config, `${what} config`);
  if (!isConfig(config.mediaType)) throw failedPrecondition(`${what}: unsupported config media type ${JSON.stringify(config.mediaType)} (not a container image?)`);
  if (!Array.isArray(j.layers)) throw failedPrecondition(`${what}: manifest has no layers list`);
  const layers = j.layers.map((l, i) => descriptor(l, `${what} layers[${i}]`));
  for (const l of layers) layerCompression(l.mediaType); // unknown layer types fail here, before any download
  if (mediaType === MediaType.dockerManifest && j.schemaVersion !== 2) throw failedPrecondition(`${what}: schemaVersion is not 2`);
  return { mediaType, config, layers, ...(j.annotations ? { annotations: j.annotations as Record<string, string> } : {}) };
}

export function parseImageConfig(bytes: Buffer, what: string, layerCount: number): ImageConfig {
  const j = parseJson(bytes, what) as unknown as ImageConfig;
  const rootfs = j.rootfs as ImageConfig['rootfs'] | undefined;
  if (!rootfs || rootfs.type !== 'layers' || !Array.isArray(rootfs.diff_ids)) throw failedPrecondition(`${what}: rootfs.diff_ids missing`);
  for (const d of rootfs.diff_ids) {
    try {
      validateDigest(d);
    } catch (e) {
      throw failedPrecondition(`${what}: ${(e as Error).message}`);
    }
  }
  if (rootfs.diff_ids.length !== layerCount) {
    throw failedPrecondition(`${what}: ${rootfs.diff_ids.length} diff_ids for ${layerCount} layers`);
  }
  if (j.os !== undefined && j.os !== 'linux') throw failedPrecondition(`${what}: image is for os ${JSON.stringify(j.os)}, not linux`);
  return j;
}
