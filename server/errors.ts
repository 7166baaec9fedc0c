// One error vocabulary for every domain module. Domain code throws these; only the
// gRPC edge (server/cri/status-codes.ts) knows about status codes.

export type ErrorKind =
  | 'InvalidArgument'
  | 'NotFound'
  | 'AlreadyExists'
  | 'FailedPrecondition'
  | 'Unavailable'
  | 'Unimplemented'
  | 'ResourceExhausted'
  | 'DeadlineExceeded'
  | 'Canceled'
  | 'PermissionDenied'
  | 'Internal';

export class BerthError extends Error {
  readonly kind: ErrorKind;
  constructor(kind: ErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.kind = kind;
    this.name = `${kind}Error`;
  }
}

export const invalidArgument = (msg: string, cause?: unknown) => new BerthError('InvalidArgument', msg, { cause });
export const notFound = (msg: string, cause?: unknown) => new BerthError('NotFound', msg, { cause });
export const alreadyExists = (msg: string, cause?: unknown) => new BerthError('AlreadyExists', msg, { cause });
export const failedPrecondition = (msg: string, cause?: unknown) => new BerthError('FailedPrecondition', msg, { cause });
export const unavailable = (msg: string, cause?: unknown) => new BerthError('Unavailable', msg, { cause });
export const unimplemented = (msg: string, cause?: unknown) => new BerthError('Unimplemented', msg, { cause });
export const resourceExhausted = (msg: string, cause?: unknown) => new BerthError('ResourceExhausted', msg, { cause });
export const deadlineExceeded = (msg: string, cause?: unknown) => new BerthError('DeadlineExceeded', msg, { cause });
export const canceled = (msg: string, cause?: unknown) => new BerthError('Canceled', msg, { cause });
/**
 * A failure berth did not expect. Only a bug is INTERNAL: when the cause is the host running
 * out of something (a full disk, no memory, no file descriptors) the error says so instead
 * (RESOURCE_EXHAUSTED, retried by kubelet), whatever the call site knew.
 */
export const internal = (msg: string, cause?: unknown) => new BerthError(systemErrorKind(cause) ?? 'Internal', msg, { cause });

/** errno codes that mean the host ran out of something, not that berth erred. */
// SQLITE_FULL: the store's write failed for want of disk space.
const EXHAUSTED_ERRNO = new Set(['ENOSPC', 'EDQUOT', 'ENOMEM', 'EMFILE', 'ENFILE', 'EAGAIN', 'E2BIG', 'SQLITE_FULL']);

/**
 * The kind a Node system error (or a chain of causes ending in one) stands for, when it is
 * not berth's own fault; undefined otherwise. The one errno → kind table.
 */
export function systemErrorKind(err: unknown): ErrorKind | undefined {
  for (let e: unknown = err, depth = 0; e !== null && typeof e === 'object' && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && EXHAUSTED_ERRNO.has(code)) return 'ResourceExhausted';
  }
  return undefined;
}

export function isKind(err: unknown, kind: ErrorKind): err is BerthError {
  return err instanceof BerthError && err.kind === kind;
}

/** The message of anything thrown, for logs and error details. */
export function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
