// The container rootfs: an overlay of the image's unpacked layers (top first) with a
// per-container upper and work dir. util-linux's mount does the mount(2) Node cannot; it
// runs as a child the shim waits for without blocking, so the creates of a burst mount side
// by side. lowerdir names are relative to the layers directory (the mount runs there), so
// images with many layers still fit the one-page limit of mount options. Undoing the mount
// after a failed job is berthd's (its rollback unmounts whatever a container left).
import { spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';

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

export async function mountOverlay(p: OverlayPlan): Promise<void> {
  const opts = overlayMountOptions(p);
  await Promise.all([p.upper, p.work, p.target].map((d) => mkdir(d, { recursive: true, mode: 0o755 })));
  await new Promise<void>((resolve, reject) => {
    const child = spawn('mount', ['-t', 'overlay', 'overlay', '-o', opts, p.target], { cwd: p.layersDir, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => (err += s));
    child.on('error', (e) => reject(new Error(`mount overlay on ${p.target}: ${e.message}`)));
    child.on('close', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`mount overlay on ${p.target}: ${err.trim() || (signal ? `killed by ${signal}` : `exit ${code}`)}`));
    });
  });
}
