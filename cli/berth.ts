#!/usr/bin/env node
// berth: the operator's command-line tool next to berthd.
//   berth cni default                          print the default network config list
//   berth cni ensure-default [--conf-dir DIR]  write it if DIR has no network config
//   berth images import FILE [--name REF]      import an OCI or `docker save` archive
//   berth images ls                            list images
//   berth images rm REF                        remove an image (id, tag or digest)
//   berth metrics-proxy --listen HOST:PORT …   the Helm chart's authenticated scrape target (metrics-proxy.ts)
// Image commands go through the running berthd's admin socket (<state>/admin.sock).
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join, resolve } from 'node:path';
import { defaultConflist } from '../server/network/conflist.js';
import { readFile } from 'node:fs/promises';
import { loadConfig } from '../server/config.js';
import { cachedReviewer, inClusterApi, kubeTokenReviewer, parseListen, startMetricsProxy } from './metrics-proxy.js';

const USAGE = `usage: berth cni default
       berth cni ensure-default [--conf-dir DIR]
       berth images import FILE [--name REF] [--state DIR]
       berth images ls [--state DIR]
       berth images rm REF [--state DIR]
       berth metrics-proxy --listen HOST:PORT --tls-cert FILE --tls-key FILE
                           [--upstream URL] [--path PATH] [--auth-cache-seconds N]`;

function option(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const v = args[i + 1];
  if (v === undefined) throw new Error(`${name} needs a value`);
  args.splice(i, 2);
  return v;
}

function admin(state: string, method: string, path: string, body?: object): Promise<unknown> {
  return new Promise((resolvePromise, reject) => {
    const req = request({ socketPath: join(state, 'admin.sock'), method, path, headers: { 'content-type': 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let out: unknown = text;
        try {
          out = JSON.parse(text);
        } catch {
          /* not JSON */
        }
        if ((res.statusCode ?? 500) >= 400) reject(new Error((out as { error?: string }).error ?? text));
        else resolvePromise(out);
      });
    });
    req.on('error', (e: NodeJS.ErrnoException) =>
      reject(e.code === 'ENOENT' || e.code === 'ECONNREFUSED' ? new Error(`berthd is not running (no admin socket in ${state})`) : e),
    );
    req.end(body ? JSON.stringify(body) : undefined);
  });
}

async function main(argv: string[]): Promise<number> {
  const args = [...argv];
  const [group, cmd] = args.splice(0, 2);
  if (group === 'cni' && cmd === 'default') {
    process.stdout.write(JSON.stringify(defaultConflist(), null, 2) + '\n');
    return 0;
  }
  if (group === 'cni' && cmd === 'ensure-default') {
    const dir = option(args, '--conf-dir') ?? loadConfig([]).config.cni.conf_dir;
    await mkdir(dir, { recursive: true });
    const existing = (await readdir(dir)).filter((n) => /\.(conflist|conf|json)$/.test(n));
    if (existing.length) {
      console.log(`berth: ${dir} already has a network config (${existing.sort()[0]}); left as is`);
      return 0;
    }
    const file = join(dir, '10-berth.conflist');
    await writeFile(file, JSON.stringify(defaultConflist(), null, 2) + '\n', { mode: 0o644 });
    console.log(`berth: wrote ${file} (bridge berth0, 10.88.0.0/16)`);
    return 0;
  }
  if (group === 'metrics-proxy') {
    if (cmd !== undefined) args.unshift(cmd);
    const listen = option(args, '--listen');
    const certFile = option(args, '--tls-cert');
    const keyFile = option(args, '--tls-key');
    if (!listen || !certFile || !keyFile) throw new Error('metrics-proxy: --listen, --tls-cert and --tls-key are required');
    const upstream = new URL(option(args, '--upstream') ?? 'http://127.0.0.1:9464/metrics');
    if (upstream.protocol !== 'http:') throw new Error(`metrics-proxy: --upstream must be an http:// URL (berthd's loopback endpoint), not ${upstream.href}`);
    const path = option(args, '--path') ?? upstream.pathname;
    const cacheSeconds = Number(option(args, '--auth-cache-seconds') ?? '60');
    if (!(cacheSeconds >= 0)) throw new Error('metrics-proxy: --auth-cache-seconds must be a number of seconds');
    if (args.length > 0) throw new Error(`metrics-proxy: unexpected arguments: ${args.join(' ')}`);
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
  if (group === 'images') {
    const state = option(args, '--state') ?? loadConfig([]).config.state;
    if (cmd === 'import' && args[0]) {
      const name = option(args, '--name');
      const out = (await admin(state, 'POST', '/v1/images/import', { path: resolve(args[0]), ...(name ? { name } : {}) })) as Array<{ id: string; repoTags: string[] }>;
      for (const i of out) console.log(`imported ${i.repoTags.join(', ') || '(untagged)'} ${i.id}`);
      return 0;
    }
    if (cmd === 'ls') {
      const out = (await admin(state, 'GET', '/v1/images')) as Array<{ id: string; repo_tags: string[]; size: string }>;
      console.log(['IMAGE ID', 'SIZE', 'TAGS'].join('\t'));
      for (const i of out) console.log([i.id.replace(/^sha256:/, '').slice(0, 13), i.size, i.repo_tags.join(',') || '<none>'].join('\t'));
      return 0;
    }
    if (cmd === 'rm' && args[0]) {
      await admin(state, 'DELETE', `/v1/images?ref=${encodeURIComponent(args[0])}`);
      console.log(`removed ${args[0]}`);
      return 0;
    }
  }
  process.stderr.write(USAGE + '\n');
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`berth: ${(e as Error).message}\n`);
    process.exit(1);
  },
);
