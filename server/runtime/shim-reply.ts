// berth-shim's answers, checked rather than cast: a line of its stdout is JSON that must
// match the protocol (shim/job.ts), its error kinds among the protocol's list. A line that
// names a job but breaks the protocol fails that job with INTERNAL, saying what was wrong
// (one in another protocol version, a shim of another release, with FAILED_PRECONDITION);
// a line that names no job is not an answer (a stray write). Pure.
import { SHIM_ERROR_KINDS, SHIM_PROTOCOL, type ShimErrorKind, type ShimResult } from '../../shim/job.js';

export type ParsedShimLine =
  | { kind: 'result'; seq: number; result: ShimResult }
  | { kind: 'invalid'; seq: number; problem: string }
  /** An answer in another job protocol: a shim of another berth release. */
  | { kind: 'mismatch'; seq: number; protocol: unknown }
  | { kind: 'stray' };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const KINDS: ReadonlySet<string> = new Set(SHIM_ERROR_KINDS);

/** Why `v` is not a ShimResult, or '' (pure). */
export function shimResultProblem(v: unknown): string {
  if (!isObject(v)) return 'the result is not an object';
  if (v.ok === true) {
    if (!Number.isSafeInteger(v.pid) || (v.pid as number) <= 0) return `pid ${JSON.stringify(v.pid)} is not a process id`;
    if (!Number.isSafeInteger(v.conmonPid) || (v.conmonPid as number) < 0) return `conmonPid ${JSON.stringify(v.conmonPid)} is not a process id`;
    if (v.timings !== undefined && (!isObject(v.timings) || Object.values(v.timings).some((t) => typeof t !== 'number'))) return 'timings is not a map of numbers';
    return '';
  }
  if (v.ok === false) {
    if (typeof v.kind !== 'string' || !KINDS.has(v.kind)) return `error kind ${JSON.stringify(v.kind)} is not one of ${SHIM_ERROR_KINDS.join(', ')}`;
    if (typeof v.message !== 'string') return 'the error has no message';
    if (v.runtimeError !== undefined && typeof v.runtimeError !== 'string') return 'runtimeError is not a string';
    return '';
  }
  return `ok is ${JSON.stringify(v.ok)}, not true or false`;
}

/** One line of the shim's stdout (pure). */
export function parseShimLine(line: string): ParsedShimLine {
  let msg: unknown;
  try {
    msg = JSON.parse(line);
  } catch {
    return { kind: 'stray' };
  }
  if (!isObject(msg) || !Number.isSafeInteger(msg.seq)) return { kind: 'stray' };
  const seq = msg.seq as number;
  if (msg.protocol !== SHIM_PROTOCOL) return { kind: 'mismatch', seq, protocol: msg.protocol };
  const problem = shimResultProblem(msg.result);
  if (problem) return { kind: 'invalid', seq, problem };
  const r = msg.result as ShimResult;
  // Rebuilt from the checked fields only: nothing else the shim sent travels on.
  const result: ShimResult = r.ok
    ? { ok: true, pid: r.pid, conmonPid: r.conmonPid, ...(r.timings ? { timings: r.timings } : {}) }
    : { ok: false, kind: r.kind as ShimErrorKind, message: r.message, ...(r.runtimeError !== undefined ? { runtimeError: r.runtimeError } : {}) };
  return { kind: 'result', seq, result };
}
