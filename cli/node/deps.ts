// The host programs berth drives, where berth looks for them (the node's berth config),
// and the Debian packages that provide them. Checked as files under the host root.
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { inRoot } from './paths.js';

export interface Requirement {
  /** What is missing, as the message names it. */
  what: string;
  /** The Debian package that provides it. */
  pkg: string;
  optional: boolean;
}

export interface EffectiveConfig {
  socket: string;
  root: string;
  state: string;
  default_runtime: string;
  runtimes: Record<string, { path: string; root: string }>;
  cni: { conf_dir: string; bin_dirs: string[] };
}

const CONMON = '/usr/bin/conmon';
const CATATONIT = '/usr/bin/catatonit';

function executable(hostRoot: string, p: string): boolean {
  try {
    accessSync(inRoot(hostRoot, p), constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** What berth needs on the node that is not there (optional ones flagged). */
export function missingRequirements(hostRoot: string, cfg: EffectiveConfig, cniPlugins: readonly string[]): Requirement[] {
  const out: Requirement[] = [];
  const pkgOf = (path: string, fallback: string) => (/\/runc$/.test(path) ? 'runc' : /\/crun$/.test(path) ? 'crun' : fallback);
  for (const [name, h] of Object.entries(cfg.runtimes)) {
    // With default_runtime "auto", runc is what berthd falls back to: it is the one required.
    const required = cfg.default_runtime === 'auto' ? 'runc' : cfg.default_runtime;
    if (!executable(hostRoot, h.path)) out.push({ what: `${h.path} (runtime handler "${name}")`, pkg: pkgOf(h.path, name), optional: name !== required });
  }
  if (!executable(hostRoot, CONMON)) out.push({ what: CONMON, pkg: 'conmon', optional: false });
  if (!executable(hostRoot, CATATONIT)) out.push({ what: CATATONIT, pkg: 'catatonit', optional: false });
  for (const plugin of cniPlugins) {
    if (!cfg.cni.bin_dirs.some((d) => executable(hostRoot, `${d}/${plugin}`))) {
      out.push({ what: `CNI plugin ${plugin} (in ${cfg.cni.bin_dirs.join(' or ')})`, pkg: 'containernetworking-plugins', optional: false });
    }
  }
  // The bridge plugin's ipMasq and portmap program iptables.
  if (!['/usr/sbin/iptables', '/sbin/iptables'].some((p) => executable(hostRoot, p))) out.push({ what: '/usr/sbin/iptables', pkg: 'iptables', optional: false });
  return out;
}

/** Debian or a derivative (Ubuntu) with apt: the installer may install what is missing. */
export function aptHost(hostRoot: string): boolean {
  const osr = inRoot(hostRoot, '/etc/os-release');
  if (!existsSync(osr) || !existsSync(inRoot(hostRoot, '/usr/bin/apt-get'))) return false;
  const text = readFileSync(osr, 'utf8');
  const id = /^ID=("?)([^"\n]*)\1$/m.exec(text)?.[2] ?? '';
  const like = /^ID_LIKE=("?)([^"\n]*)\1$/m.exec(text)?.[2] ?? '';
  return [id, ...like.split(/\s+/)].some((x) => x === 'debian' || x === 'ubuntu');
}

export function describeMissing(missing: readonly Requirement[]): string {
  const pkgs = [...new Set(missing.map((m) => m.pkg))];
  return `${missing.map((m) => m.what).join(', ')} (Debian/Ubuntu packages: ${pkgs.join(' ')})`;
}
