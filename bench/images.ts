// The images both runtimes get, from one docker-registry the bench starts on 127.0.0.1:
// a busybox-static image for the pods' containers, a pause image for containerd's
// sandboxes (Debian's static catatonit in pause mode, standing in for registry.k8s.io/pause),
// and the pull scenario's image: 5 layers of random (incompressible) data.
import { randomBytes } from 'node:crypto';
import { pushPauseImage } from '../conformance/images.js';
import { buildImage, busyboxLayer, pushImage, type BuiltImage } from '../test/helpers/image-builder.js';
import { startRegistry, type TestRegistry } from '../test/helpers/registry.js';

export interface BenchImages {
  registry: TestRegistry;
  /** Full references (`127.0.0.1:PORT/bench/…:tag`). */
  busybox: string;
  pause: string;
  big: string;
  /** Bytes a pull of `big` moves (manifest + config + layers). */
  bigBytes: number;
  bigLayers: number;
  stop(): Promise<void>;
}

/** The command every bench container runs; the density scenario leaves these processes out. */
export const WORKLOAD = ['/bin/sleep', '2147483'];
export function isWorkload(argv: string[]): boolean {
  return argv.length === 2 && argv[1] === WORKLOAD[1] && (argv[0] === WORKLOAD[0] || argv[0] === 'sleep');
}

function pulledBytes(img: BuiltImage): number {
  return img.manifest.size + img.config.size + img.layers.reduce((n, l) => n + l.size, 0);
}

export async function prepareImages(opts: { bigLayers: number; bigLayerBytes: number; log: (s: string) => void }): Promise<BenchImages> {
  const registry = await startRegistry();
  try {
    const repo = (name: string) => `bench/${name}`;
    const busybox = await buildImage({ layers: [busyboxLayer()], config: { Cmd: ['/bin/sh'] } });
    await pushImage(registry.url, repo('busybox'), '1', busybox);
    const pause = await pushPauseImage(registry.url, repo('pause'), '1');
    opts.log(`building the pull image: ${opts.bigLayers} layers of ${(opts.bigLayerBytes / 2 ** 20).toFixed(1)} MiB random data`);
    const layers = [];
    for (let i = 0; i < opts.bigLayers; i++) {
      layers.push({
        entries: [
          { path: 'data', type: 'dir' as const },
          { path: `data/layer-${i}.bin`, content: randomBytes(opts.bigLayerBytes) },
        ],
        compression: 'gzip' as const,
      });
    }
    const big = await buildImage({ layers, config: { Cmd: ['/bin/sh'] } });
    await pushImage(registry.url, repo('big'), '1', big);
    return {
      registry,
      busybox: `${registry.host}/${repo('busybox')}:1`,
      pause,
      big: `${registry.host}/${repo('big')}:1`,
      bigBytes: pulledBytes(big),
      bigLayers: big.layers.length,
      stop: () => registry.stop(),
    };
  } catch (e) {
    await registry.stop();
    throw e;
  }
}
