// The container rootfs: an overlay of the image's unpacked layers (top first) with a
// per-container upper and work dir. util-linux's mount does the mount(2) Node cannot.
// lowerdir names are relative to the layers directory (the mount runs there), so images
// with many layers still fit the one-page limit of mount options.
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';

export interface OverlayPlan {
  layersDir: string;
  lower: string[];
  upper: string;
  work: string;
  target: string;
}

/** The -o value for the overlay mount (pure). */
export function overlayMountOptions(p: Pick<OverlayPlan, 'lower' | 'upper' | 'work'>): string {
  if (p.lower.length === 0) throw new Error('an overlay rootfs needs at least one layer');
  for (const l of [...p.lower, p.upper, p.work]) {
    // overlayfs splits lowerdir on ':' and options on ','; such paths cannot be expressed.
    if (/[:,]/.test(l)) throw new Error(`layer path ${JSON.stringify(l)} contains ':' or ','`);
  }
  const opts = `lowerdir=${p.lower.join(':')},upperdir=${p.upper},workdir=${p.work}`;
  // The kernel copies mount data into one page.
  if (Buffer.byteLength(opts) >= 4096) throw new Error(`the image has too many layers for one overlay mount (${p.lower.length})`);
  return opts;
}

export function mountOverlay(p: OverlayPlan): void {
  const opts = overlayMountOptions(p);
  for (const d of [p.upper, p.work, p.target]) mkdirSync(d, { recursive: true, mode: 0o755 });
  const r = spawnSync('mount', ['-t', 'overlay', 'overlay', '-o', opts, p.target], { cwd: p.layersDir, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mount overlay on ${p.target}: ${(r.stderr || r.error?.message || `exit ${r.status}`).trim()}`);
}

/** Unmounts the rootfs; a target that is not mounted is fine. */
export function unmountOverlay(target: string): void {
  const r = spawnSync('umount', [target], { encoding: 'utf8' });
  if (r.status !== 0 && !/not mounted|no mount point|not found/i.test(r.stderr)) {
    spawnSync('umount', ['--lazy', target]);
  }
}
