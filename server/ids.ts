// Object ids: 64 lower-case hex characters, as containerd and CRI-O use, so tools that
// truncate them (crictl shows 13) keep working. Any unique prefix resolves to its id.
import { randomBytes } from 'node:crypto';
import { BerthError, invalidArgument, notFound } from './errors.js';
import { shown } from './validate/text.js';

export function newId(): string {
  return randomBytes(32).toString('hex');
}

export const ID_PATTERN = /^[0-9a-f]{64}$/;

/**
 * Resolves a full id or a unique prefix among `ids`. A prefix matching several ids is
 * INVALID_ARGUMENT; no match is NOT_FOUND with `what` in the message.
 */
export function resolveId(query: string, ids: Iterable<string>, what: string): string {
  if (!query) throw invalidArgument(`${what} id must not be empty`);
  let found: string | undefined;
  for (const id of ids) {
    if (id === query) return id;
    if (id.startsWith(query)) {
      if (found !== undefined) throw invalidArgument(`${what} id prefix ${shown(query)} is ambiguous`);
      found = id;
    }
  }
  if (found === undefined) throw notFound(`${what} ${shown(query)} not found`);
  return found;
}

/**
 * For idempotent removals: the id a full id or unique prefix names, or undefined when
 * nothing matches (already removed). Empty and ambiguous queries still throw.
 */
export function resolveIfPresent(resolve: (query: string) => string, query: string, what: string): string | undefined {
  if (!query) throw invalidArgument(`${what} id must not be empty`);
  try {
    return resolve(query);
  } catch (e) {
    if (e instanceof BerthError && e.kind === 'NotFound') return undefined;
    throw e;
  }
}
