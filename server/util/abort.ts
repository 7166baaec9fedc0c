// What an aborted wait rejects with: the signal's reason when it is one of berth's typed
// errors (a pull aborts with `canceled('pull of … was cancelled by the client')`), else a
// generic Canceled error, so callers always get a typed error.
import { BerthError, canceled } from '../errors.js';

export function abortReason(signal: AbortSignal): BerthError {
  return signal.reason instanceof BerthError ? signal.reason : canceled('the operation was cancelled');
}
