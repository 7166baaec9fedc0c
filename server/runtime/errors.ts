// The OCI runtime reports failures only as text on stderr (runc as logrus lines,
// `time=… level=error msg="…"` or JSON with --log-format json; crun as plain lines), and
// conmon hands the same words back from `runtime create`. This is the one place that text
// becomes a typed error (server/errors.ts): the kind says what the caller can do about it,
// the message keeps the runtime's own words. Pure; the patterns are the messages runc 1.1
// and crun 1.8 print (test/unit/runtime-errors.test.ts holds them as seen).
import { BerthError, type ErrorKind } from '../errors.js';

/** The runtime commands berth runs (create is conmon's, reported through the shim). */
export type RuntimeOp = 'create' | 'start' | 'exec' | 'kill' | 'delete' | 'state' | 'update';

/** A failed runtime command: its kind, the operation, and the runtime's words. */
export class OciRuntimeError extends BerthError {
  constructor(
    kind: ErrorKind,
    readonly op: RuntimeOp,
    /** What the runtime said, reduced to its error messages. */
    readonly runtimeMessage: string,
    message: string,
  ) {
    super(kind, message);
  }
}

/** Go's quoting inside a logrus text field (\" \\ \n \t), undone. */
function unquoteGo(s: string): string {
  return s.replace(/\\(["\\nt])/g, (_m, c: string) => (c === 'n' ? '\n' : c === 't' ? '\t' : c));
}

/**
 * The runtime's words in its stderr (pure): the messages of its error-level log lines
 * (runc's text or JSON format), else its non-empty lines as printed (crun, conmon).
 */
export function runtimeWords(stderr: string): string {
  const errors: string[] = [];
  const plain: string[] = [];
  for (const raw of stderr.split('\n')) {
    const line = raw.trim();
    if (!line) continue;
    const text = /^time="[^"]*" level=(\w+) msg="((?:[^"\\]|\\.)*)"/.exec(line);
    if (text) {
      if (text[1] === 'error' || text[1] === 'fatal') errors.push(unquoteGo(text[2]!));
      continue;
    }
    if (line.startsWith('{')) {
      try {
        const j = JSON.parse(line) as { level?: unknown; msg?: unknown };
        if (typeof j.msg === 'string') {
          if (j.level === 'error' || j.level === 'fatal') errors.push(j.msg);
          continue;
        }
      } catch {
        /* not a JSON log line: kept as text */
      }
    }
    plain.push(line);
  }
  return (errors.length ? errors : plain).join('; ');
}

// Patterns, most specific first. The command named in the request cannot be run: the
// caller's to fix (containerd and CRI-O report these as the request's fault too).
const COMMAND_NOT_RUNNABLE = /exec: "[^"]*": (?:executable file not found|stat [^:]*: no such file or directory|permission denied|is a directory|exec format error|not a directory)|executable file `[^`]*` not found|exec(?:ve)? `[^`]*`: (?:No such file or directory|Permission denied)/i;
/** The container is not known to the runtime (runc: "container does not exist"; crun: its state dir is missing). */
const NOT_FOUND = /container does not exist|container "[^"]*" does not exist|error opening file `[^`]*\/status`: No such file or directory|cannot open directory '[^']*': No such file or directory/i;
/** Known, but in the wrong state for the command. */
const WRONG_STATE = /container not running|container is not running|cannot exec in a (?:stopped|paused) container|cannot start (?:an already running container|a container that has stopped)|container .* is not running|process already finished|is (?:paused|stopped)|cgroups in hybrid mode not supported/i;
const ALREADY_EXISTS = /already exists/i;
const BAD_INPUT = /unknown signal|invalid signal|invalid character .* looking for|cannot unmarshal|: invalid argument\b/i;
const EXHAUSTED = /no space left on device|cannot allocate memory|too many open files|resource temporarily unavailable|pids? limit/i;
/**
 * The container's own limits are too small for the runtime to start it: runc's "unable to
 * set memory limit to N (current usage …)" (EBUSY on cgroup v1), its init OOM-killed, crun's
 * "the memory limit could be too low". On create the request asked for it; on update the
 * live container's usage refuses it (FailedPrecondition, below).
 */
const LIMIT_TOO_LOW = /unable to set memory limit to|memory limit (?:could be )?too low|OOM-killed|oom[- ]kill|setting cgroup config for procHooks process.*device or resource busy/i;
/** Values the kernel or runtime refuses: EINVAL/ERANGE in its words, unknown cpus or nodes. */
const BAD_VALUE = /numerical result out of range|invalid cpuset|cpuset\.(?:cpus|mems).*(?:invalid argument|numerical result)/i;

/** What kind of failure the runtime's words describe for `op` (pure). */
export function classifyRuntimeWords(op: RuntimeOp, words: string): ErrorKind {
  if ((op === 'create' || op === 'exec') && COMMAND_NOT_RUNNABLE.test(words)) return 'InvalidArgument';
  if (NOT_FOUND.test(words)) return 'NotFound';
  if (WRONG_STATE.test(words)) return 'FailedPrecondition';
  if (ALREADY_EXISTS.test(words)) return 'AlreadyExists';
  if (BAD_INPUT.test(words) || BAD_VALUE.test(words)) return 'InvalidArgument';
  if (LIMIT_TOO_LOW.test(words)) return op === 'update' ? 'FailedPrecondition' : 'InvalidArgument';
  if (EXHAUSTED.test(words)) return 'ResourceExhausted';
  // An update the live container refuses (a memory limit below its usage: EBUSY) is about its state.
  if (op === 'update') return 'FailedPrecondition';
  return 'Internal';
}

/**
 * A typed error for a failed runtime command (pure): `runtime` is the binary's name,
 * `stderr` what it printed (or conmon's report of it), `exit` how it ended.
 */
export function runtimeFailure(runtime: string, op: RuntimeOp, id: string, stderr: string, exit = ''): OciRuntimeError {
  const words = runtimeWords(stderr) || (exit ? `exited with ${exit} and said nothing` : 'failed and said nothing');
  const kind = classifyRuntimeWords(op, words);
  return new OciRuntimeError(kind, op, words, `${runtime} ${op} ${id}: ${words}`);
}
