// sd_notify(3) for berthd: under systemd (`Type=notify`) berthd tells the service manager
// when it is ready (READY=1, sent only once the CRI socket serves), when it is stopping
// (STOPPING=1) and what it is doing (STATUS=…). The protocol is one datagram of
// newline-separated KEY=VALUE lines on the AF_UNIX SOCK_DGRAM socket named by
// $NOTIFY_SOCKET (a path, or an abstract name written with a leading '@'). Node has no
// unix datagram sockets; node-unix-socket (already a dependency, see attach.ts) has.
//
// NOTIFY_SOCKET is removed from berthd's environment as soon as it is read: runc honours
// NOTIFY_SOCKET too (it relays a container's own sd_notify), so a value inherited through
// berth-shim and conmon would make runc wait for a READY=1 from inside the container.

export type NotifyFields = Readonly<Record<string, string>>;

export interface Notifier {
  /** False when berthd was not started by a service manager that asked for notifications. */
  readonly enabled: boolean;
  /** Sends one datagram; resolves once the kernel took it. A no-op when not enabled. */
  notify(fields: NotifyFields): Promise<void>;
  close(): void;
}

/**
 * The socket address NOTIFY_SOCKET names, in the form node-unix-socket binds and sends to:
 * an absolute path as is, an abstract name ('@name') with its leading NUL. Anything else
 * (unset, empty, relative) means "no notifications", as in sd_notify(3).
 */
export function notifySocketAddress(value: string | undefined): string | undefined {
  if (!value) return undefined;
  if (value.startsWith('@') && value.length > 1) return '\0' + value.slice(1);
  if (value.startsWith('/')) return value;
  return undefined;
}

/** KEY=VALUE lines. Keys are upper-case words; a value cannot carry a newline (it would start a new field). */
export function formatNotify(fields: NotifyFields): Buffer {
  const lines: string[] = [];
  for (const [k, v] of Object.entries(fields)) {
    if (!/^[A-Z][A-Z0-9_]*$/.test(k)) throw new Error(`sd_notify: invalid field name ${JSON.stringify(k)}`);
    lines.push(`${k}=${v.replace(/[\r\n]+/g, ' ')}`);
  }
  if (lines.length === 0) throw new Error('sd_notify: nothing to send');
  return Buffer.from(lines.join('\n'), 'utf8');
}

const DISABLED: Notifier = { enabled: false, notify: () => Promise.resolve(), close: () => undefined };

/**
 * Reads (and removes) NOTIFY_SOCKET from `env` and returns a notifier for it. Sending is
 * best effort for the caller: a failure rejects, and berthd logs it and keeps serving.
 */
export async function createNotifier(env: NodeJS.ProcessEnv = process.env): Promise<Notifier> {
  const address = notifySocketAddress(env.NOTIFY_SOCKET);
  delete env.NOTIFY_SOCKET;
  if (!address) return DISABLED;
  const { DgramSocket } = await import('node-unix-socket');
  const sock = new DgramSocket();
  // Errors surface through the send callback; an 'error' event without a listener would throw.
  sock.on('error', () => undefined);
  let closed = false;
  return {
    enabled: true,
    notify(fields) {
      if (closed) return Promise.reject(new Error('sd_notify: notifier closed'));
      const buf = formatNotify(fields);
      return new Promise<void>((resolve, reject) => {
        try {
          sock.sendTo(buf, 0, buf.length, address, (err) => (err ? reject(new Error(`sd_notify: ${err.message}`)) : resolve()));
        } catch (e) {
          reject(new Error(`sd_notify: ${(e as Error).message}`));
        }
      });
    },
    close() {
      if (closed) return;
      closed = true;
      sock.close();
    },
  };
}
