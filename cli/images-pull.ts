// berth images pull REF: pulls through the running berthd (POST /v1/images/pull on its
// admin socket, which streams the pull's progress as newline-delimited JSON). On a
// terminal each layer gets a live bar (bytes, rate, time left); otherwise one plain line
// per layer event (download progress at most once a second per layer); `-o json` passes
// the events through as they come. Because the pull runs in berthd, it shares its
// downloads with a kubelet pull of the same image. Ctrl-C closes the stream, which cancels
// the pull in berthd as a cancelled CRI PullImage is cancelled: what it fetched is removed
// (unless another pull still wants it). Exit status (as cli/output.ts): 0 pulled, 1 failed,
// 2 usage, 4 berthd not running, 130 cancelled.
import { request } from 'node:http';
import { join } from 'node:path';
import { loadConfig } from '../server/config.js';
import { ADMIN_PROTOCOL, ADMIN_PROTOCOL_HEADER, BERTH_VERSION_HEADER, adminProtocolMismatch } from '../server/admin-protocol.js';
import { BERTH_VERSION } from '../server/status/version.js';
import type { PullEvent } from '../server/image/image-pull.js';
import { parse, UsageError } from './args.js';

export const PULL_USAGE = 'berth images pull REF [--state DIR] [--progress auto|bars|plain|none] [-o table|json]';

/** A line of the admin socket's pull stream: the puller's events, or the error that ended it. */
export type PullLine = PullEvent | { type: 'error'; error: string; kind: string };

export function fmtBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

function fmtSeconds(s: number): string {
  if (!Number.isFinite(s)) return '--';
  if (s < 60) return `${Math.ceil(s)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(Math.ceil(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

interface LayerView {
  digest: string;
  total: number;
  done: number;
  status: 'waiting' | 'present' | 'downloading' | 'unpacking' | 'done';
  /** First progress seen (for the rate). */
  since?: { ms: number; bytes: number };
  rate: number;
  lastPlainMs: number;
}

const short = (d: string) => d.replace(/^sha256:/, '').slice(0, 12);

/** Renders pull events as bars (a terminal) or plain lines. `now` is injectable for tests. */
export class PullRenderer {
  private readonly layers = new Map<string, LayerView>();
  private drawn = 0;
  constructor(
    private readonly mode: 'bars' | 'plain' | 'none',
    private readonly write: (s: string) => void,
    private readonly now: () => number = Date.now,
    /** The terminal's width: bar lines are cut to it, so none wraps and the redraw stays in place. */
    private readonly columns = 0,
  ) {}

  private rateOf(l: LayerView): void {
    const t = this.now();
    if (!l.since) l.since = { ms: t, bytes: l.done };
    const secs = (t - l.since.ms) / 1000;
    if (secs > 0) l.rate = (l.done - l.since.bytes) / secs;
  }

  private line(l: LayerView): string {
    const pct = l.total ? Math.min(100, Math.floor((l.done / l.total) * 100)) : 100;
    const sizes = `${fmtBytes(l.done)}/${fmtBytes(l.total)}`;
    if (l.status !== 'downloading') return `${short(l.digest)}  ${l.status.padEnd(11)}  ${sizes}`;
    const eta = l.rate > 0 ? fmtSeconds((l.total - l.done) / l.rate) : '--';
    const rate = l.rate > 0 ? `${fmtBytes(Math.round(l.rate))}/s` : '--';
    if (this.mode === 'plain') return `${short(l.digest)}  downloading  ${sizes} (${pct}%)  ${rate}  ${eta} left`;
    const width = 24;
    const fill = Math.round((pct / 100) * width);
    return `${short(l.digest)}  [${'='.repeat(fill)}${fill < width ? '>' : ''}${' '.repeat(Math.max(0, width - fill - 1))}] ${String(pct).padStart(3)}%  ${sizes}  ${rate}  ${eta} left`;
  }

  private redraw(): void {
    if (this.mode !== 'bars') return;
    let s = this.drawn ? `\x1b[${this.drawn}A` : '';
    for (const l of this.layers.values()) s += `\x1b[2K${this.columns > 1 ? this.line(l).slice(0, this.columns - 1) : this.line(l)}\n`;
    this.drawn = this.layers.size;
    this.write(s);
  }

  event(e: PullLine): void {
    if (this.mode === 'none') return;
    if (e.type === 'resolved') {
      this.write(`pulling ${e.reference} (${e.layers.length} layer${e.layers.length === 1 ? '' : 's'}, ${fmtBytes(e.layers.reduce((n, l) => n + l.size, 0))})\n`);
      // Rates are averaged from here: a layer waiting for a download slot counts as slow.
      const since = { ms: this.now(), bytes: 0 };
      for (const l of e.layers) this.layers.set(l.digest, { digest: l.digest, total: l.size, done: 0, status: 'waiting', rate: 0, lastPlainMs: 0, since: { ...since } });
      this.redraw();
    } else if (e.type === 'layer') {
      const l = this.layers.get(e.digest) ?? { digest: e.digest, total: e.total, done: 0, status: 'waiting' as const, rate: 0, lastPlainMs: 0 };
      this.layers.set(e.digest, l);
      l.total = e.total;
      l.done = e.done;
      l.status = e.status === 'downloading' && e.done >= e.total ? 'unpacking' : e.status;
      if (e.status === 'downloading') this.rateOf(l);
      if (this.mode === 'bars') return this.redraw();
      const t = this.now();
      // Plain: every state change, and download progress at most once a second per layer.
      if (e.status === 'downloading' && t - l.lastPlainMs < 1000 && l.lastPlainMs) return;
      l.lastPlainMs = t;
      this.write(this.line(l) + '\n');
    } else if (e.type === 'pulled') {
      this.redraw();
      this.write(`pulled ${e.reference} ${e.id} (${fmtBytes(e.bytesDownloaded)} downloaded in ${e.seconds.toFixed(1)}s)\n`);
    }
  }
}

export async function imagesPull(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { state: { type: 'string' }, progress: { type: 'string', default: 'auto' }, output: { type: 'string', short: 'o', default: 'table' } }, PULL_USAGE, 1);
  const ref = positionals[0];
  if (!ref) throw new UsageError(`an image reference is required\nusage: ${PULL_USAGE}`);
  if (!['auto', 'bars', 'plain', 'none'].includes(values.progress!)) throw new UsageError(`--progress must be auto, bars, plain or none\nusage: ${PULL_USAGE}`);
  if (values.output !== 'table' && values.output !== 'json') throw new UsageError(`-o must be table or json\nusage: ${PULL_USAGE}`);
  const state = values.state ?? loadConfig([]).config.state;
  const json = values.output === 'json';
  const mode = json ? 'none' : values.progress === 'auto' ? (process.stdout.isTTY ? 'bars' : 'plain') : (values.progress as 'bars' | 'plain' | 'none');
  const renderer = new PullRenderer(mode, (s) => process.stdout.write(s), Date.now, process.stdout.columns ?? 0);
  return new Promise<number>((resolve, reject) => {
    let result: number | undefined;
    const headers = { 'content-type': 'application/json', [ADMIN_PROTOCOL_HEADER]: String(ADMIN_PROTOCOL), [BERTH_VERSION_HEADER]: BERTH_VERSION };
    const req = request({ socketPath: join(state, 'admin.sock'), method: 'POST', path: '/v1/images/pull', headers }, (res) => {
      const theirs = res.headers[ADMIN_PROTOCOL_HEADER];
      if (theirs !== String(ADMIN_PROTOCOL)) {
        const v = res.headers[BERTH_VERSION_HEADER];
        res.resume();
        return reject(new Error(adminProtocolMismatch({ protocol: String(ADMIN_PROTOCOL), version: BERTH_VERSION }, { protocol: typeof theirs === 'string' ? theirs : '', version: typeof v === 'string' ? v : '' })));
      }
      let pending = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        const lines = (pending + chunk).split('\n');
        pending = lines.pop() ?? '';
        for (const text of lines) {
          if (!text) continue;
          if ((res.statusCode ?? 500) >= 400) {
            pending += text;
            continue;
          }
          const e = JSON.parse(text) as PullLine;
          if (json) process.stdout.write(text + '\n');
          else renderer.event(e);
          if (e.type === 'pulled') result = 0;
          if (e.type === 'error') {
            if (!json) process.stderr.write(`berth: pull of ${ref} failed: ${e.error}\n`);
            result = 1;
          }
        }
      });
      res.on('end', () => {
        process.off('SIGINT', onSigint);
        if ((res.statusCode ?? 500) >= 400) {
          let msg = pending;
          try {
            msg = (JSON.parse(pending) as { error: string }).error;
          } catch {
            /* not JSON */
          }
          return reject(new Error(msg));
        }
        if (result === undefined) return reject(new Error('berthd closed the pull stream without a result'));
        resolve(result);
      });
    });
    const onSigint = () => {
      req.destroy();
      process.stderr.write(`\nberth: pull of ${ref} cancelled; berthd stops it and removes what it fetched for it\n`);
      resolve(130);
    };
    process.once('SIGINT', onSigint);
    req.on('error', (e: NodeJS.ErrnoException) => {
      process.off('SIGINT', onSigint);
      if (result !== undefined) return;
      if (e.code !== 'ENOENT' && e.code !== 'ECONNREFUSED') return reject(e);
      process.stderr.write(`berth: berthd is not running (no admin socket in ${state}); images are pulled through berthd\n`);
      resolve(4);
    });
    req.end(JSON.stringify({ ref }));
  });
}
