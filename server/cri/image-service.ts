// ImageService: thin handlers over the image domain (server/image/). Validation,
// registry access, storage and errors live there; this maps requests and responses.
import { invalidArgument } from '../errors.js';
import { nowNs } from '../time.js';
import type { ImageManager } from '../image/index.js';
import { inBatches, type ServiceImpl, type CallContext } from './rpc.js';
import type { ImageServiceHandlers } from '../../wire/cri/generated/runtime/v1/ImageService.js';
import type { DirUsage } from '../../hostutil/fs-usage.js';
import type { PullImageRequest__Output } from '../../wire/cri/generated/runtime/v1/PullImageRequest.js';
import type { PullImageResponse } from '../../wire/cri/generated/runtime/v1/PullImageResponse.js';
import type { ListImagesRequest__Output } from '../../wire/cri/generated/runtime/v1/ListImagesRequest.js';
import type { ListImagesResponse } from '../../wire/cri/generated/runtime/v1/ListImagesResponse.js';
import type { StreamImagesRequest__Output } from '../../wire/cri/generated/runtime/v1/StreamImagesRequest.js';
import type { StreamImagesResponse } from '../../wire/cri/generated/runtime/v1/StreamImagesResponse.js';
import type { ImageStatusRequest__Output } from '../../wire/cri/generated/runtime/v1/ImageStatusRequest.js';
import type { ImageStatusResponse } from '../../wire/cri/generated/runtime/v1/ImageStatusResponse.js';
import type { RemoveImageRequest__Output } from '../../wire/cri/generated/runtime/v1/RemoveImageRequest.js';
import type { RemoveImageResponse } from '../../wire/cri/generated/runtime/v1/RemoveImageResponse.js';
import type { ImageFsInfoResponse } from '../../wire/cri/generated/runtime/v1/ImageFsInfoResponse.js';

export interface ImageServiceDeps {
  images: ImageManager;
  /** Where containers' writable layers live, and its (cached) usage. */
  containersDir: string;
  containersUsage: () => Promise<DirUsage>;
}

function imageRef(spec: { image: string } | null, what: string): string {
  const ref = spec?.image ?? '';
  if (!ref) throw invalidArgument(`${what}.image must not be empty`);
  return ref;
}

export async function pullImage(deps: ImageServiceDeps, req: PullImageRequest__Output, ctx: CallContext): Promise<PullImageResponse> {
  const ref = imageRef(req.image, 'image');
  const res = await deps.images.pull(ref, { auth: req.auth, sandboxConfig: req.sandbox_config, signal: ctx.signal });
  ctx.log.info('image pulled', { image: res.reference, id: res.id, bytes: res.bytesDownloaded, seconds: Math.round(res.seconds * 1000) / 1000 });
  return { image_ref: res.id };
}

export function listImages(deps: ImageServiceDeps, req: ListImagesRequest__Output): ListImagesResponse {
  return { images: deps.images.list(req.filter) };
}

export async function streamImages(deps: ImageServiceDeps, req: StreamImagesRequest__Output, send: (r: StreamImagesResponse) => void): Promise<void> {
  const all = deps.images.list(req.filter);
  for (const images of inBatches(all)) send({ images });
}

export function imageStatus(deps: ImageServiceDeps, req: ImageStatusRequest__Output): ImageStatusResponse {
  // An image that is not there is not an error: the response simply has no image.
  return deps.images.status(imageRef(req.image, 'image'), req.verbose);
}

export async function removeImage(deps: ImageServiceDeps, req: RemoveImageRequest__Output, ctx: CallContext): Promise<RemoveImageResponse> {
  const ref = imageRef(req.image, 'image');
  if (await deps.images.remove(ref)) ctx.log.info('image removed', { image: ref });
  return {};
}

export async function imageFsInfo(deps: ImageServiceDeps): Promise<ImageFsInfoResponse> {
  const [images, containers] = await Promise.all([deps.images.fsUsage(), deps.containersUsage()]);
  return {
    image_filesystems: [images],
    container_filesystems: [
      {
        timestamp: nowNs().toString(),
        fs_id: { mountpoint: deps.containersDir },
        used_bytes: { value: containers.bytes.toString() },
        inodes_used: { value: containers.inodes.toString() },
      },
    ],
  };
}

export function imageServiceImpl(deps: ImageServiceDeps): ServiceImpl<ImageServiceHandlers> {
  return {
    unary: {
      PullImage: (req, ctx) => pullImage(deps, req, ctx),
      ListImages: (req) => listImages(deps, req),
      ImageStatus: (req) => imageStatus(deps, req),
      RemoveImage: (req, ctx) => removeImage(deps, req, ctx),
      ImageFsInfo: () => imageFsInfo(deps),
    },
    stream: {
      StreamImages: (req, send) => streamImages(deps, req, send),
    },
  };
}
