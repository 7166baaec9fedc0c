// Talking to systemd (PID 1) for the systemd cgroup driver, through its own command-line
// clients rather than a D-Bus library (no new dependency): `systemctl` to start, inspect and
// stop slices, and `busctl` for the one call systemctl has no verb for, StartTransientUnit
// with PIDs (moving an already running conmon into a scope of its own, as CRI-O's
// MoveConmonToCgroup does). The command runner is injected so the driver can be unit-tested
// without systemd; the real one runs argument vectors, never shell strings.
import { failedPrecondition, internal } from '../errors.js';
import { run } from '../exec.js';

export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export type CommandRunner = (file: string, args: readonly string[]) => Promise<CommandResult>;

export const realRunner: CommandRunner = (file, args) => run(file, args, { allowFailure: true, timeoutMs: 30_000 });

export interface SystemdClient {
  /** The unit is active (or activating/reloading): its cgroup exists. */
  isActive(unit: string): Promise<boolean>;
  /** Starts a slice and waits for the job; systemd loads slice units without a unit file. */
  startSlice(slice: string): Promise<void>;
  /** A transient scope holding already running processes, under `slice`. */
  startScope(scope: string, slice: string, pids: readonly number[], description: string): Promise<void>;
  /** A unit property's value ('' when systemd does not know the unit). */
  property(unit: string, name: string): Promise<string>;
  /** Stops a unit and waits; a unit that is not loaded is fine. */
  stop(unit: string): Promise<void>;
}

const why = (r: CommandResult) => (r.stderr.trim() || r.stdout.trim() || `exit code ${r.code}`).split('\n')[0];

export function systemdClient(runner: CommandRunner = realRunner, tools = { systemctl: 'systemctl', busctl: 'busctl' }): SystemdClient {
  return {
    async isActive(unit) {
      const r = await runner(tools.systemctl, ['is-active', '--quiet', unit]);
      return r.code === 0;
    },

    async startSlice(slice) {
      const r = await runner(tools.systemctl, ['start', slice]);
      if (r.code !== 0) throw failedPrecondition(`systemd could not start ${slice}: ${why(r)}`);
    },

    async startScope(scope, slice, pids, description) {
      // Manager.StartTransientUnit(name, mode, properties a(sv), aux a(sa(sv))); busctl takes
      // each property as name, signature, value (an array as its length, then its items).
      const props: string[][] = [
        ['Description', 's', description],
        ['Slice', 's', slice],
        ['PIDs', 'au', String(pids.length), ...pids.map(String)],
        // A scope whose processes failed must not linger as a failed unit.
        ['CollectMode', 's', 'inactive-or-failed'],
      ];
      const r = await runner(tools.busctl, [
        'call', 'org.freedesktop.systemd1', '/org/freedesktop/systemd1', 'org.freedesktop.systemd1.Manager',
        'StartTransientUnit', 'ssa(sv)a(sa(sv))', scope, 'fail', String(props.length), ...props.flat(), '0',
      ]);
      if (r.code !== 0) throw failedPrecondition(`systemd could not start ${scope}: ${why(r)}`);
    },

    async property(unit, name) {
      const r = await runner(tools.systemctl, ['show', '--property', name, '--value', unit]);
      return r.code === 0 ? r.stdout.trim() : '';
    },

    async stop(unit) {
      const r = await runner(tools.systemctl, ['stop', unit]);
      if (r.code === 0) return;
      if (/not loaded|not found|does not exist/i.test(r.stderr)) return;
      throw internal(`systemd could not stop ${unit}: ${why(r)}`);
    },
  };
}
