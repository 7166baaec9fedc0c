// The platform this node runs images for, and choosing a manifest from an index.
import { arch } from 'node:process';
import { endianness } from 'node:os';
import { notFound } from '../errors.js';

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface PlatformDescriptor {
  digest: string;
  mediaType: string;
  size: number;
  platform?: { os?: string; architecture?: string; variant?: string; 'os.version'?: string };
  annotations?: Record<string, string>;
}

/** Node's process.arch in GOARCH terms (what image indexes use), with the ARM variant. */
export function hostPlatform(): Platform {
  const archMap: Record<string, string> = {
    x64: 'amd64',
    arm64: 'arm64',
    arm: 'arm',
    ia32: '386',
    ppc64: endianness() === 'LE' ? 'ppc64le' : 'ppc64',
    s390x: 's390x',
    riscv64: 'riscv64',
    loong64: 'loong64',
    mips: 'mips',
    mipsel: 'mipsle',
  };
  const architecture = archMap[arch] ?? arch;
  if (architecture === 'arm64') return { os: 'linux', architecture, variant: 'v8' };
  if (architecture === 'arm') {
    const v = (process.config.variables as unknown as Record<string, unknown>)['arm_version'];
    return { os: 'linux', architecture, variant: `v${typeof v === 'string' || typeof v === 'number' ? v : '7'}` };
  }
  return { os: 'linux', architecture };
}

export function formatPlatform(p: { os?: string; architecture?: string; variant?: string }): string {
  return [p.os ?? '?', p.architecture ?? '?', p.variant].filter((x) => x !== undefined && x !== '').join('/');
}

/** Variants the host can run, best first; '' stands for "no variant given". */
function acceptedVariants(want: Platform): string[] {
  if (want.architecture === 'arm64') return ['v8', ''];
  if (want.architecture === 'arm') {
    const n = Number((want.variant ?? 'v7').slice(1));
    const out: string[] = [];
    for (let v = n; v >= 5; v--) out.push(`v${v}`);
    out.push('');
    return out;
  }
  if (want.architecture === 'amd64') return want.variant ? [want.variant, 'v1', ''] : ['', 'v1'];
  return want.variant ? [want.variant, ''] : [''];
}

/** How well a descriptor's platform fits (lower is better), or -1 if it cannot run. */
export function platformRank(p: PlatformDescriptor['platform'], want: Platform): number {
  if (!p || p.os !== want.os || p.architecture !== want.architecture) return -1;
  return acceptedVariants(want).indexOf(p.variant ?? '');
}

/** The best manifest of an index for `want`; notFound lists what the index offers. */
export function selectManifest(manifests: readonly PlatformDescriptor[], want: Platform, what: string): PlatformDescriptor {
  let best: PlatformDescriptor | undefined;
  let bestRank = Infinity;
  for (const m of manifests) {
    const r = platformRank(m.platform, want);
    if (r >= 0 && r < bestRank) {
      best = m;
      bestRank = r;
    }
  }
  if (!best) {
    const offered = manifests.map((m) => (m.platform ? formatPlatform(m.platform) : 'no platform')).join(', ');
    throw notFound(`${what} has no manifest for platform ${formatPlatform(want)} (it offers: ${offered || 'nothing'})`);
  }
  return best;
}
