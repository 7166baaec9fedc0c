// The one place where berth's error kinds become gRPC status codes.
import { status as Status, type ServiceError, Metadata } from '@grpc/grpc-js';
import { BerthError, type ErrorKind } from '../errors.js';

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

export function toServiceError(err: unknown): Partial<ServiceError> & { code: Status; details: string } {
  if (err instanceof BerthError) return { code: CODES[err.kind], details: err.message, metadata: new Metadata() };
  const message = err instanceof Error ? err.message : String(err);
  return { code: Status.UNKNOWN, details: message, metadata: new Metadata() };
}

export function codeName(code: Status): string {
  return Status[code] ?? String(code);
}
