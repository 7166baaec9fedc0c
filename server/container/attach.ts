// Streaming attach: the client joins the container's own stdio, which conmon holds.
// conmon serves it on its attach socket (<state>/sock/<id>/attach, SOCK_SEQPACKET):
// every packet it sends is one pipe's output behind a byte naming the pipe (2 stdout,
// 3 stderr; a tty's output all comes as stdout); what the client writes is the
// container's stdin, and shutting down our write side closes that stdin when the
// container was created with stdin_once. Terminal size changes go to conmon's control
// fifo (server/runtime/ctl.ts). Node cannot open SEQPACKET sockets, hence node-unix-socket.
import { constants as fsc } from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname } from 'node:path';
import { failedPrecondition } from '../errors.js';
import { containerFiles } from '../runtime/files.js';
import { resizeMessage, writeCtl } from '../runtime/ctl.js';
import { runningContainer } from './exec-stream.js';
import type { ContainerDeps } from './deps.js';
import type { CommandResult, CommandStreams, StreamOptions } from '../streaming/remotecommand.js';

const PIPE_STDOUT = 2;
const PIPE_STDERR = 3;
/** sun_path holds 108 bytes with its NUL; longer paths go through the directory's fd. */
const MAX_SOCKET_PATH = 107;

export async function attachStream(deps: ContainerDeps, containerId: string, opts: StreamOptions, streams: CommandStreams): Promise<CommandResult> {
  const rec = runningContainer(deps, containerId);
  const { SeqpacketSocket } = await import('node-unix-socket');
  const files = containerFiles(rec);
  const path = files.attachSocket;
  let dirFd: Awaited<ReturnType<typeof open>> | undefined;
  let target = path;
  const sock = new SeqpacketSocket();
  try {
    if (Buffer.byteLength(path) > MAX_SOCKET_PATH) {
      dirFd = await open(dirname(path), fsc.O_RDONLY | fsc.O_DIRECTORY);
      target = `/proc/self/fd/${dirFd.fd}/attach`;
    }
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      try {
        sock.connect(target, () => {
          sock.off('error', reject);
          resolve();
        });
      } catch (e) {
        reject(e as Error);
      }
    });
  } catch (e) {
    sock.destroy();
    await dirFd?.close();
    // The container is running (checked above): conmon not listening means its monitor is gone.
    throw failedPrecondition(`cannot attach to container ${rec.id}: conmon does not answer on ${path}: ${(e as Error).message}`, e);
  }
  await dirFd?.close();

  const onResize = ({ width, height }: { width: number; height: number }) => {
    if (width <= 0 || height <= 0) return;
    // A resize conmon cannot take (it is gone) is no reason to end the session.
    void writeCtl(files.ctl, resizeMessage(width, height)).catch(() => undefined);
  };
  if (opts.tty) {
    streams.resize.on('resize', onResize);
    if (streams.resize.last) onResize(streams.resize.last);
  }

  // Errors after the connect end the session (below); a later one must not go unheard.
  sock.on('error', () => undefined);
  const wantsStdin = opts.stdin && rec.config.stdin && streams.stdin !== undefined;
  const onInput = (b: Buffer) => {
    try {
      sock.write(b);
    } catch {
      /* conmon closed the socket: the session is ending */
    }
  };
  const onInputEnd = () => {
    try {
      sock.end();
    } catch {
      /* already closed */
    }
  };
  if (wantsStdin) {
    streams.stdin!.on('data', onInput);
    streams.stdin!.once('end', onInputEnd);
  }
  try {
    await new Promise<void>((resolve) => {
      sock.on('data', (b: Buffer) => {
        if (b.length < 2) return;
        const out = b[0] === PIPE_STDERR && !opts.tty ? (opts.stderr ? streams.stderr : undefined) : b[0] === PIPE_STDOUT || opts.tty ? (opts.stdout ? streams.stdout : undefined) : undefined;
        out?.write(b.subarray(1));
      });
      sock.once('end', resolve);
      sock.once('close', resolve);
      sock.once('error', () => resolve());
      streams.signal.addEventListener('abort', () => resolve(), { once: true });
    });
  } finally {
    streams.resize.off('resize', onResize);
    streams.stdin?.off('data', onInput);
    streams.stdin?.off('end', onInputEnd);
    sock.destroy();
  }
  return { exitCode: 0 };
}
