// Version: who we are on the wire.
import { readFileSync } from 'node:fs';
import type { VersionResponse } from '../../wire/cri/generated/runtime/v1/VersionResponse.js';

export const RUNTIME_NAME = 'berth';
/** The kubelet runtime API version string CRI runtimes report. */
const KUBE_API_VERSION = '0.1.0';

export const BERTH_VERSION: string = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

export function version(): VersionResponse {
  return { version: KUBE_API_VERSION, runtime_name: RUNTIME_NAME, runtime_version: BERTH_VERSION, runtime_api_version: 'v1' };
}
