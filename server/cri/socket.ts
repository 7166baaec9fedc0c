// The CRI socket: a stale socket left by a crashed berthd is replaced; a live one (a
// berthd still serving) is refused with a clear message instead of being stolen.
import { connect } from 'node:net';
import { lstat, mkdir, unlink, chmod } from 'node:fs/promises';
import { dirname } from 'node:path';
import { failedPrecondition } from '../errors.js';

function probe(path: string): Promise<'live' | 'stale'> {
  return new Promise((resolve) => {
    const s = connect(path);
    const done = (r: 'live' | 'stale') => {
      s.destroy();
      resolve(r);
    };
    s.once('connect', () => done('live'));
    s.once('error', () => done('stale'));
    s.setTimeout(2000, () => done('live'));
  });
}

export async function prepareSocketPath(path: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o711 });
  let st;
  try {
    st = await lstat(path);
  } catch {
    return;
  }
  if (!st.isSocket()) throw failedPrecondition(`${path} exists and is not a socket; refusing to replace it`);
  if ((await probe(path)) === 'live') {
    throw failedPrecondition(`another process is already serving on ${path} (is berthd running?); stop it first or pick another --socket`);
  }
  await unlink(path);
}

export async function restrictSocket(path: string): Promise<void> {
  await chmod(path, 0o660);
}
