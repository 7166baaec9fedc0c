// The last warnings and errors berthd logged, kept in memory for `berth doctor` (through
// the admin socket's /v1/health): berthd's JSON log lines pass through a tee on their way
// to stderr and the warn and error ones are kept in a bounded ring. Nothing is written
// anywhere else and nothing blocks: a line that is not JSON is passed on and not kept.
import { Writable } from 'node:stream';

export interface RecentEntry {
  time: string;
  level: string;
  message: string;
  component?: string;
  error?: string;
}

export class RecentLog {
  private readonly ring: RecentEntry[] = [];
  private pending = '';
  private counts = { warn: 0, error: 0 };

  constructor(private readonly size = 50) {}

  /** A stream that writes everything to `target` and keeps the warn and error lines. */
  tee(target: NodeJS.WritableStream): Writable {
    return new Writable({
      write: (chunk: Buffer | string, _enc, cb) => {
        this.observe(chunk.toString());
        if (target.write(chunk)) cb();
        else target.once('drain', () => cb());
      },
    });
  }

  /** Feeds log text (JSON lines, possibly split across calls). */
  observe(text: string): void {
    const lines = (this.pending + text).split('\n');
    this.pending = lines.pop() ?? '';
    if (this.pending.length > 1 << 16) this.pending = '';
    for (const line of lines) this.keep(line);
  }

  private keep(line: string): void {
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    const level = String(o.level ?? '');
    if (level !== 'warn' && level !== 'error') return;
    this.counts[level]++;
    const e: RecentEntry = { time: String(o.timestamp ?? new Date().toISOString()), level, message: String(o.message ?? '') };
    if (typeof o.component === 'string') e.component = o.component;
    if (o.error !== undefined) e.error = typeof o.error === 'string' ? o.error : JSON.stringify(o.error);
    this.ring.push(e);
    if (this.ring.length > this.size) this.ring.shift();
  }

  /** Oldest first. */
  entries(): RecentEntry[] {
    return [...this.ring];
  }

  /** Warnings and errors since berthd started (not only those still in the ring). */
  totals(): { warn: number; error: number } {
    return { ...this.counts };
  }
}
