// Media types of the OCI image spec and Docker's schema 2, and what berth does with each.
import { failedPrecondition } from '../errors.js';

export const MediaType = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  ociLayerNondistributable: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  ociLayerNondistributableGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  ociLayerNondistributableZstd: 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerLayerForeignGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  dockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
} as const;

/** What a registry is asked for when resolving a tag or digest. Schema 1 is listed
 *  last so that a registry that still has it says so and we can refuse it clearly. */
export const MANIFEST_ACCEPT = [
  MediaType.ociIndex,
  MediaType.dockerManifestList,
  MediaType.ociManifest,
  MediaType.dockerManifest,
  `${MediaType.dockerSchema1Signed};q=0.1`,
  `${MediaType.dockerSchema1};q=0.1`,
].join(', ');

export type Compression = 'none' | 'gzip' | 'zstd';

export function isIndex(mt: string): boolean {
  return mt === MediaType.ociIndex || mt === MediaType.dockerManifestList;
}
export function isManifest(mt: string): boolean {
  return mt === MediaType.ociManifest || mt === MediaType.dockerManifest;
}
export function isSchema1(mt: string): boolean {
  return mt === MediaType.dockerSchema1 || mt === MediaType.dockerSchema1Signed;
}
export function isConfig(mt: string): boolean {
  return mt === MediaType.ociConfig || mt === MediaType.dockerConfig;
}

export function schema1Refused(what: string): Error {
  return failedPrecondition(
    `${what} is a Docker schema 1 manifest, which berth does not support (deprecated since 2017); ` +
      're-push the image with a current client to get a schema 2 or OCI manifest',
  );
}

/** The compression a layer media type declares; unknown layer types fail the pull. */
export function layerCompression(mt: string): Compression {
  switch (mt) {
    case MediaType.ociLayer:
    case MediaType.ociLayerNondistributable:
    case MediaType.dockerLayer:
      return 'none';
    case MediaType.ociLayerGzip:
    case MediaType.ociLayerNondistributableGzip:
    case MediaType.dockerLayerGzip:
    case MediaType.dockerLayerForeignGzip:
      return 'gzip';
    case MediaType.ociLayerZstd:
    case MediaType.ociLayerNondistributableZstd:
      return 'zstd';
    default:
      throw failedPrecondition(`unsupported layer media type ${JSON.stringify(mt)}`);
  }
}

/** Compression recognised from a blob's first bytes (registries sometimes mislabel). */
export function sniffCompression(head: Buffer): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  return 'none';
}
