// The CRI log format as conmon writes it (k8s-file): one record per line,
//   <RFC 3339 time with nanoseconds> <stdout|stderr> <tags> <content>
// where tags is P (partial: the line went on past conmon's buffer) or F (full: this record
// ends the line), possibly followed by more ':'-separated tags. The decoder joins a stream's P
// records with the F that ends them into one entry (the time is the first record's), keeps an
// unfinished line across chunks, and counts lines that are not in the format (skipped).
// Pure: `berth logs` feeds it bytes from the file; the unit tests feed it strings.

export interface LogEntry {
  /** The time as written (RFC 3339, nanoseconds, with its offset). */
  time: string;
  /** Milliseconds since the epoch (for --since). */
  ms: number;
  stream: 'stdout' | 'stderr';
  /** The line without its newline (P records joined). */
  log: string;
  /** False when the file ended inside a partial line (flush) and nothing ended it. */
  complete: boolean;
}

const RECORD = /^(\S+) (stdout|stderr) ([A-Z]+(?::[^\s:]+)*)(?: (.*))?$/s;

export class CriLogDecoder {
  private rest = '';
  private readonly partial = new Map<string, { time: string; ms: number; parts: string[] }>();
  /** Lines not in the CRI format, skipped. */
  malformed = 0;
  private readonly utf8 = new TextDecoder('utf-8');

  /** Decodes a chunk; returns the entries it completes, in file order. */
  push(chunk: Buffer | string): LogEntry[] {
    const text = this.rest + (typeof chunk === 'string' ? chunk : this.utf8.decode(chunk, { stream: true }));
    const lines = text.split('\n');
    this.rest = lines.pop() ?? '';
    const out: LogEntry[] = [];
    for (const line of lines) this.line(line, out);
    return out;
  }

  /** The end of the input: a last line without a newline, and partial lines nothing ended. */
  flush(): LogEntry[] {
    const out: LogEntry[] = [];
    const tail = this.rest + this.utf8.decode();
    this.rest = '';
    if (tail) this.line(tail, out);
    for (const [stream, p] of this.partial) out.push({ time: p.time, ms: p.ms, stream: stream as LogEntry['stream'], log: p.parts.join(''), complete: false });
    this.partial.clear();
    return out;
  }

  private line(line: string, out: LogEntry[]): void {
    if (line === '') return;
    const m = RECORD.exec(line);
    const ms = m ? Date.parse(m[1]!) : NaN;
    if (!m || Number.isNaN(ms)) {
      this.malformed++;
      return;
    }
    const [, time, stream, tags] = m as unknown as [string, string, 'stdout' | 'stderr', string];
    const content = m[4] ?? '';
    const p = this.partial.get(stream);
    if (tags.split(':')[0] === 'P') {
      if (p) p.parts.push(content);
      else this.partial.set(stream, { time, ms, parts: [content] });
      return;
    }
    if (p) {
      this.partial.delete(stream);
      out.push({ time: p.time, ms: p.ms, stream, log: p.parts.join('') + content, complete: true });
    } else out.push({ time, ms, stream, log: content, complete: true });
  }
}

/** --since: a duration before now (90s, 10m, 2h, 1h30m) or an RFC 3339 time → ms since the epoch. */
export function parseSince(v: string, now: number): number {
  const d = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(v);
  if (d && v !== '') return now - ((Number(d[1] ?? 0) * 60 + Number(d[2] ?? 0)) * 60 + Number(d[3] ?? 0)) * 1000;
  const t = /^\d{4}-\d\d-\d\dT/.test(v) ? Date.parse(v) : NaN;
  if (Number.isNaN(t)) throw new Error(`--since takes a duration (30s, 10m, 2h, 1h30m) or an RFC 3339 time, not "${v}"`);
  return t;
}
