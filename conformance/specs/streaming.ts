// Streaming: Exec, Attach and PortForward return a URL on the runtime's streaming
// server. These specs speak both transports kubelet-era clients use on it:
//  - WebSocket with the channel protocol (v4.channel.k8s.io), as the API server does for
//    newer kubectl;
//  - SPDY/3.1 (an HTTP upgrade, then one SPDY stream per stdio stream, told apart by their
//    `streamType` header), as kubectl, kubelet's proxy and critest have long done: exec and
//    attach with the remotecommand protocol v4.channel.k8s.io (the error stream carries a
//    metav1.Status as JSON, with the exit code), port-forward with portforward.k8s.io (a
//    pair of streams per connection: error, then data, both naming the port and a
//    requestID).
import { AssertionFailed, expect, type Spec, type SpecContext } from '../spec.js';
import { connectChannels, type ChannelConn } from '../websocket.js';
import { RstStatus, type SpdyError } from '../../wire/spdy/codec.js';
import type { SpdyConnection, SpdyStream } from '../../wire/spdy/connection.js';
import { dialSpdy } from '../../wire/spdy/dial.js';

const BASE = ['RunPodSandbox', 'StopPodSandbox', 'RemovePodSandbox', 'PullImage', 'ImageStatus', 'CreateContainer', 'StartContainer', 'RemoveContainer', 'ContainerStatus'] as const;
const PROTOCOLS = ['v4.channel.k8s.io'];
const STDIN = 0;
const STDOUT = 1;
const STDERR = 2;
const ERROR = 3;

async function open(t: SpecContext, url: string, query = ''): Promise<ChannelConn> {
  expect.match(url, /^https?:\/\//, 'the streaming URL');
  const conn = await connectChannels(url + query, PROTOCOLS);
  t.defer(async () => conn.close());
  expect.equal(conn.protocol, 'v4.channel.k8s.io', 'negotiated subprotocol');
  return conn;
}

/** The v4 error channel carries a metav1.Status as JSON once the command ends. */
function exitStatus(conn: ChannelConn): { status: string; code: number } {
  return parseStatus(conn.channel(ERROR).toString('utf8'));
}

function parseStatus(raw: string): { status: string; code: number } {
  let st: { status: string; reason?: string; details?: { causes?: Array<{ reason: string; message: string }> } };
  try {
    st = JSON.parse(raw) as typeof st;
  } catch {
    throw new AssertionFailed(`the error stream does not carry a metav1.Status: ${JSON.stringify(raw)}`);
  }
  const cause = st.details?.causes?.find((c) => c.reason === 'ExitCode');
  return { status: st.status, code: st.status === 'Success' ? 0 : Number(cause?.message ?? -1) };
}

// --- SPDY -------------------------------------------------------------------------------

/** What kubectl offers for exec/attach, newest first. */
const SPDY_EXEC_PROTOCOLS = ['v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io'];
const SPDY_PORTFORWARD_PROTOCOL = 'portforward.k8s.io';

/** A SPDY stream and everything received on it. */
interface Received {
  stream: SpdyStream;
  data(): Buffer;
  text(): string;
  /** Settles when the peer is done with the stream: its FIN, or its RST (k8s servers reset every stream they did not finish when they close); other errors are kept. */
  done: Promise<{ reset?: number; error?: Error }>;
  /** Resolves once pred holds for the text received (rejects after ms, or if the stream ends first). */
  until(pred: (text: string) => boolean, ms: number, what: string): Promise<void>;
}

function receive(stream: SpdyStream): Received {
  const chunks: Buffer[] = [];
  const waiters = new Set<() => void>();
  let finished = false;
  stream.on('data', (c: Buffer) => {
    chunks.push(c);
    for (const w of [...waiters]) w();
  });
  const done = new Promise<{ reset?: number; error?: Error }>((resolve) => {
    let error: Error | undefined;
    const settle = (v: { reset?: number; error?: Error }) => {
      finished = true;
      for (const w of [...waiters]) w();
      resolve(v);
    };
    stream.on('error', (e: SpdyError) => (error = e));
    // The peer's FIN (our side may stay open), or the stream destroyed (RST, connection gone).
    stream.on('end', () => settle({}));
    stream.on('close', () => {
      const reset = error && (error as SpdyError).code === 'ERR_SPDY_STREAM_RESET' ? (error as SpdyError).status : undefined;
      settle(reset !== undefined ? { reset } : error ? { error } : {});
    });
  });
  const r: Received = {
    stream,
    data: () => Buffer.concat(chunks),
    text: () => Buffer.concat(chunks).toString('utf8'),
    done,
    until(pred, ms, what) {
      return new Promise<void>((resolve, reject) => {
        const check = () => {
          if (pred(r.text())) finish();
          else if (finished) finish(new AssertionFailed(`${what}: the stream ended first; received ${JSON.stringify(r.text().slice(-300))}`));
        };
        const timer = setTimeout(() => finish(new AssertionFailed(`${what}: not within ${ms} ms; received ${JSON.stringify(r.text().slice(-300))}`)), ms);
        const finish = (err?: Error) => {
          clearTimeout(timer);
          waiters.delete(check);
          if (err) reject(err);
          else resolve();
        };
        waiters.add(check);
        check();
      });
    },
  };
  return r;
}

/** Dials the streaming URL over SPDY; the connection is torn down after the spec. */
async function dialStreaming(t: SpecContext, url: string, protocols: string[], want: string): Promise<SpdyConnection> {
  expect.match(url, /^https?:\/\//, 'the streaming URL');
  const { conn, protocol } = await dialSpdy(url, protocols, { timeoutMs: 15_000, rejectUnauthorized: false });
  conn.on('error', () => undefined);
  t.defer(async () => conn.destroy());
  expect.equal(protocol, want, 'negotiated X-Stream-Protocol-Version');
  return conn;
}

/**
 * Exec/attach over SPDY as client-go's remotecommand does: one stream per type, opened in
 * order, each used only once the server's SYN_REPLY came.
 */
async function spdyStdio<T extends string>(t: SpecContext, url: string, types: readonly T[]): Promise<Record<T, Received>> {
  const conn = await dialStreaming(t, url, SPDY_EXEC_PROTOCOLS, 'v4.channel.k8s.io');
  const out = {} as Record<T, Received>;
  for (const type of types) out[type] = receive(await conn.openStream({ streamType: type }, { timeoutMs: 15_000 }));
  return out;
}

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new AssertionFailed(`${what} (not within ${ms} ms)`)), ms))),
  ]);
}

/** The status on a v4 error stream, once the server is done with it. */
async function spdyExitStatus(err: Received): Promise<{ status: string; code: number }> {
  const end = await within(err.done, 15_000, 'the error stream ends after the command');
  if (end.error) throw new AssertionFailed(`the error stream failed: ${end.error.message}`);
  return parseStatus(err.text());
}

export const streamingSpecs: Spec[] = [
  {
    id: 'streaming/exec',
    area: 'streaming',
    title: 'Exec over WebSocket: stdout and stderr on their channels, the exit code on the error channel',
    needs: [...BASE, 'Exec'],
    async run(t) {
      const pod = await t.runPod(t.podConfig(t.name('wsexec')));
      const c = await t.startContainer(pod, t.containerConfig('main'));
      const { url } = await t.call('Exec', { container_id: c.id, cmd: ['sh', '-c', 'echo to-stdout; echo to-stderr >&2; exit 3'], stdout: true, stderr: true });
      const conn = await open(t, url);
      await conn.until((m) => m.some((x) => x.channel === ERROR && x.data.length > 0), 15_000);
      await conn.closed;
      expect.equal(conn.channel(STDOUT).toString(), 'to-stdout\n', 'stdout');
      expect.equal(conn.channel(STDERR).toString(), 'to-stderr\n', 'stderr');
      const st = exitStatus(conn);
      expect.equal(st.status, 'Failure', 'status');
      expect.equal(st.code, 3, 'exit code');
    },
  },
  {
    id: 'streaming/exec-stdin',
    area: 'streaming',
    title: 'Exec over WebSocket with stdin: what is sent reaches the command; success is reported',
    needs: [...BASE, 'Exec'],
    async run(t) {
      const pod = await t.runPod(t.podConfig(t.name('wsstdin')));
      const c = await t.startContainer(pod, t.containerConfig('main'));
      const { url } = await t.call('Exec', { container_id: c.id, cmd: ['sh', '-c', 'read line; echo "got $line"'], stdin: true, stdout: true, stderr: true });
      const conn = await open(t, url);
      conn.send(STDIN, 'hello\n');
      await conn.until((m) => m.some((x) => x.channel === ERROR && x.data.length > 0), 15_000);
      expect.equal(conn.channel(STDOUT).toString(), 'got hello\n', 'stdout');
      expect.equal(exitStatus(conn).status, 'Success', 'status');
    },
  },
  {
    id: 'streaming/attach',
    area: 'streaming',
    title: "Attach over WebSocket: stdin reaches the container's process, its stdout comes back",
    needs: [...BASE, 'Attach'],
    async run(t) {
      const pod = await t.runPod(t.podConfig(t.name('wsattach')));
      const c = await t.startContainer(pod, t.containerConfig('main', { stdin: true, command: ['sh', '-c', 'while read line; do echo "echo: $line"; done'] }));
      const { url } = await t.call('Attach', { container_id: c.id, stdin: true, stdout: true, stderr: true });
      const conn = await open(t, url);
      // The attach may take a moment to be wired to the process; resend until echoed.
      await t.eventually(async () => {
        conn.send(STDIN, 'ping\n');
        await conn.until((m) => m.some((x) => x.channel === STDOUT && x.data.toString().includes('echo: ping')), 1000);
        return true;
      }, 'the attached process echoes a line sent on stdin');
    },
  },
  {
    id: 'streaming/port-forward',
    area: 'streaming',
    title: "PortForward over WebSocket reaches a port in the pod's network namespace",
    needs: [...BASE, 'PortForward'],
    async run(t) {
      const pod = await t.runPod(t.podConfig(t.name('wspf')));
      const c = await t.startContainer(pod, t.containerConfig('web', { command: ['httpd', '-f', '-p', '127.0.0.1:8080', '-h', '/var/www'] }));
      await t.waitContainer(c.id, 'CONTAINER_RUNNING');
      const body = await t.eventually(async () => {
        // A new URL per attempt: streaming URLs are single-use (containerd answers a used one
        // with 404), and an attempt can come before httpd listens.
        const { url } = await t.call('PortForward', { pod_sandbox_id: pod.id, port: [8080] });
        const conn = await open(t, url, `${url.includes('?') ? '&' : '?'}port=8080`);
        // Data channel 0, error channel 1; each starts with the port (uint16, little endian).
        conn.send(0, 'GET / HTTP/1.0\r\n\r\n');
        await conn.until((m) => Buffer.concat(m.filter((x) => x.channel === 0).map((x) => x.data)).toString('latin1').includes('conformance-httpd'), 3000);
        const data = conn.channel(0);
        expect.equal(data.readUInt16LE(0), 8080, 'port prefix on the data channel');
        return data.subarray(2).toString('latin1');
      }, 'an HTTP request through the port forward is answered', 15_000);
      expect.match(body, /^HTTP\/1\.[01] 200/, 'HTTP status line through the forward');
    },
  },
  {
    id: 'streaming/spdy-exec',
    area: 'streaming',
    title: 'Exec over SPDY: stdout and stderr on their streams, the exit code in the status on the error stream',
    needs: [...BASE, 'Exec'],
    async run(t) {
      const pod = await t.runPod(t.podConfig(t.name('spdyexec')));
      const c = await t.startContainer(pod, t.containerConfig('main'));
      const { url } = await t.call('Exec', { container_id: c.id, cmd: ['sh', '-c', 'echo to-stdout; echo to-stderr >&2; exit 3'], stdout: true, stderr: true });
      const s = await spdyStdio(t, url, ['error', 'stdout', 'stderr']);
      const st = await spdyExitStatus(s.error);
      await within(Promise.all([s.stdout.done, s.stderr.done]), 10_000, 'stdout and stderr end');
      expect.equal(s.stdout.text(), 'to-stdout\n', 'stdout');
      expect.equal(s.stderr.text(), 'to-stderr\n', 'stderr');
      expect.equal(st.status, 'Failure', 'status');
      expect.equal(st.code, 3, 'exit code');
    },
  },
  {
    id: 'streaming/spdy-exec-tty',
    area: 'streaming',
    title: 'Exec over SPDY with a tty: resize events reach the terminal, typed lines reach the command, success is reported',
    needs: [...BASE, 'Exec'],
    async run(t) {
      const pod = await t.runPod(t.podConfig(t.name('spdytty')));
      const c = await t.startContainer(pod, t.containerConfig('main'));
      const script = 'while read line; do [ "$line" = done ] && exit 0; echo "size $(stty size) got $line"; done';
      const { url } = await t.call('Exec', { container_id: c.id, cmd: ['sh', '-c', script], tty: true, stdin: true, stdout: true });
      // No stderr stream with a tty: the terminal carries both.
      const s = await spdyStdio(t, url, ['error', 'stdin', 'stdout', 'resize']);
      s.resize.stream.write(JSON.stringify({ Width: 123, Height: 45 }));
      // The resize travels apart from stdin; type until a line shows the new size.
      let n = 0;
      await t.eventually(async () => {
        const line = `line${n++}`;
        s.stdin.stream.write(`${line}\n`);
        await s.stdout.until((out) => out.includes(`got ${line}`), 2000, `the command answers ${line}`);
        expect.contains(s.stdout.text(), `size 45 123 got ${line}`, 'stty size after the resize, and the typed line');
        return true;
      }, 'a typed line comes back with the resized terminal size', 15_000);
      s.stdin.stream.write('done\n');
      const st = await spdyExitStatus(s.error);
      expect.equal(st.status, 'Success', 'status');
      expect.equal(st.code, 0, 'exit code');
    },
  },
  {
    id: 'streaming/spdy-attach',
    area: 'streaming',
    title: "Attach over SPDY: stdin reaches the container's process, its stdout comes back",
    needs: [...BASE, 'Attach'],
    async run(t) {
      const pod = await t.runPod(t.podConfig(t.name('spdyattach')));
      const c = await t.startContainer(pod, t.containerConfig('main', { stdin: true, command: ['sh', '-c', 'while read line; do echo "echo: $line"; done'] }));
      const { url } = await t.call('Attach', { container_id: c.id, stdin: true, stdout: true, stderr: true });
      const s = await spdyStdio(t, url, ['error', 'stdin', 'stdout', 'stderr']);
      // The attach may take a moment to be wired to the process; resend until echoed.
      let n = 0;
      await t.eventually(async () => {
        const word = `ping${n++}`;
        s.stdin.stream.write(`${word}\n`);
        await s.stdout.until((out) => out.includes(`echo: ${word}`), 1000, `the process echoes ${word}`);
        return true;
      }, 'the attached process echoes a line sent on stdin');
    },
  },
  {
    id: 'streaming/spdy-port-forward',
    area: 'streaming',
    title: "PortForward over SPDY (an error and a data stream per connection) reaches a port in the pod's network namespace",
    needs: [...BASE, 'PortForward'],
    async run(t) {
      const pod = await t.runPod(t.podConfig(t.name('spdypf')));
      const c = await t.startContainer(pod, t.containerConfig('web', { command: ['httpd', '-f', '-p', '127.0.0.1:8080', '-h', '/var/www'] }));
      await t.waitContainer(c.id, 'CONTAINER_RUNNING');
      const { url } = await t.call('PortForward', { pod_sandbox_id: pod.id, port: [8080] });
      const conn = await dialStreaming(t, url, [SPDY_PORTFORWARD_PROTOCOL], SPDY_PORTFORWARD_PROTOCOL);
      // One connection, a new requestID per attempt (kubectl: one per accepted local connection).
      let requestID = 0;
      const body = await t.eventually(async () => {
        const headers = { port: '8080', requestID: String(requestID++) };
        const errors = receive(await conn.openStream({ ...headers, streamType: 'error' }, { timeoutMs: 10_000 }));
        errors.stream.end(); // the client never writes on the error stream
        const data = receive(await conn.openStream({ ...headers, streamType: 'data' }, { timeoutMs: 10_000 }));
        data.stream.write('GET / HTTP/1.0\r\n\r\n');
        try {
          await data.until((text) => text.includes('conformance-httpd'), 3000, 'the response through the forward');
        } catch (e) {
          data.stream.reset(RstStatus.CANCEL);
          throw new AssertionFailed(`${(e as Error).message}${errors.text() ? `; error stream: ${errors.text()}` : ''}`);
        }
        // HTTP/1.0: httpd closes its connection, and the runtime then finishes the data stream.
        const end = await within(data.done, 5000, 'the data stream ends after the response');
        expect.ok(!end.error, `the data stream ends cleanly (${end.error?.message})`);
        return data.text();
      }, 'an HTTP request through the port forward is answered', 15_000);
      expect.match(body, /^HTTP\/1\.[01] 200/, 'HTTP status line through the forward');
    },
  },
];
