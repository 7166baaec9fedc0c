// A real Prometheus server (Debian's `prometheus` package) for the metrics tests: started
// on loopback with a config this helper writes (one scrape job, 1 s interval, a temp data
// dir), queried through its HTTP API, and stopped by its PID with the data dir removed.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

export const PROMETHEUS = '/usr/bin/prometheus';
export const PROMTOOL = '/usr/bin/promtool';

export interface VectorSample {
  metric: Record<string, string>;
  value: number;
}

export interface TestPrometheus {
  url: string;
  dir: string;
  proc: ChildProcess;
  /** An instant query; the result as a vector (scalars come back as one sample without labels). */
  query(expr: string): Promise<VectorSample[]>;
  /** Polls `query` until `ok` holds for its result (or throws after `ms`, with the last result). */
  waitFor(expr: string, ok: (r: VectorSample[]) => boolean, ms?: number): Promise<VectorSample[]>;
  stop(): Promise<void>;
}

export const havePrometheus = () => existsSync(PROMETHEUS) && existsSync(PROMTOOL);

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Starts Prometheus scraping `target` (a full URL such as http://127.0.0.1:1234/metrics) every second as job "berth". */
export async function startPrometheus(target: string): Promise<TestPrometheus> {
  const dir = await mkdtemp('/tmp/berth-test-prometheus-');
  const t = new URL(target);
  const port = await freePort();
  const config = [
    'global:',
    '  scrape_interval: 1s',
    '  scrape_timeout: 900ms',
    'scrape_configs:',
    '  - job_name: berth',
    `    scheme: ${t.protocol.replace(':', '')}`,
    `    metrics_path: ${t.pathname}`,
    '    static_configs:',
    `      - targets: ['${t.host}']`,
    '',
  ].join('\n');
  await writeFile(join(dir, 'prometheus.yml'), config);
  let out = '';
  const proc = spawn(PROMETHEUS, [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'], { stdio: ['ignore', 'ignore', 'pipe'] });
  proc.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      const exited = new Promise<void>((r) => proc.once('exit', () => r()));
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`prometheus exited ${proc.exitCode}: ${out}`);
      const ready = await fetch(`${url}/-/ready`).then((r) => r.ok, () => false);
      if (ready) break;
      if (Date.now() > deadline) throw new Error(`prometheus did not get ready: ${out}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  } catch (e) {
    await stop();
    throw e;
  }
  const query = async (expr: string): Promise<VectorSample[]> => {
    const res = await fetch(`${url}/api/v1/query?${new URLSearchParams({ query: expr })}`);
    const body = (await res.json()) as { status: string; error?: string; data: { resultType: string; result: unknown } };
    if (body.status !== 'success') throw new Error(`query ${expr}: ${body.error}`);
    if (body.data.resultType === 'scalar') return [{ metric: {}, value: Number((body.data.result as [number, string])[1]) }];
    return (body.data.result as { metric: Record<string, string>; value: [number, string] }[]).map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
  };
  return {
    url,
    dir,
    proc,
    query,
    async waitFor(expr, ok, ms = 20_000) {
      const deadline = Date.now() + ms;
      for (;;) {
        const r = await query(expr);
        if (ok(r)) return r;
        if (Date.now() > deadline) throw new Error(`${expr}: still ${JSON.stringify(r)} after ${ms} ms`);
        await new Promise((res) => setTimeout(res, 500));
      }
    },
    stop,
  };
}
