// The contract between berthd and berth-shim: one JSON job on the shim's stdin, one JSON
// line on its stdout. Types only (erased at compile time), so the shim pays nothing for it.
// This file is the whole protocol: it imports nothing from berthd, and berthd imports it.

export interface ShimJob {
  id: string;
  /** Name shown by conmon (-n): <pod>_<namespace>_<container>_<attempt>. */
  name: string;
  conmon: string;
  runtime: { path: string; root: string };
  rootfs: {
    /** Directory holding the unpacked layers; the mount runs with it as cwd so lowerdir names stay short. */
    layersDir: string;
    /** Layer directory names (relative to layersDir, or absolute), top layer first. */
    lower: string[];
    upper: string;
    work: string;
    /** The overlay mount point (the spec's root.path). */
    target: string;
  };
  /** Bundle dir: config.json, conmon's pid files, ctl/winsz fifos, the attach socket and its persist files. */
  bundle: string;
  /** The OCI runtime spec berthd generated (server/oci); the shim writes it as config.json unread. */
  spec: object;
  exitDir: string;
  socketDir: string;
  logPath: string;
  stdin: boolean;
  stdinOnce: boolean;
  tty: boolean;
  logLevel?: string;
}

export type ShimErrorKind = 'InvalidArgument' | 'FailedPrecondition' | 'Internal' | 'NotFound' | 'ResourceExhausted';

export type ShimResult = { ok: true; pid: number; conmonPid: number; /** Milliseconds per step, for berthd's log. */ timings?: Record<string, number> } | { ok: false; kind: ShimErrorKind; message: string };
