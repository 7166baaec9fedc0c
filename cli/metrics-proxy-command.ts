// berth metrics-proxy --listen HOST:PORT --tls-cert FILE --tls-key FILE [--upstream URL]
//   [--path PATH] [--auth-cache-seconds N]: the Helm chart's authenticated scrape target
//   (metrics-proxy.ts), forwarding to berthd's loopback metrics endpoint until SIGTERM.
import { readFile } from 'node:fs/promises';
import { cachedReviewer, inClusterApi, kubeTokenReviewer, parseListen, startMetricsProxy } from './metrics-proxy.js';
import { parse } from './args.js';

export async function metricsProxyCommand(args: string[]): Promise<number> {
  const { values } = parse(
    args,
    {
      listen: { type: 'string' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      upstream: { type: 'string' },
      path: { type: 'string' },
      'auth-cache-seconds': { type: 'string' },
    },
    'berth metrics-proxy --listen HOST:PORT --tls-cert FILE --tls-key FILE [--upstream URL] [--path PATH] [--auth-cache-seconds N]',
  );
  const { listen, 'tls-cert': certFile, 'tls-key': keyFile } = values;
  if (!listen || !certFile || !keyFile) throw new Error('metrics-proxy: --listen, --tls-cert and --tls-key are required');
  const upstream = new URL(values.upstream ?? 'http://127.0.0.1:9464/metrics');
  if (upstream.protocol !== 'http:') throw new Error(`metrics-proxy: --upstream must be an http:// URL (berthd's loopback endpoint), not ${upstream.href}`);
  const path = values.path ?? upstream.pathname;
  const cacheSeconds = Number(values['auth-cache-seconds'] ?? '60');
  if (!(cacheSeconds >= 0)) throw new Error('metrics-proxy: --auth-cache-seconds must be a number of seconds');
  const log = (msg: string, fields: Record<string, unknown> = {}) => process.stderr.write(JSON.stringify({ time: new Date().toISOString(), msg, ...fields }) + '\n');
  const proxy = await startMetricsProxy({
    ...parseListen(listen),
    upstream,
    path,
    cert: await readFile(certFile),
    key: await readFile(keyFile),
    reviewer: cachedReviewer(kubeTokenReviewer(await inClusterApi(), path), cacheSeconds * 1000),
    log,
  });
  await new Promise<void>((done) => {
    process.once('SIGTERM', () => done());
    process.once('SIGINT', () => done());
  });
  await proxy.close();
  return 0;
}
