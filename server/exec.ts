// berthd runs host tools through hostutil/exec.ts; here a tool that cannot be started at
// all becomes berth's Internal error kind (the gRPC edge answers INTERNAL), as domain code
// expects. A non-zero exit stays a CommandError for the caller to classify.
import { run as runTool, SpawnError, type RunOptions, type RunResult } from '../hostutil/exec.js';
import { internal } from './errors.js';

export { CommandError, type RunOptions, type RunResult } from '../hostutil/exec.js';

export async function run(file: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  try {
    return await runTool(file, args, opts);
  } catch (e) {
    if (e instanceof SpawnError) throw internal(e.message, e.cause);
    throw e;
  }
}
