// The streaming server against a real berthd, runc, conmon and CNI: Exec, Attach and
// PortForward URLs used over WebSocket and SPDY/3.1, with and without a terminal,
// resizes, stdin half-close, hang-ups that must kill the exec'd process, port-forward
// failures, single-use tokens and the RPCs' argument errors. Needs root.
import anyTest, { type TestFn, type ExecutionContext } from 'ava';
import { request } from 'node:http';
import { randomBytes } from 'node:crypto';
import { status as Status } from '@grpc/grpc-js';
import { podConfig, isRoot } from '../helpers/berthd.js';
import { startBerthdWithImages, stopBerthdWithImages, type BerthdTestContext } from '../helpers/berthd-images.js';
import { expectCode } from '../helpers/grpc-assert.js';
import { busyboxLayer } from '../helpers/image-builder.js';
import { connectChannels, type ChannelConn } from '../../conformance/websocket.js';
import type { SpdyConnection, SpdyStream } from '../../wire/spdy/connection.js';
import { dialSpdy } from '../../wire/spdy/dial.js';

type Ctx = BerthdTestContext;
const test = anyTest as TestFn<Ctx>;
const rootOnly = isRoot() ? test.serial : test.serial.skip;
if (!isRoot()) console.log('streaming integration tests skipped: they need root');

const STDIN = 0;
const STDOUT = 1;
const STDERR = 2;
const ERROR = 3;
const RESIZE = 4;

test.before(async (t) => {
  if (!isRoot()) return;
  const { b, reg, images } = await startBerthdWithImages({
    busybox: {
      layers: [busyboxLayer(), { entries: [{ path: 'www', type: 'dir' }, { path: 'www/index.html', content: 'hello through the forward\n' }] }],
      config: { Cmd: ['/bin/sh'] },
    },
  });
  Object.assign(t.context, { b, reg, image: images.busybox });
});
test.after.always(async (t) => {
  const b = t.context.b;
  if (b && b.proc.exitCode !== null) console.log(`berthd exited ${b.proc.exitCode}:\n${b.stderr().split('\n').filter((l) => !l.startsWith('{')).join('\n')}`);
  await stopBerthdWithImages(t.context);
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function runPod(t: ExecutionContext<Ctx>, name: string, extra: Record<string, unknown> = {}) {
  const b = t.context.b;
  const parent = `/berth-test-${randomBytes(4).toString('hex')}`;
  const config = podConfig(b, name, { linux: { cgroup_parent: parent }, ...extra });
  const { pod_sandbox_id } = await b.client.call('RunPodSandbox', { config });
  t.teardown(async () => {
    await b.client.call('StopPodSandbox', { pod_sandbox_id }).catch(() => undefined);
    await b.client.call('RemovePodSandbox', { pod_sandbox_id }).catch(() => undefined);
  });
  return { id: pod_sandbox_id as string, config };
}

async function startContainer(t: ExecutionContext<Ctx>, pod: { id: string; config: object }, name: string, command: string[], extra: Record<string, unknown> = {}): Promise<string> {
  const b = t.context.b;
  const config = { metadata: { name, attempt: 0 }, image: { image: t.context.image }, command, log_path: `${name}/0.log`, ...extra };
  const { container_id } = await b.client.call('CreateContainer', { pod_sandbox_id: pod.id, config, sandbox_config: pod.config });
  await b.client.call('StartContainer', { container_id });
  return container_id as string;
}

function exitStatus(conn: ChannelConn): { status: string; code: number; message?: string } {
  const st = JSON.parse(conn.channel(ERROR).toString('utf8')) as { status: string; message?: string; details?: { causes?: Array<{ reason: string; message: string }> } };
  const cause = st.details?.causes?.find((c) => c.reason === 'ExitCode');
  return { status: st.status, code: st.status === 'Success' ? 0 : Number(cause?.message ?? -1), message: st.message };
}

const hasStatus = (m: Array<{ channel: number; data: Buffer }>) => m.some((x) => x.channel === ERROR && x.data.length > 0);

function httpStatus(url: string, method = 'GET', headers: Record<string, string> = {}): Promise<{ code: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, (res) => {
      let body = '';
      res.on('data', (b: Buffer) => (body += b.toString()));
      res.on('end', () => resolve({ code: res.statusCode ?? 0, body }));
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve({ code: res.statusCode ?? 0, body: '' });
    });
    req.on('error', reject);
    req.end();
  });
}

/** Reads a SPDY stream to its end. */
function readAll(s: SpdyStream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    s.on('data', (b: Buffer) => parts.push(b));
    s.on('end', () => resolve(Buffer.concat(parts)));
    s.on('error', reject);
  });
}

async function spdyExec(url: string, types: string[]): Promise<{ conn: SpdyConnection; streams: Record<string, SpdyStream> }> {
  const { conn, protocol } = await dialSpdy(url, ['v4.channel.k8s.io', 'v3.channel.k8s.io']);
  if (protocol !== 'v4.channel.k8s.io') throw new Error(`negotiated ${protocol}`);
  const streams: Record<string, SpdyStream> = {};
  // Like the Go client: the error stream first, then the others.
  for (const type of types) {
    streams[type] = await conn.openStream({ streamType: type });
    streams[type]!.on('error', () => undefined); // a reset shows up as a missing end below
  }
  return { conn, streams };
}

// ---------------------------------------------------------------- argument errors and tokens

rootOnly('Exec, Attach and PortForward refuse bad requests with clear codes', async (t) => {
  const b = t.context.b;
  const pod = await runPod(t, 'stream-errors');
  const c = await startContainer(t, pod, 'main', ['sleep', '1000']);
  await expectCode(t, b.client.call('Exec', { container_id: '', cmd: ['true'], stdout: true }), Status.INVALID_ARGUMENT);
  await expectCode(t, b.client.call('Exec', { container_id: c, cmd: [], stdout: true }), Status.INVALID_ARGUMENT, /cmd/);
  await expectCode(t, b.client.call('Exec', { container_id: c, cmd: ['true'] }), Status.INVALID_ARGUMENT, /stdin, stdout or stderr/);
  await expectCode(t, b.client.call('Exec', { container_id: c, cmd: ['true'], tty: true, stdout: true, stderr: true }), Status.INVALID_ARGUMENT, /tty and stderr/);
  await expectCode(t, b.client.call('Exec', { container_id: 'f'.repeat(64), cmd: ['true'], stdout: true }), Status.NOT_FOUND);
  await expectCode(t, b.client.call('Attach', { container_id: c }), Status.INVALID_ARGUMENT);
  await expectCode(t, b.client.call('Attach', { container_id: 'f'.repeat(64), stdout: true }), Status.NOT_FOUND);
  await expectCode(t, b.client.call('PortForward', { pod_sandbox_id: '' }), Status.INVALID_ARGUMENT);
  await expectCode(t, b.client.call('PortForward', { pod_sandbox_id: pod.id, port: [70000] }), Status.INVALID_ARGUMENT);
  await expectCode(t, b.client.call('PortForward', { pod_sandbox_id: 'f'.repeat(64), port: [80] }), Status.NOT_FOUND);
  // A container that is not running cannot take an exec.
  const { container_id: created } = await b.client.call('CreateContainer', {
    pod_sandbox_id: pod.id,
    config: { metadata: { name: 'idle', attempt: 0 }, image: { image: t.context.image }, command: ['true'], log_path: 'idle/0.log' },
    sandbox_config: pod.config,
  });
  await expectCode(t, b.client.call('Exec', { container_id: created, cmd: ['true'], stdout: true }), Status.FAILED_PRECONDITION, /not running/);
  await b.client.call('StopPodSandbox', { pod_sandbox_id: pod.id });
  await expectCode(t, b.client.call('PortForward', { pod_sandbox_id: pod.id, port: [80] }), Status.FAILED_PRECONDITION, /not ready/);
});

rootOnly('a streaming URL works once; unknown tokens and plain requests are refused', async (t) => {
  const b = t.context.b;
  const pod = await runPod(t, 'stream-token');
  const c = await startContainer(t, pod, 'main', ['sleep', '1000']);
  const { url } = await b.client.call('Exec', { container_id: c, cmd: ['echo', 'once'], stdout: true });
  t.regex(url, /^http:\/\/127\.0\.0\.1:\d+\/exec\/[A-Za-z0-9_-]+$/);
  const conn = await connectChannels(url, ['v4.channel.k8s.io']);
  await conn.until(hasStatus, 15_000);
  t.is(conn.channel(STDOUT).toString(), 'once\n');
  conn.close();
  await t.throwsAsync(connectChannels(url, ['v4.channel.k8s.io']), { message: /HTTP 404/ });
  const base = url.replace(/\/exec\/.*/, '');
  t.is((await httpStatus(`${base}/exec/not-a-token`, 'POST', { connection: 'Upgrade', upgrade: 'SPDY/3.1' })).code, 404);
  t.is((await httpStatus(`${base}/nothing/here`)).code, 400);
  // A plain request (no upgrade) is refused and burns the token.
  const { url: url2 } = await b.client.call('Exec', { container_id: c, cmd: ['true'], stdout: true });
  t.is((await httpStatus(url2)).code, 400);
  await t.throwsAsync(connectChannels(url2, ['v4.channel.k8s.io']), { message: /HTTP 404/ });
  // An Exec URL is not an Attach URL.
  const { url: url3 } = await b.client.call('Exec', { container_id: c, cmd: ['true'], stdout: true });
  await t.throwsAsync(connectChannels(url3.replace('/exec/', '/attach/'), ['v4.channel.k8s.io']), { message: /HTTP 404/ });
});

// ---------------------------------------------------------------- WebSocket

rootOnly('exec over WebSocket with a tty: resize reaches the terminal, input echoes, exit code comes back', async (t) => {
  const b = t.context.b;
  const pod = await runPod(t, 'ws-tty');
  const c = await startContainer(t, pod, 'main', ['sleep', '1000']);
  const { url } = await b.client.call('Exec', { container_id: c, cmd: ['sh', '-c', 'read line; echo "line=$line"; stty size; [ -t 0 ] && echo is-a-tty; exit 7'], tty: true, stdin: true, stdout: true });
  const conn = await connectChannels(url, ['v4.channel.k8s.io']);
  conn.send(RESIZE, JSON.stringify({ Width: 123, Height: 45 }));
  await sleep(200);
  conn.send(STDIN, 'hello\r');
  await conn.until(hasStatus, 15_000);
  const out = conn.channel(STDOUT).toString();
  t.regex(out, /line=hello/);
  t.regex(out, /45 123/);
  t.regex(out, /is-a-tty/);
  t.is(conn.channel(STDERR).length, 0);
  const st = exitStatus(conn);
  t.is(st.code, 7);
  t.regex(st.message ?? '', /exit code 7/);
});

rootOnly('exec over WebSocket: hanging up kills the exec’d process; v5 close signal ends stdin', async (t) => {
  const b = t.context.b;
  const pod = await runPod(t, 'ws-hangup');
  const c = await startContainer(t, pod, 'main', ['sleep', '1000']);
  const marker = `sleep ${1000 + Math.floor(Math.random() * 1000)}`;
  const { url } = await b.client.call('Exec', { container_id: c, cmd: ['sh', '-c', `exec ${marker}`], stdout: true });
  const conn = await connectChannels(url, ['v4.channel.k8s.io']);
  const running = async () => (await b.client.call('ExecSync', { container_id: c, cmd: ['ps', '-o', 'args'], timeout: 10 })).stdout.toString().includes(marker);
  for (let i = 0; i < 50 && !(await running()); i++) await sleep(100);
  t.true(await running(), 'the exec’d process runs');
  conn.close();
  let gone = false;
  for (let i = 0; i < 50 && !gone; i++) {
    await sleep(100);
    gone = !(await running());
  }
  t.true(gone, 'the exec’d process was killed when the client hung up');

  // v5: channel 255 carries "close stream N"; closing stdin ends `cat`.
  const { url: url2 } = await b.client.call('Exec', { container_id: c, cmd: ['cat'], stdin: true, stdout: true });
  const c5 = await connectChannels(url2, ['v5.channel.k8s.io']);
  t.is(c5.protocol, 'v5.channel.k8s.io');
  c5.send(STDIN, 'abc');
  c5.send(255, Buffer.from([STDIN]));
  await c5.until(hasStatus, 15_000);
  t.is(c5.channel(STDOUT).toString(), 'abc');
  t.is(exitStatus(c5).status, 'Success');
});

rootOnly('attach over WebSocket to a tty container: resize and input reach it', async (t) => {
  const b = t.context.b;
  const pod = await runPod(t, 'ws-attach-tty');
  const c = await startContainer(t, pod, 'main', ['sh', '-c', 'while read line; do echo "got:$line"; stty size; done'], { stdin: true, tty: true });
  const { url } = await b.client.call('Attach', { container_id: c, stdin: true, stdout: true, tty: true });
  const conn = await connectChannels(url, ['v4.channel.k8s.io']);
  conn.send(RESIZE, JSON.stringify({ Width: 99, Height: 33 }));
  await sleep(300);
  conn.send(STDIN, 'x\r');
  await conn.until((m) => /33 99/.test(Buffer.concat(m.filter((x) => x.channel === STDOUT).map((x) => x.data)).toString()), 15_000);
  t.regex(conn.channel(STDOUT).toString(), /got:x/);
  conn.close();
});

rootOnly('port forward over WebSocket to a closed port reports the error on the error channel', async (t) => {
  const b = t.context.b;
  const pod = await runPod(t, 'ws-pf-closed');
  const { url } = await b.client.call('PortForward', { pod_sandbox_id: pod.id, port: [9] });
  const conn = await connectChannels(`${url}?port=9`, ['v4.channel.k8s.io']);
  await conn.until((m) => m.some((x) => x.channel === 1 && x.data.length > 2), 15_000);
  const err = conn.channel(1);
  t.is(err.readUInt16LE(0), 9);
  t.regex(err.subarray(2).toString(), /error forwarding port 9.*(ECONNREFUSED|refused)/);
  await conn.closed;
  const { url: url2 } = await b.client.call('PortForward', { pod_sandbox_id: pod.id, port: [9] });
  await t.throwsAsync(connectChannels(url2, ['v4.channel.k8s.io']), { message: /HTTP 400.*port/ });
});

// ---------------------------------------------------------------- SPDY

rootOnly('exec over SPDY: stdout, stderr, stdin half-close and the exit status', async (t) => {
  const b = t.context.b;
  const pod = await runPod(t, 'spdy-exec');
  const c = await startContainer(t, pod, 'main', ['sleep', '1000']);
  const { url } = await b.client.call('Exec', { container_id: c, cmd: ['sh', '-c', 'cat; echo to-stderr >&2; exit 3'], stdin: true, stdout: true, stderr: true });
  const { conn, streams } = await spdyExec(url, ['error', 'stdin', 'stdout', 'stderr']);
  const [out, err, status] = [readAll(streams.stdout!), readAll(streams.stderr!), readAll(streams.error!)];
  const big = randomBytes(256 * 1024).toString('hex'); // 512 KiB through cat and back
  streams.stdin!.end(big);
  t.is((await out).toString(), big);
  t.is((await err).toString(), 'to-stderr\n');
  const st = JSON.parse((await status).toString()) as { status: string; reason: string; details: { causes: Array<{ reason: string; message: string }> } };
  t.is(st.status, 'Failure');
  t.is(st.reason, 'NonZeroExitCode');
  t.deepEqual(st.details.causes, [{ reason: 'ExitCode', message: '3' }]);
  conn.destroy();
});

rootOnly('exec over SPDY with a tty and resize', async (t) => {
  const b = t.context.b;
  const pod = await runPod(t, 'spdy-tty');
  const c = await startContainer(t, pod, 'main', ['sleep', '1000']);
  const { url } = await b.client.call('Exec', { container_id: c, cmd: ['sh', '-c', 'read line; stty size; echo "line=$line"'], tty: true, stdin: true, stdout: true });
  const { conn, streams } = await spdyExec(url, ['error', 'stdin', 'stdout', 'resize']);
  const out = readAll(streams.stdout!);
  const status = readAll(streams.error!);
  streams.resize!.write(JSON.stringify({ Width: 150, Height: 40 }));
  await sleep(200);
  streams.stdin!.write('go\r');
  const text = (await out).toString();
  t.regex(text, /40 150/);
  t.regex(text, /line=go/);
  t.is(JSON.parse((await status).toString()).status, 'Success');
  conn.destroy();
});

rootOnly('attach over SPDY: stdin reaches the process, its output comes back', async (t) => {
  const b = t.context.b;
  const pod = await runPod(t, 'spdy-attach');
  const c = await startContainer(t, pod, 'main', ['sh', '-c', 'while read line; do echo "echo:$line"; echo "err:$line" >&2; done'], { stdin: true });
  const { url } = await b.client.call('Attach', { container_id: c, stdin: true, stdout: true, stderr: true });
  const { conn, streams } = await spdyExec(url, ['error', 'stdin', 'stdout', 'stderr']);
  let out = '';
  let err = '';
  streams.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  streams.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  for (let i = 0; i < 50 && !out.includes('echo:ping'); i++) {
    streams.stdin!.write('ping\n');
    await sleep(100);
  }
  t.regex(out, /echo:ping/);
  t.regex(err, /err:ping/);
  conn.destroy();
});

rootOnly('port forward over SPDY: an HTTP request through two connections, and a refused port', async (t) => {
  const b = t.context.b;
  const pod = await runPod(t, 'spdy-pf');
  await startContainer(t, pod, 'web', ['/bin/busybox', 'httpd', '-f', '-p', '127.0.0.1:8080', '-h', '/www']);
  const { url } = await b.client.call('PortForward', { pod_sandbox_id: pod.id, port: [8080] });
  const { conn, protocol } = await dialSpdy(url, ['portforward.k8s.io']);
  t.is(protocol, 'portforward.k8s.io');
  const get = async (requestID: number, port: number) => {
    const error = await conn.openStream({ streamType: 'error', port: String(port), requestID: String(requestID) });
    const data = await conn.openStream({ streamType: 'data', port: String(port), requestID: String(requestID) });
    const body = readAll(data);
    const errText = readAll(error);
    data.end('GET /index.html HTTP/1.0\r\n\r\n');
    return { body: (await body).toString(), error: (await errText).toString() };
  };
  let r = { body: '', error: '' };
  for (let i = 0; i < 30; i++) {
    r = await get(i, 8080);
    if (r.body.includes('200')) break;
    await sleep(200); // httpd may still be starting
  }
  t.regex(r.body, /^HTTP\/1\.[01] 200/);
  t.regex(r.body, /hello through the forward/);
  t.is(r.error, '');
  const again = await get(100, 8080);
  t.regex(again.body, /hello through the forward/);
  const refused = await get(101, 9);
  t.is(refused.body, '');
  t.regex(refused.error, /error forwarding port 9/);
  conn.destroy();
});

rootOnly('hang-ups and exits mid-session: berthd stays up, the session ends', async (t) => {
  const b = t.context.b;
  const pod = await runPod(t, 'stream-hangups');
  const c = await startContainer(t, pod, 'main', ['sh', '-c', 'while read line; do echo "$line"; done'], { stdin: true });
  // A SPDY exec whose client vanishes mid-command.
  const { url } = await b.client.call('Exec', { container_id: c, cmd: ['sleep', '4242'], stdin: true, stdout: true, stderr: true });
  const ex = await spdyExec(url, ['error', 'stdin', 'stdout', 'stderr']);
  ex.streams.stdin!.write('x');
  await sleep(300);
  ex.conn.destroy();
  const sleeping = async () => (await b.client.call('ExecSync', { container_id: c, cmd: ['ps', '-o', 'args'], timeout: 10 })).stdout.toString().includes('sleep 4242');
  let gone = false;
  for (let i = 0; i < 30 && !gone; i++) {
    await sleep(100);
    gone = !(await sleeping());
  }
  t.true(gone, 'the exec’d sleep was killed with its client');
  // An attach that is still open when the container ends: the session finishes with success.
  const { url: aurl } = await b.client.call('Attach', { container_id: c, stdin: true, stdout: true, stderr: true });
  const at = await spdyExec(aurl, ['error', 'stdin', 'stdout', 'stderr']);
  const status = readAll(at.streams.error!);
  for (let i = 0; i < 20; i++) {
    at.streams.stdin!.write('tick\n');
    await sleep(50);
  }
  await b.client.call('StopContainer', { container_id: c, timeout: 1 });
  t.is(JSON.parse((await status).toString()).status, 'Success');
  at.conn.destroy();
  // berthd is still serving.
  await sleep(300);
  t.is(b.proc.exitCode, null);
  t.is((await b.client.call('ListContainers', { filter: { pod_sandbox_id: pod.id } })).containers.length, 1);
});
