// /proc/PID/mountinfo as data (proc(5)): used to detect the cgroup layout and to check the
// propagation of a bind mount's source. Parsing is pure; callers read the file.

export interface MountInfo {
  id: number;
  parentId: number;
  /** "major:minor" of the filesystem. */
  device: string;
  /** Path inside the filesystem that forms the root of this mount. */
  root: string;
  mountPoint: string;
  mountOptions: string[];
  /** Optional fields such as "shared:7" or "master:3". */
  optional: string[];
  fsType: string;
  source: string;
  superOptions: string[];
}

// The kernel escapes space, tab, newline and backslash in paths as \ooo octal.
function unescapeOctal(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

export function parseMountInfo(text: string): MountInfo[] {
  const out: MountInfo[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const fields = line.split(' ');
    const sep = fields.indexOf('-', 6);
    if (sep < 0 || fields.length < sep + 3) continue;
    out.push({
      id: Number(fields[0]),
      parentId: Number(fields[1]),
      device: fields[2] ?? '',
      root: unescapeOctal(fields[3] ?? ''),
      mountPoint: unescapeOctal(fields[4] ?? ''),
      mountOptions: (fields[5] ?? '').split(','),
      optional: fields.slice(6, sep).filter((f) => f !== ''),
      fsType: fields[sep + 1] ?? '',
      source: unescapeOctal(fields[sep + 2] ?? ''),
      superOptions: (fields[sep + 3] ?? '').split(','),
    });
  }
  return out;
}

/** The mount a path lives on: the last-mounted entry whose mount point is the longest prefix. */
export function mountOf(mounts: readonly MountInfo[], path: string): MountInfo | undefined {
  let best: MountInfo | undefined;
  for (const m of mounts) {
    const mp = m.mountPoint;
    const under = path === mp || mp === '/' || path.startsWith(mp.endsWith('/') ? mp : `${mp}/`);
    if (!under) continue;
    // Later entries stack on earlier ones at the same mount point, so >= keeps the last.
    if (!best || mp.length >= best.mountPoint.length) best = m;
  }
  return best;
}

export type Propagation = 'shared' | 'slave' | 'private';

/** Propagation of a mount from its optional fields; shared wins when a mount is both. */
export function propagationOf(mount: MountInfo): Propagation {
  if (mount.optional.some((o) => o.startsWith('shared:'))) return 'shared';
  if (mount.optional.some((o) => o.startsWith('master:'))) return 'slave';
  return 'private';
}
