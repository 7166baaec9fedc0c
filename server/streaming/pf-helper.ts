// Port-forward helper: berthd runs it inside a pod's network namespace
// (`nsenter --net=<pinned netns> -- node pf-helper.js PORT`), since Node cannot switch
// namespaces itself. It connects to the port on the pod's loopback (IPv4, then IPv6)
// and relays the connection over its stdin/stdout, half-closes included. It reports
// "ok\n" on stderr once connected, or the error and exit status 1.
import { connect, Socket } from 'node:net';

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  process.stderr.write(`invalid port ${process.argv[2]}\n`);
  process.exit(2);
}

function dial(host: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port, allowHalfOpen: true });
    s.once('connect', () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

let sock: Socket;
try {
  sock = await dial('127.0.0.1');
} catch (e4) {
  try {
    sock = await dial('::1');
  } catch {
    process.stderr.write(`dial tcp 127.0.0.1:${port}: ${(e4 as Error).message}\n`);
    process.exit(1);
  }
}
process.stderr.write('ok\n');
// Our own handle on fd 1: ending it closes the pipe, so berthd sees the pod side finish
// (process.stdout cannot be closed).
const out = new Socket({ fd: 1, readable: false, writable: true });
process.stdin.pipe(sock);
sock.pipe(out);
sock.on('error', (e) => {
  process.stderr.write(`${e.message}\n`);
  process.exit(1);
});
sock.on('close', () => (out.writableFinished ? process.exit(0) : out.once('finish', () => process.exit(0))));
