// The images both runtimes get, from one docker-registry the bench starts on 127.0.0.1:
// a busybox-static image for the pods' containers, a pause image for containerd's
// sandboxes (Debian's static catatonit in pause mode, standing in for registry.k8s.io/pause),
// the pull scenario's image: 5 layers of random (incompressible) data, and the
// pull-files scenario's: 3 layers of many small text files, as a distribution's base
// layers are.
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
  /** Many small files (pull-files). */
  files: string;
  filesBytes: number;
  filesLayers: number;
  filesCount: number;
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

/** Deterministic text of `bytes` bytes, compressible as source files and configs are. */
function textOf(seed: number, bytes: number): string {
  let out = '';
  for (let i = 0; out.length < bytes; i++) out += `line ${i} of file ${seed}: some words that repeat\n`;
  return out.slice(0, bytes);
}

export async function prepareImages(opts: { bigLayers: number; bigLayerBytes: number; filesPerLayer: number; log: (s: string) => void }): Promise<BenchImages> {
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
    const filesLayers = 3;
    opts.log(`building the pull-files image: ${filesLayers} layers of ${opts.filesPerLayer} small files`);
    const fileLayers = [];
    for (let l = 0; l < filesLayers; l++) {
      const entries: { path: string; type?: 'dir'; content?: string }[] = [];
      for (let i = 0; i < opts.filesPerLayer; i++) {
        if (i % 100 === 0) entries.push({ path: `usr/l${l}/d${i / 100}`, type: 'dir' });
        // 100 B to ~8 KiB, most of them small.
        entries.push({ path: `usr/l${l}/d${Math.floor(i / 100)}/f${i}`, content: textOf(l * 100_000 + i, 100 + ((i * 7919) % 97) ** 2) });
      }
      fileLayers.push({ entries: [{ path: 'usr', type: 'dir' as const }, { path: `usr/l${l}`, type: 'dir' as const }, ...entries], compression: 'gzip' as const });
    }
    const files = await buildImage({ layers: fileLayers, config: { Cmd: ['/bin/sh'] } });
    await pushImage(registry.url, repo('files'), '1', files);
    return {
      registry,
      busybox: `${registry.host}/${repo('busybox')}:1`,
      pause,
      big: `${registry.host}/${repo('big')}:1`,
      bigBytes: pulledBytes(big),
      bigLayers: big.layers.length,
      files: `${registry.host}/${repo('files')}:1`,
      filesBytes: pulledBytes(files),
      filesLayers: files.layers.length,
      filesCount: filesLayers * opts.filesPerLayer,
      stop: () => registry.stop(),
    };
  } catch (e) {
    await registry.stop();
    throw e;
  }
}
