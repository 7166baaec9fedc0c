// The gRPC error a call must fail with, as an ava assertion.
import { status as Status } from '@grpc/grpc-js';
import type { ExecutionContext } from 'ava';

/** Asserts `p` rejects with `code` (and a message matching `re`); returns the message. */
export async function expectCode(t: ExecutionContext<unknown>, p: Promise<unknown>, code: Status, re?: RegExp): Promise<string> {
  try {
    await p;
    t.fail(`expected ${Status[code]}, got OK`);
    return '';
  } catch (e) {
    const err = e as { code: number; details: string };
    t.is(Status[err.code], Status[code], err.details);
    if (re) t.regex(err.details ?? '', re);
    return err.details;
  }
}
