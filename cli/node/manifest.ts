// The install manifest (<host>/var/lib/berth/install.json): every change `berth node
// install` made to the node, so `uninstall` reverses exactly those and nothing else.
// It is a journal: an entry is written as `pending` before its action runs and marked
// `done` after, so an interrupted run is finished (install) or undone (uninstall) by the
// next run. Backups of what install replaced live beside it in install-backups/.
import { mkdirSync, readFileSync, renameSync, writeFileSync, openSync, fsyncSync, closeSync, rmSync, existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { inRoot } from './paths.js';

export const MANIFEST_PATH = '/var/lib/berth/install.json';
export const BACKUP_DIR = '/var/lib/berth/install-backups';

/** What was at a path before install wrote there (a backup under BACKUP_DIR, or a link target). */
export type Previous = { kind: 'file'; backup: string; mode: number } | { kind: 'link'; target: string };

export type Action =
  /** A directory install created (recursive: berth-owned, everything under it goes). */
  | { kind: 'dir'; path: string; recursive: boolean }
  /** A release bundle copied to /opt/berth/<version>. */
  | { kind: 'tree'; path: string; version: string }
  | { kind: 'link'; path: string; target: string; previous?: Previous }
  | { kind: 'file'; path: string; sha256: string; previous?: Previous }
  /** One value in kubelet's config file or flags, with what it was (null: not set). */
  | { kind: 'kubelet'; path: string; where: 'config' | 'flag'; previous: string | null; written: string; backup: string }
  /** Debian packages install added with apt. */
  | { kind: 'packages'; names: string[] }
  /** berth.service enabled and started. */
  | { kind: 'unit'; name: string }
  /** The default CNI network's bridge, created by the bridge plugin once a pod runs, and host-local's directory for its leases. */
  | { kind: 'bridge'; name: string; ipamDir?: string };

export interface Entry {
  id: string;
  state: 'pending' | 'done';
  action: Action;
}

export interface ManifestData {
  format: 1;
  /** The release `current` points at. */
  version: string;
  entries: Entry[];
}

export class Manifest {
  private constructor(
    readonly hostRoot: string,
    readonly data: ManifestData,
    private readonly dryRun: boolean,
  ) {}

  static file(hostRoot: string): string {
    return inRoot(hostRoot, MANIFEST_PATH);
  }

  static exists(hostRoot: string): boolean {
    return existsSync(Manifest.file(hostRoot));
  }

  static load(hostRoot: string, dryRun = false): Manifest {
    const file = Manifest.file(hostRoot);
    let data: ManifestData = { format: 1, version: '', entries: [] };
    if (existsSync(file)) {
      data = JSON.parse(readFileSync(file, 'utf8')) as ManifestData;
      if (data.format !== 1) throw new Error(`${file}: unknown install manifest format ${String(data.format)}`);
    }
    return new Manifest(hostRoot, data, dryRun);
  }

  get(id: string): Entry | undefined {
    return this.data.entries.find((e) => e.id === id);
  }

  /** Records (or updates) an entry before its action runs. */
  begin(id: string, action: Action): void {
    const e = this.get(id);
    if (e) {
      e.action = action;
      e.state = 'pending';
    } else this.data.entries.push({ id, state: 'pending', action });
    this.save();
  }

  done(id: string, action?: Action): void {
    const e = this.get(id);
    if (!e) throw new Error(`install manifest: no entry ${id}`);
    if (action) e.action = action;
    e.state = 'done';
    this.save();
  }

  drop(id: string): void {
    this.data.entries = this.data.entries.filter((e) => e.id !== id);
    this.save();
  }

  setVersion(v: string): void {
    this.data.version = v;
    this.save();
  }

  /** Written to a temporary file, synced and renamed: a crash leaves the old or the new manifest. */
  save(): void {
    if (this.dryRun) return;
    const file = Manifest.file(this.hostRoot);
    mkdirSync(dirname(file), { recursive: true, mode: 0o711 });
    const tmp = `${file}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.data, null, 1) + '\n', { mode: 0o600 });
    const fd = openSync(tmp, 'r');
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, file);
  }

  remove(): void {
    if (this.dryRun) return;
    rmSync(Manifest.file(this.hostRoot), { force: true });
  }
}
