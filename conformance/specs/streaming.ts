// Streaming: Exec, Attach and PortForward return a URL on the runtime's streaming
// server; these specs speak its WebSocket channel protocol (v4.channel.k8s.io), as the
// API server does for newer kubectl. (The older SPDY transport is not covered yet.)
import { expect, type Spec, type SpecContext } from '../spec.js';
import { connectChannels, type ChannelConn } from '../websocket.js';

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
  const raw = conn.channel(ERROR).toString('utf8');
  const st = JSON.parse(raw) as { status: string; reason?: string; details?: { causes?: Array<{ reason: string; message: string }> } };
  const cause = st.details?.causes?.find((c) => c.reason === 'ExitCode');
  return { status: st.status, code: st.status === 'Success' ? 0 : Number(cause?.message ?? -1) };
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
      const { url } = await t.call('PortForward', { pod_sandbox_id: pod.id, port: [8080] });
      const body = await t.eventually(async () => {
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
];
