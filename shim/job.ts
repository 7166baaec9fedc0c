// The contract between berthd and berth-shim: jobs go to the shim's stdin as JSON lines
// `{"seq":N,"job":{...}}`, results come back on its stdout as `{"seq":N,"result":{...}}`.
// Types, plus the list of error kinds a result may carry (as data: berthd checks results
// against it rather than trusting them). This file is the whole protocol: it imports
// nothing from berthd, and berthd imports it. Everything about conmon and the OCI runtime
// (file names, flags) is berthd's (server/runtime/): the shim runs the command line it is
// given.

export interface ShimJob {
  id: string;
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
  /** The bundle dir (made by the shim); conmon's files go there too. */
  bundle: string;
  /** The OCI runtime spec berthd generated (server/oci); the shim writes it as <bundle>/config.json unread. */
  spec: object;
  /** Directories conmon writes into that must exist (its exit dir, its socket dir). */
  dirs: string[];
  conmon: {
    path: string;
    /** conmon's whole argument vector (server/runtime/conmon.ts builds it). */
    args: string[];
    /** Where conmon writes its own pid (its -P). */
    pidFile: string;
  };
}

/** The error kinds a failed job reports (a subset of berthd's vocabulary). */
export const SHIM_ERROR_KINDS = ['InvalidArgument', 'FailedPrecondition', 'Internal', 'NotFound', 'ResourceExhausted'] as const;
export type ShimErrorKind = (typeof SHIM_ERROR_KINDS)[number];

export type ShimResult =
  | { ok: true; pid: number; conmonPid: number; /** Milliseconds per step, for berthd's log. */ timings?: Record<string, number> }
  | {
      ok: false;
      kind: ShimErrorKind;
      message: string;
      /** The OCI runtime's own words when `runtime create` failed (conmon's report): berthd classifies them. */
      runtimeError?: string;
    };

/** One line of the shim's stdout. */
export interface ShimReply {
  seq: number | null;
  result: ShimResult;
}
