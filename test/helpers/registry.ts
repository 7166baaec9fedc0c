// A real registry for tests: Debian's docker-registry (distribution 2.8) on 127.0.0.1
// and a free port, storage in a temp dir, optionally behind htpasswd basic auth.
// stop() kills only the process this helper started and removes its directory.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestRegistry {
  /** `127.0.0.1:PORT` — the domain part of image references. */
  host: string;
  /** `http://127.0.0.1:PORT` */
  url: string;
  dir: string;
  /** The registry's log so far (for failing tests). */
  log(): string;
  stop(): Promise<void>;
}

export interface RegistryOptions {
  /** Users for htpasswd (bcrypt) basic auth; none = open registry. */
  users?: Record<string, string>;
  binary?: string;
  /** How long to wait for it to listen; default 60 s (10 minutes in the emulated test guest). */
  startTimeoutMs?: number;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function htpasswdLine(user: string, password: string): string {
  const r = spawnSync('htpasswd', ['-nbB', user, password], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`htpasswd failed (package apache2-utils): ${r.stderr || r.error?.message}`);
  return r.stdout.trim();
}

export async function startRegistry(opts: RegistryOptions = {}): Promise<TestRegistry> {
  const dir = mkdtempSync(join(tmpdir(), 'berth-test-registry-'));
  let child: ChildProcess | undefined;
  try {
    const port = await freePort();
    const host = `127.0.0.1:${port}`;
    let auth = '';
    if (opts.users) {
      const lines = Object.entries(opts.users).map(([u, p]) => htpasswdLine(u, p));
      writeFileSync(join(dir, 'htpasswd'), `${lines.join('\n')}\n`);
      auth = `auth:\n  htpasswd:\n    realm: berth-test\n    path: ${join(dir, 'htpasswd')}\n`;
    }
    writeFileSync(
      join(dir, 'config.yml'),
      `version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: ${join(dir, 'data')}
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: ${host}
${auth}`,
    );
    const logFile = join(dir, 'registry.log');
    writeFileSync(logFile, '');
    // BERTH_TEST_RUN marks the process for the suite's leftover check (test/leftovers.ts).
    const c = spawn(opts.binary ?? '/usr/bin/docker-registry', ['serve', join(dir, 'config.yml')], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, BERTH_TEST_RUN: dir },
    });
    child = c;
    c.stderr!.on('data', (b: Buffer) => writeFileSync(logFile, b, { flag: 'a' }));
    let exited = false;
    c.on('exit', () => (exited = true));
    const url = `http://${host}`;
    // Under emulation on a loaded host docker-registry can take minutes to listen; a registry
    // that died is seen at once either way.
    const deadline = Date.now() + (opts.startTimeoutMs ?? (process.env.BERTH_GUEST === '1' ? 600_000 : 60_000));
    for (;;) {
      if (exited) throw new Error(`docker-registry exited at start: ${readFileSync(logFile, 'utf8')}`);
      try {
        const r = await fetch(`${url}/v2/`);
        if (r.status === 200 || r.status === 401) break;
      } catch {
        /* not listening yet */
      }
      if (Date.now() > deadline) throw new Error(`docker-registry did not come up: ${readFileSync(logFile, 'utf8')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return {
      host,
      url,
      dir,
      log: () => readFileSync(logFile, 'utf8'),
      stop: () => stopChild(c, dir),
    };
  } catch (e) {
    if (child) await stopChild(child, dir);
    else rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

async function stopChild(c: ChildProcess, dir: string): Promise<void> {
  if (c.exitCode === null && c.signalCode === null) {
    const gone = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill('SIGTERM');
    const t = setTimeout(() => c.kill('SIGKILL'), 5000);
    await gone;
    clearTimeout(t);
  }
  rmSync(dir, { recursive: true, force: true });
}
