// berth logs ID: a container's CRI log decoded, partial lines joined, optionally followed
// across rotation (issue 13, item 3). The log file is read directly on the host; berthd (or
// the store, read-only) only says where it is and whether the container still runs.
import { open, stat, type FileHandle } from 'node:fs/promises';
import { CriLogDecoder, parseSince, type LogEntry } from './cri-log.js';
import { openNodeSource, type NodeSource } from './node-source.js';
import { announceMode, parseCommand, CliError, EXIT, SCHEMA_VERSION } from './output.js';
import { UsageError } from './args.js';

const SPEC = {
  usage: 'berth logs CONTAINER [-f] [--since DURATION|TIME] [--tail N] [--stream stdout|stderr] [--timestamps] [-o table|json]',
  description: `CONTAINER is a container id or unique prefix. Prints its log as the container wrote it:
stdout entries on stdout, stderr entries on stderr, lines split by the runtime (P records) joined.
  -f, --follow       keep printing new lines; follows the file when kubelet rotates it (renamed
                     and reopened) or truncates it; ends when the container has exited and the
                     log is read, or on Ctrl-C
  --since D|T        only entries from the last D (30s, 10m, 2h, 1h30m) or since RFC 3339 time T
  --tail N           only the last N lines (of the current file), then follow if -f
  --stream S         only stdout or only stderr
  --timestamps       prefix each line with its time as logged
-o json prints one JSON object per line on stdout: { schemaVersion, kind: "LogEntry", time,
stream, log, complete } (complete false: a partial line nothing ended yet).`,
  options: {
    follow: { type: 'boolean', short: 'f' },
    since: { type: 'string' },
    tail: { type: 'string' },
    stream: { type: 'string' },
    timestamps: { type: 'boolean', short: 't' },
  },
  positionals: 1,
} as const;

const POLL_MS = 200;

export async function logs(args: string[]): Promise<number> {
  const p = parseCommand(args, SPEC);
  if (!p) return EXIT.OK;
  const id = p.positionals[0];
  if (!id) throw new UsageError(`a container id is required\nusage: ${SPEC.usage}`);
  const stream = p.values.stream as string | undefined;
  if (stream && stream !== 'stdout' && stream !== 'stderr') throw new UsageError(`--stream must be stdout or stderr\nusage: ${SPEC.usage}`);
  const tailText = p.values.tail as string | undefined;
  const tail = tailText === undefined ? undefined : Number(tailText);
  if (tail !== undefined && !(Number.isInteger(tail) && tail >= 0)) throw new UsageError(`--tail takes a whole number ≥ 0\nusage: ${SPEC.usage}`);
  let sinceMs: number | undefined;
  try {
    sinceMs = p.values.since === undefined ? undefined : parseSince(p.values.since as string, Date.now());
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\nusage: ${SPEC.usage}`);
  }
  const src = await openNodeSource(p.config);
  try {
    announceMode(src.mode, p.config);
    const info = await src.logInfo(id);
    const path = info.logPath || info.monitorLogPath;
    const json = p.format === 'json';
    const emit = (e: LogEntry) => {
      if (stream && e.stream !== stream) return;
      if (sinceMs !== undefined && e.ms < sinceMs) return;
      if (json) process.stdout.write(JSON.stringify({ schemaVersion: SCHEMA_VERSION, kind: 'LogEntry', time: e.time, stream: e.stream, log: e.log, complete: e.complete }) + '\n');
      else (e.stream === 'stderr' ? process.stderr : process.stdout).write(`${p.values.timestamps ? e.time + ' ' : ''}${e.log}${e.complete ? '\n' : ''}`);
    };
    const follower = new LogFollower(path);
    try {
      await follower.openFirst(info.id);
      let first = await follower.readAvailable();
      // Without -f the file's end is the end: an unfinished last line counts for --tail.
      if (!p.values.follow) first.push(...follower.end());
      if (tail !== undefined) {
        // --tail counts the lines the filters keep.
        first = first.filter((e) => (!stream || e.stream === stream) && (sinceMs === undefined || e.ms >= sinceMs));
        first = tail === 0 ? [] : first.slice(-tail);
      }
      first.forEach(emit);
      if (p.values.follow) await follow(follower, src, info.id, emit);
    } finally {
      await follower.close();
    }
    return EXIT.OK;
  } finally {
    src.close();
  }
}

async function follow(f: LogFollower, src: NodeSource, id: string, emit: (e: LogEntry) => void): Promise<void> {
  let stopping = false;
  const onSignal = () => {
    stopping = true;
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let checked = 0;
  try {
    while (!stopping) {
      const got = await f.readAvailable();
      got.forEach(emit);
      if (got.length === 0) {
        // Every second, ask whether the container still runs; once it has exited, one more read ends it.
        if (Date.now() - checked > 1000) {
          checked = Date.now();
          const state = await src.logInfo(id).then(
            (i) => i.state,
            () => 'gone',
          );
          if (state !== 'CONTAINER_RUNNING' && state !== 'CONTAINER_CREATED') {
            (await f.readAvailable()).forEach(emit);
            break;
          }
        }
        await new Promise((r) => setTimeout(r, POLL_MS));
      }
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  f.end().forEach(emit);
}

/**
 * Reads a log file from where it was left, and notices rotation (the path now names another
 * file: the rest of the old one is read first, then the new one from its start) and truncation.
 */
export class LogFollower {
  private fh: FileHandle | undefined;
  private ino = 0;
  private pos = 0;
  private readonly decoder = new CriLogDecoder();

  constructor(readonly path: string) {}

  async openFirst(id: string): Promise<void> {
    if (!this.path) throw new CliError(`container ${id} has no log file`, EXIT.NOT_FOUND);
    try {
      this.fh = await open(this.path, 'r');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new CliError(`container ${id}'s log ${this.path} does not exist (removed, or not created yet)`, EXIT.NOT_FOUND);
      throw e;
    }
    this.ino = (await this.fh.stat()).ino;
  }

  private async drain(): Promise<LogEntry[]> {
    const out: LogEntry[] = [];
    if (!this.fh) return out;
    const buf = Buffer.alloc(1 << 16);
    for (;;) {
      const { bytesRead } = await this.fh.read(buf, 0, buf.length, this.pos);
      if (bytesRead === 0) break;
      this.pos += bytesRead;
      out.push(...this.decoder.push(buf.subarray(0, bytesRead)));
    }
    return out;
  }

  /** Everything written since the last call, across a rotation or truncation. */
  async readAvailable(): Promise<LogEntry[]> {
    const out = await this.drain();
    const now = await stat(this.path).catch(() => undefined);
    if (now && now.ino !== this.ino) {
      // Rotated: what the old file got after our read is already in `out` (drained above).
      const next = await open(this.path, 'r').catch(() => undefined);
      if (next) {
        await this.fh?.close();
        this.fh = next;
        this.ino = (await next.stat()).ino;
        this.pos = 0;
        out.push(...(await this.drain()));
      }
    } else if (now && now.size < this.pos) {
      this.pos = 0; // truncated in place
      out.push(...(await this.drain()));
    }
    return out;
  }

  /** Partial lines left at the end. */
  end(): LogEntry[] {
    return this.decoder.flush();
  }

  async close(): Promise<void> {
    await this.fh?.close();
    this.fh = undefined;
  }
}
