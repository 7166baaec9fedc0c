// The one place where berth's error kinds become gRPC status codes.
import { status as Status, type ServiceError, Metadata } from '@grpc/grpc-js';
import { BerthError, systemErrorKind, type ErrorKind } from '../errors.js';

const CODES: Record<ErrorKind, Status> = {
  InvalidArgument: Status.INVALID_ARGUMENT,
  NotFound: Status.NOT_FOUND,
  AlreadyExists: Status.ALREADY_EXISTS,
  FailedPrecondition: Status.FAILED_PRECONDITION,
  Unavailable: Status.UNAVAILABLE,
  Unimplemented: Status.UNIMPLEMENTED,
  ResourceExhausted: Status.RESOURCE_EXHAUSTED,
  DeadlineExceeded: Status.DEADLINE_EXCEEDED,
  Canceled: Status.CANCELLED,
  PermissionDenied: Status.PERMISSION_DENIED,
  Internal: Status.INTERNAL,
};

/**
 * Longest error message sent. Messages show at most a short prefix of request text
 * (server/validate/text.ts); this is the backstop for anything else (a runtime's long report).
 */
export const MAX_DETAILS = 2048;

function capped(message: string): string {
  return message.length <= MAX_DETAILS ? message : `${message.slice(0, MAX_DETAILS - 40)}… (message cut at ${MAX_DETAILS} characters)`;
}

export function toServiceError(err: unknown): Partial<ServiceError> & { code: Status; details: string } {
  // An internal error whose cause is a full disk (the store's SQLITE_FULL, a write's ENOSPC) is the node's condition.
  if (err instanceof BerthError && err.kind === 'Internal' && systemErrorKind(err.cause) === 'ResourceExhausted') {
    return { code: Status.RESOURCE_EXHAUSTED, details: capped(err.message), metadata: new Metadata() };
  }
  if (err instanceof BerthError) return { code: CODES[err.kind], details: capped(err.message), metadata: new Metadata() };
  const message = err instanceof Error ? err.message : String(err);
  // A host resource that ran out is not a bug even where nobody typed the error.
  const kind = systemErrorKind(err);
  return { code: kind ? CODES[kind] : Status.UNKNOWN, details: capped(message), metadata: new Metadata() };
}

export function codeName(code: Status): string {
  return Status[code] ?? String(code);
}
