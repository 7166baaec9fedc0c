// The image domain's public surface, for the gRPC ImageService handlers, container
// creation and the `berth images` command line.
export { ImageManager, type ImageManagerOptions, type ResolvedImage } from './image-manager.js';
export type { PullEvent, PullOptions, PullResult } from './image-pull.js';
export type { ImportOptions, ImportedImage } from './image-import.js';
export type { GcResult } from './image-gc.js';
export type { Logger } from '../logger.js';
export type { ImageConfig } from './manifest.js';
export { registryConfig, registryConfigFromToml, defaultRegistryConfig, type RegistryConfig, type MirrorConfig, type HostConfig } from './registry-config.js';
export { parseReference, formatReference, type ImageReference } from './reference.js';
