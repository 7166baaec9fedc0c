// `berth images pull` through a real berthd and a real registry (behind the test proxy,
// which trickles the layer so the pull is slow enough to watch and cancel): plain progress
// lines when stdout is not a terminal and the image in the store afterwards; a CRI
// PullImage of the same image while the CLI pull runs shares its download (one blob GET);
// SIGINT mid-download ends the CLI with 130 and berthd removes everything the pull had
// fetched (no image, layer, blob, partial ingest file or lease left); `-o json` events.
import anyTest, { type TestFn } from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { startBerthd, isRoot, type TestBerthd } from '../helpers/berthd.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { startProxy, type TestProxy } from '../helpers/registry-proxy.js';
import { buildImage, pushImage, type BuiltImage } from '../helpers/image-builder.js';
import { randomBytes } from 'node:crypto';
import { fmtBytes } from '../../cli/images-pull.js';

const test = anyTest as TestFn<{ b: TestBerthd; reg: TestRegistry; proxy: TestProxy; small: BuiltImage; big: BuiltImage; shared: BuiltImage; both: BuiltImage }>;
const rootOnly = isRoot() ? test.serial : test.serial.skip;
const BERTH_CLI = fileURLToPath(new URL('../../cli/berth.js', import.meta.url));

const slow = new Set<string>();

test.before(async (t) => {
  if (!isRoot()) return;
  const reg = await startRegistry();
  t.context.reg = reg;
  const layer = (n: number, tag: string) => ({ entries: [{ path: `data-${tag}`, content: randomBytes(n) }], compression: 'none' as const });
  t.context.small = await buildImage({ layers: [layer(700_000, 'a'), layer(300_000, 'b')] });
  t.context.shared = await buildImage({ layers: [layer(2_000_000, 'c')] });
  t.context.big = await buildImage({ layers: [layer(3_000_000, 'd')] });
  t.context.both = await buildImage({ layers: [layer(2_000_000, 'e')] });
  await pushImage(reg.url, 'test/small', 'v1', t.context.small);
  await pushImage(reg.url, 'test/shared', 'v1', t.context.shared);
  await pushImage(reg.url, 'test/big', 'v1', t.context.big);
  await pushImage(reg.url, 'test/both', 'v1', t.context.both);
  for (const i of [t.context.small, t.context.shared, t.context.big, t.context.both]) for (const l of i.layers) slow.add(l.digest);
  // Layer blobs come 32 KiB every 40 ms: about 1.3 s per megabyte.
  t.context.proxy = await startProxy({ upstream: reg.url, fault: ({ method, path }) => (method === 'GET' && slow.has(path.split('/').pop()!) ? { kind: 'trickle', chunk: 32_768, everyMs: 40 } : undefined) });
  t.context.b = await startBerthd();
});
test.after.always(async (t) => {
  await t.context.b?.cleanup();
  await t.context.proxy?.stop();
  await t.context.reg?.stop();
});

interface Run {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  exit: Promise<number | null>;
}

function berth(args: string[]): Run {
  const child = spawn(process.execPath, [BERTH_CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  const exit = new Promise<number | null>((r) => child.once('exit', (code, sig) => r(code ?? (sig ? 128 : null))));
  return { child, out: () => out, err: () => err, exit };
}

async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const blobGets = (p: TestProxy, digest: string) => p.requests.filter((r) => r.method === 'GET' && r.path.endsWith(`/blobs/${digest}`)).length;

rootOnly('non-TTY pull prints one plain line per layer event and stores the image', async (t) => {
  const { b, proxy, small } = t.context;
  const ref = `${proxy.host}/test/small:v1`;
  const r = berth(['images', 'pull', ref, '--state', b.state]);
  t.is(await r.exit, 0, r.err());
  const lines = r.out().trim().split('\n');
  t.is(lines[0], `pulling ${ref} (2 layers, ${fmtBytes(small.layers[0]!.size + small.layers[1]!.size)})`);
  // The big layer is slow enough to be seen downloading, with a rate and the time left.
  const bigShort = small.layers[0]!.digest.slice(7, 19);
  t.true(lines.some((x) => x.startsWith(`${bigShort}  downloading  `) && / \(\d+%\)  [0-9.]+ [KM]iB\/s  \d+s left$/.test(x)), `progress line for ${bigShort}:\n${r.out()}`);
  for (const l of small.layers) {
    const short = l.digest.slice(7, 19);
    t.true(lines.some((x) => x.startsWith(`${short}  done `)), `done line for ${short}`);
  }
  t.regex(lines[lines.length - 1]!, new RegExp(`^pulled ${ref.replace(/[.:/]/g, '\\$&')} ${small.config.digest} \\(.* downloaded in [0-9.]+s\\)$`));
  const list = (await b.client.call('ListImages', {}, { service: 'image' })) as { images: { id: string }[] };
  t.true(list.images.some((i) => i.id === small.config.digest));
  // Again: every layer is already there.
  const again = berth(['images', 'pull', ref, '--state', b.state]);
  t.is(await again.exit, 0, again.err());
  t.is(again.out().split('\n').filter((x) => / present /.test(x)).length, 2, again.out());
});

rootOnly('a CRI PullImage of the same image while the CLI pulls shares the download', async (t) => {
  const { b, proxy, shared } = t.context;
  const ref = `${proxy.host}/test/shared:v1`;
  const layer = shared.layers[0]!.digest;
  const r = berth(['images', 'pull', ref, '--state', b.state]);
  await until('the CLI pull to be downloading', () => r.out().includes('downloading'));
  const cri = b.client.call('PullImage', { image: { image: ref } }, { service: 'image' }) as Promise<{ image_ref: string }>;
  t.is((await cri).image_ref, shared.config.digest);
  t.is(await r.exit, 0, r.err());
  t.is(blobGets(proxy, layer), 1, 'one download of the layer for both pulls');
  // Both pulls found the layer missing when they started (each counts its bytes), so the
  // CRI pull joined the CLI pull's download rather than finding it finished.
  const pulled = b
    .stderr()
    .split('\n')
    .filter((l) => l.includes('"pulled image"') && l.includes(ref))
    .map((l) => JSON.parse(l) as { bytes: number });
  t.is(pulled.length, 2);
  for (const p of pulled) t.true(p.bytes >= shared.layers[0]!.size, JSON.stringify(p));
  t.regex(r.out(), /^pulled /m);
});

rootOnly('SIGINT mid-pull exits 130 and berthd leaves nothing of the pull behind', async (t) => {
  const { b, proxy, big } = t.context;
  const ref = `${proxy.host}/test/big:v1`;
  const r = berth(['images', 'pull', ref, '--state', b.state]);
  await until('the pull to be downloading', () => r.out().includes('downloading'));
  // The partial download is on disk now.
  t.true(readdirSync(join(b.root, 'content/ingest')).length > 0, 'an ingest file while downloading');
  r.child.kill('SIGINT');
  t.is(await r.exit, 130);
  t.regex(r.err(), /cancelled/);
  const db = new Database(join(b.root, 'meta.db'), { readonly: true, fileMustExist: true });
  try {
    const count = (table: string) => (db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;
    const blobs = [big.manifest.digest, big.config.digest, ...big.layers.map((l) => l.digest)];
    await until('berthd to clean up the cancelled pull', () =>
      proxy.blobGets.now === 0 &&
      readdirSync(join(b.root, 'content/ingest')).length === 0 &&
      readdirSync(join(b.root, 'layers/ingest')).length === 0 &&
      blobs.every((d) => !existsSync(join(b.root, 'content/blobs/sha256', d.slice(7)))),
    );
    t.is((db.prepare('SELECT COUNT(*) AS n FROM images WHERE id = ?').get(big.config.digest) as { n: number }).n, 0);
    t.is(count('layer_leases'), 0, 'no lease');
    t.false(existsSync(join(b.root, 'layers/sha256', big.layers[0]!.diffId.slice(7))), 'no layer directory');
  } finally {
    db.close();
  }
  // berthd is fine afterwards: the same pull completes.
  const again = berth(['images', 'pull', ref, '--state', b.state, '--progress', 'none']);
  t.is(await again.exit, 0, again.err());
  t.is(again.out(), '');
});

rootOnly('SIGINT of the CLI pull leaves a CRI pull of the same image to finish on the same download', async (t) => {
  const { b, proxy, both } = t.context;
  const ref = `${proxy.host}/test/both:v1`;
  const r = berth(['images', 'pull', ref, '--state', b.state]);
  await until('the CLI pull to be downloading', () => r.out().includes('downloading'));
  const cri = b.client.call('PullImage', { image: { image: ref } }, { service: 'image' }) as Promise<{ image_ref: string }>;
  // The CRI pull has joined the running download once berthd logs it fetching its layers.
  await until('the CRI pull to join the download', () => b.stderr().split('\n').filter((l) => l.includes('"fetching layers"') && l.includes(ref)).length === 2);
  r.child.kill('SIGINT');
  t.is(await r.exit, 130);
  t.is((await cri).image_ref, both.config.digest);
  t.is(blobGets(proxy, both.layers[0]!.digest), 1, 'the download went on for the CRI pull');
  const list = (await b.client.call('ListImages', {}, { service: 'image' })) as { images: { id: string }[] };
  t.true(list.images.some((i) => i.id === both.config.digest));
});

rootOnly('-o json streams the pull events; a bad reference fails with exit 1', async (t) => {
  const { b, proxy, small } = t.context;
  const r = berth(['images', 'pull', `${proxy.host}/test/small:v1`, '--state', b.state, '-o', 'json']);
  t.is(await r.exit, 0, r.err());
  const events = r.out().trim().split('\n').map((l) => JSON.parse(l) as { type: string; [k: string]: unknown });
  t.is(events[0]!.type, 'resolved');
  t.deepEqual(events[0]!.layers, small.layers.map((l) => ({ digest: l.digest, size: l.size })));
  t.like(events[events.length - 1]!, { type: 'pulled', id: small.config.digest });
  const bad = berth(['images', 'pull', `${proxy.host}/test/nope:v1`, '--state', b.state]);
  t.is(await bad.exit, 1);
  t.regex(bad.err(), /pull of .*test\/nope:v1 failed: /);
  const usage = berth(['images', 'pull']);
  t.is(await usage.exit, 2);
});
