// A test berthd with its images ready, for the integration tests that run containers: a
// registry of the test file's own, each image built and pushed as test/<name>:v1, a berthd
// started and every image pulled. stopBerthdWithImages removes the pods through berthd,
// then berthd's directories and the registry.
import { removePodsAndCleanup, startBerthd, type TestBerthd } from './berthd.js';
import { buildImage, pushImage, type ImageSpec } from './image-builder.js';
import { startRegistry, type TestRegistry } from './registry.js';

export interface BerthdWithImages {
  b: TestBerthd;
  reg: TestRegistry;
  /** Each image's full reference, by the name it was given. */
  images: Record<string, string>;
}

/** The ava context of a test file built on startBerthdWithImages: its main image's reference. */
export interface BerthdTestContext {
  b: TestBerthd;
  reg: TestRegistry;
  image: string;
}

export async function startBerthdWithImages(specs: Record<string, ImageSpec>, opts: Parameters<typeof startBerthd>[0] = {}): Promise<BerthdWithImages> {
  const reg = await startRegistry();
  let b: TestBerthd | undefined;
  try {
    const images: Record<string, string> = {};
    for (const [name, spec] of Object.entries(specs)) {
      await pushImage(reg.url, `test/${name}`, 'v1', await buildImage(spec));
      images[name] = `${reg.host}/test/${name}:v1`;
    }
    b = await startBerthd(opts);
    for (const image of Object.values(images)) await b.client.call('PullImage', { image: { image } }, { service: 'image' });
    return { b, reg, images };
  } catch (e) {
    await b?.cleanup();
    await reg.stop();
    throw e;
  }
}

export async function stopBerthdWithImages(env: Partial<BerthdWithImages> | undefined): Promise<void> {
  await removePodsAndCleanup(env?.b);
  await env?.reg?.stop();
}
