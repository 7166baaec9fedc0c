// berth doctor: checks the node (cli/doctor/checks.ts) and prints one line per check,
// PASS/WARN/FAIL/SKIP, with the remedy under each WARN and FAIL; `-o json` prints the
// report (kind "DoctorReport", schemaVersion 1). Exit status, as for every operator command
// (cli/output.ts): 0 no FAIL (warnings allowed), 5 at least one FAIL, 1 error, 2 usage.
import { resolve } from 'node:path';
import { parse, UsageError } from './args.js';
import { runDoctor, type DoctorReport } from './doctor/checks.js';

export const DOCTOR_USAGE = 'berth doctor [--config FILE] [--root DIR] [--state DIR] [--kubelet-config FILE] [--host-root DIR] [-o table|json]';

/** The human report (pure: the golden tests feed it fixed reports). */
export function formatDoctor(r: DoctorReport): string {
  const width = Math.max(...r.checks.map((c) => c.id.length), 8);
  const lines = [`berth doctor: ${r.mode === 'berthd' ? 'berthd is running' : 'berthd is NOT running (read-only: node checks only)'}; config ${r.config.file ?? '(embedded defaults)'}`];
  for (const c of r.checks) {
    lines.push(`${c.status.padEnd(4)}  ${c.id.padEnd(width)}  ${c.detail}`);
    if (c.remedy) lines.push(`${' '.repeat(6 + width)}  -> ${c.remedy}`);
  }
  const s = r.summary;
  lines.push(`${s.pass} passed, ${s.warn} warning${s.warn === 1 ? '' : 's'}, ${s.fail} failed, ${s.skip} skipped${s.fail ? ` (exit ${r.exitCode})` : ''}`);
  return lines.join('\n') + '\n';
}

export async function doctorCommand(args: string[]): Promise<number> {
  const { values } = parse(args, { config: { type: 'string' }, root: { type: 'string' }, state: { type: 'string' }, 'kubelet-config': { type: 'string' }, 'host-root': { type: 'string' }, output: { type: 'string', short: 'o', default: 'table' } }, DOCTOR_USAGE);
  if (values.output !== 'table' && values.output !== 'json') throw new UsageError(`-o must be table or json\nusage: ${DOCTOR_USAGE}`);
  const report = await runDoctor({
    ...(values.config ? { configFile: resolve(values.config) } : {}),
    ...(values.root ? { root: values.root } : {}),
    ...(values.state ? { state: values.state } : {}),
    ...(values['kubelet-config'] ? { kubeletConfig: resolve(values['kubelet-config']) } : {}),
    ...(values['host-root'] ? { hostRoot: values['host-root'] } : {}),
  });
  process.stdout.write(values.output === 'json' ? JSON.stringify(report, null, 2) + '\n' : formatDoctor(report));
  return report.exitCode;
}
