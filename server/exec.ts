// berthd runs host tools through hostutil/exec.ts, in berth's error vocabulary: a tool
// that fails is a CommandError of the Internal kind (INTERNAL at the gRPC edge) unless
// the caller classifies its output (as the runtime client and CNI do), and a tool that
// cannot be started at all is Internal too. Nothing a host tool does escapes as UNKNOWN.
import { run as runTool, SpawnError, CommandError as ToolFailed, type RunOptions, type RunResult } from '../hostutil/exec.js';
import { BerthError, internal } from './errors.js';

export type { RunOptions, RunResult };

/** A host tool that failed: its argv and exit/output, the message naming both. */
export class CommandError extends BerthError {
  constructor(
    readonly argv: readonly string[],
    readonly result: RunResult,
    message: string,
  ) {
    super('Internal', message);
    this.name = 'CommandError';
  }
}

export async function run(file: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  try {
    return await runTool(file, args, opts);
  } catch (e) {
    if (e instanceof ToolFailed) throw new CommandError(e.argv, e.result, e.message);
    if (e instanceof SpawnError) throw internal(e.message, e.cause);
    throw e;
  }
}
