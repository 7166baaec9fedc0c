// The contract between berthd and berth-shim: jobs go to the shim's stdin as JSON lines
// `{"seq":N,"protocol":P,"job":{...}}`, results come back on its stdout as
// `{"seq":N,"protocol":P,"result":{...}}`.
// Types, plus the list of error kinds a result may carry (as data: berthd checks results
// against it rather than trusting them). This file is the whole protocol: it imports
// nothing from berthd, and berthd imports it. Everything about conmon and the OCI runtime
// (file names, flags) is berthd's (server/runtime/): the shim runs the command line it is
// given.

/**
 * The job protocol's version. berthd puts it on every job line and berth-shim on every
 * result line; each side refuses the other's lines when it differs, which happens only when
 * the two come from different berth releases (a bundle replaced under a running berthd).
 * Bump it with any change to ShimJob or ShimResult that an older peer would misread.
 */
export const SHIM_PROTOCOL = 1;

/** What berth-shim answers a job of another protocol with. */
export function shimProtocolMismatch(berthd: unknown, shim: number = SHIM_PROTOCOL): string {
  return `berth-shim speaks job protocol ${shim} but berthd sent ${berthd === undefined ? 'none' : JSON.stringify(berthd)}: berthd and berth-shim come from different berth releases; restart berthd (systemctl restart berth) so that it runs the berth-shim of its own release`;
}

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
  /**
   * Fault injection only (server/kill-points.ts; absent otherwise): the named instant of this
   * job at which berth-shim SIGKILLs berthd (its parent) or itself. An older shim ignores it.
   */
  killPoint?: { point: ShimKillPoint; victim: 'berthd' | 'shim' };
}

/** The kill points inside a create job, in the order they are reached. */
export const SHIM_KILL_POINTS = ['shim.bundle.made', 'shim.rootfs.mounted', 'shim.config.written', 'shim.conmon.started', 'shim.result.sent'] as const;
export type ShimKillPoint = (typeof SHIM_KILL_POINTS)[number];

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
  protocol: number;
  result: ShimResult;
}
