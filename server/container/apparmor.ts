// AppArmor on the host: whether it is usable, which profiles are loaded, and loading berth's
// RuntimeDefault profile (server/oci/apparmor.ts decides which profile a container gets).
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CommandError, SpawnError, run } from '../../hostutil/exec.js';
import { failedPrecondition } from '../errors.js';
import type { Logger } from '../logger.js';
import { DEFAULT_APPARMOR_PROFILE, defaultApparmorProfile, type AppArmorChoice } from '../oci/apparmor.js';
import { pathExists } from '../../hostutil/exists.js';

const SECURITYFS = '/sys/kernel/security/apparmor';

export interface AppArmorHost {
  /** The kernel has AppArmor on and apparmor_parser is installed (containerd's test). */
  enabled: boolean;
  /** Why not, for logs and `berth doctor`; empty when enabled. */
  reason: string;
  /** The apparmor_parser found, when enabled. */
  parser?: string;
}

const PARSERS = ['/sbin/apparmor_parser', '/usr/sbin/apparmor_parser'];

/** Read once at start-up (with the other host facts). */
export async function readAppArmorHost(): Promise<AppArmorHost> {
  const flag = await readFile('/sys/module/apparmor/parameters/enabled', 'utf8').catch(() => '');
  if (!flag.startsWith('Y')) return { enabled: false, reason: 'the kernel has AppArmor disabled or not built in' };
  if (!(await pathExists(SECURITYFS))) return { enabled: false, reason: `${SECURITYFS} is missing (securityfs not mounted)` };
  for (const p of PARSERS) if (await pathExists(p)) return { enabled: true, reason: '', parser: p };
  return { enabled: false, reason: 'the kernel has AppArmor on, but apparmor_parser is not installed (Debian/Ubuntu package apparmor)' };
}

/** Names of the profiles loaded in the kernel (first word of each line of `profiles`). */
export function parseLoadedProfiles(text: string): Set<string> {
  const out = new Set<string>();
  for (const line of text.split('\n')) {
    // "name (enforce)"; names may contain spaces only in exotic setups: the mode is last.
    const m = /^(.*) \((?:enforce|complain|kill|unconfined|prompt)\)$/.exec(line.trim());
    if (m) out.add(m[1]!);
  }
  return out;
}

async function loadedProfiles(): Promise<Set<string>> {
  return parseLoadedProfiles(await readFile(join(SECURITYFS, 'profiles'), 'utf8'));
}

/**
 * Makes sure the profile a choice names is in the kernel before the OCI runtime applies it:
 * berth's RuntimeDefault is written under `<state>/apparmor/` and loaded once per berthd
 * (replacing an older text); a Localhost profile must have been loaded by the operator.
 */
export class AppArmorProfiles {
  private loading: Promise<void> | undefined;

  constructor(
    readonly host: AppArmorHost,
    private readonly stateDir: string,
    private readonly log: Logger,
  ) {}

  /** The profile name to put into the spec's process.apparmorProfile, or undefined for none. */
  async prepare(choice: AppArmorChoice): Promise<string | undefined> {
    if (choice.kind === 'none') return undefined;
    if (!this.host.enabled || !this.host.parser) throw failedPrecondition(`AppArmor is not usable on this node: ${this.host.reason}`);
    if (choice.kind === 'runtime-default') {
      this.loading ??= this.loadDefault().catch((e: unknown) => {
        this.loading = undefined;
        throw e;
      });
      await this.loading;
      return DEFAULT_APPARMOR_PROFILE;
    }
    if (!(await loadedProfiles()).has(choice.name)) {
      throw failedPrecondition(`apparmor profile ${JSON.stringify(choice.name)} is not loaded on this node (load it with apparmor_parser before the pod starts)`);
    }
    return choice.name;
  }

  private async loadDefault(): Promise<void> {
    const dir = join(this.stateDir, 'apparmor');
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const file = join(dir, DEFAULT_APPARMOR_PROFILE);
    const withBase = (await pathExists('/etc/apparmor.d/tunables/global')) && (await pathExists('/etc/apparmor.d/abstractions/base'));
    await writeFile(file, defaultApparmorProfile(withBase), { mode: 0o644 });
    try {
      // -K: no cache file under /etc or /var/cache; -r: replace a profile of that name.
      await run(this.host.parser!, ['-Kr', file], { timeoutMs: 60_000 });
    } catch (e) {
      if (e instanceof CommandError || e instanceof SpawnError) throw failedPrecondition(`cannot load berth's AppArmor profile ${DEFAULT_APPARMOR_PROFILE}: ${e.message}`, e);
      throw e;
    }
    this.log.info('loaded the AppArmor profile for RuntimeDefault', { profile: DEFAULT_APPARMOR_PROFILE, file });
  }
}
