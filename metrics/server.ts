// The Prometheus endpoint ([metrics] in config.toml): GET <path> answers with the container
// and pod families of the sampler's current Sample, then berth's own families. HTTPS when
// a certificate and key are configured. A scrape only reads the cache (or, with an
// on-demand sampler, joins one round), so it never holds up CRI calls.
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { exposeSample, type Family } from './families.js';
import type { Sample, Sampler } from './sampler.js';
import type { BerthMetrics } from './berth.js';
import { parseListenAddress } from './address.js';

export interface MetricsServerOptions {
  address: string;
  path: string;
  tlsCert?: string;
  tlsKey?: string;
}

export interface MetricsServer {
  /** "http://127.0.0.1:9464/metrics" (the port actually bound). */
  url: string;
  close(): Promise<void>;
}

export const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/**
 * The scrape body, in chunks: the container and pod families of the current Sample, rendered
 * once per Sample and kept encoded (they change only when a round ends, and a scrape between
 * rounds costs no rendering), then berth's own families, which change with every CRI call.
 */
export function scrapeBody(sampler: Sampler, families: readonly Family[], berth: BerthMetrics | undefined): () => Promise<Buffer[]> {
  let rendered: { sample: Sample; body: Buffer } | undefined;
  return async () => {
    const sample = await sampler.current();
    if (rendered?.sample !== sample) rendered = { sample, body: Buffer.from(exposeSample(sample, families)) };
    const own = berth ? await berth.registry.metrics() : '';
    return [rendered.body, Buffer.from(own)];
  };
}

export async function startMetricsServer(opts: MetricsServerOptions, body: () => Promise<Buffer[]>, onError: (e: unknown) => void): Promise<MetricsServer> {
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== opts.path) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found; metrics are at ${opts.path}\n`);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    body().then(
      (chunks) => {
        res.writeHead(200, { 'content-type': CONTENT_TYPE, 'content-length': chunks.reduce((n, c) => n + c.length, 0) });
        if (req.method !== 'HEAD') for (const c of chunks) res.write(c);
        res.end();
      },
      (e: unknown) => {
        onError(e);
        res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics unavailable: ${(e as Error).message}\n`);
      },
    );
  };
  let server: Server;
  if (opts.tlsCert && opts.tlsKey) {
    const [cert, key] = await Promise.all([readFile(opts.tlsCert), readFile(opts.tlsKey)]);
    server = createHttpsServer({ cert, key }, handler);
  } else server = createHttpServer(handler);
  const { host, port } = parseListenAddress(opts.address);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', onError);
  const a = server.address() as AddressInfo;
  const h = a.family === 'IPv6' ? `[${a.address}]` : a.address;
  return {
    url: `${opts.tlsCert && opts.tlsKey ? 'https' : 'http'}://${h}:${a.port}${opts.path}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
