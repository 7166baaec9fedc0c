// The client side of berthd's admin socket (<state>/admin.sock): JSON over HTTP, every
// request and answer carrying the admin protocol's version (server/admin-protocol.ts).
import { request } from 'node:http';
import { join } from 'node:path';
import { ADMIN_PROTOCOL, ADMIN_PROTOCOL_HEADER, BERTH_VERSION_HEADER, adminProtocolMismatch } from '../server/admin-protocol.js';
import { BERTH_VERSION } from '../server/status/version.js';

/** berthd answered with an error: its HTTP status (404 = not found) and message. */
export class AdminError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/** Nothing listens on the admin socket: berthd is not running (or not on this --state). */
export class BerthdDown extends Error {}

export function admin(state: string, method: string, path: string, body?: object): Promise<unknown> {
  return new Promise((resolvePromise, reject) => {
    const headers = { 'content-type': 'application/json', [ADMIN_PROTOCOL_HEADER]: String(ADMIN_PROTOCOL), [BERTH_VERSION_HEADER]: BERTH_VERSION };
    const req = request({ socketPath: join(state, 'admin.sock'), method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let out: unknown = text;
        try {
          out = JSON.parse(text);
        } catch {
          /* not JSON */
        }
        const theirs = res.headers[ADMIN_PROTOCOL_HEADER];
        if (theirs !== String(ADMIN_PROTOCOL)) {
          const version = res.headers[BERTH_VERSION_HEADER];
          reject(new Error(adminProtocolMismatch({ protocol: String(ADMIN_PROTOCOL), version: BERTH_VERSION }, { protocol: typeof theirs === 'string' ? theirs : '', version: typeof version === 'string' ? version : '' })));
        } else if ((res.statusCode ?? 500) >= 400) reject(new AdminError((out as { error?: string }).error ?? text, res.statusCode ?? 500));
        else resolvePromise(out);
      });
    });
    req.on('error', (e: NodeJS.ErrnoException) =>
      reject(e.code === 'ENOENT' || e.code === 'ECONNREFUSED' ? new BerthdDown(`berthd is not running (no admin socket in ${state})`) : e),
    );
    req.end(body ? JSON.stringify(body) : undefined);
  });
}
