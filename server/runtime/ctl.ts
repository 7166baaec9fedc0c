// conmon's control fifo (<bundle>/ctl): one line per message, "<type> <arg1> <arg2>\n".
// Type 1 resizes the container's terminal (height, width); type 2 makes conmon reopen the
// container log (kubelet rotated it). conmon keeps the fifo open for reading while the
// container lives, so berthd opens it non-blocking: no reader means no monitor.
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { failedPrecondition } from '../errors.js';

/** The control message that resizes the container's terminal (pure). */
export function resizeMessage(width: number, height: number): string {
  return `1 ${height} ${width}\n`;
}

/** The control message that makes conmon reopen the container log (pure). */
export function reopenLogMessage(): string {
  return '2 0 0\n';
}

/** Writes one message to conmon's control fifo; FAILED_PRECONDITION when conmon does not listen. */
export async function writeCtl(ctlFifo: string, message: string): Promise<void> {
  let fh;
  try {
    fh = await open(ctlFifo, constants.O_WRONLY | constants.O_NONBLOCK);
  } catch (e) {
    throw failedPrecondition(`the container's monitor does not listen on its control pipe: ${(e as Error).message}`, e);
  }
  try {
    await fh.write(message);
  } finally {
    await fh.close();
  }
}
