// Whether pods in burst and density carry a container: only when both runtimes can run
// one, so the two sides always answer the same requests.
import type { BenchContext, ScenarioRecorder } from '../scenario.js';

export function podMode(ctx: BenchContext, res: ScenarioRecorder): { image?: string; label: string } {
  const lacking = ctx.runtimes.filter((rt) => ctx.caps[rt.name].containers);
  if (lacking.length === 0) return { image: ctx.images.busybox, label: 'pod = sandbox + one container' };
  const why = lacking.map((rt) => `${rt.name}: ${ctx.caps[rt.name].containers}`).join(', ');
  res.result.notes.push(`sandbox-only: pods have no container on either runtime (${why})`);
  return { label: 'sandbox-only' };
}
