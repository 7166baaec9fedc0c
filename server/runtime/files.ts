// Where conmon and the OCI runtime keep a container's files: named here once, for berthd's
// container code and for the conmon command line berthd hands the shim (pure).
// The bundle (<state>/containers/<id>) is also conmon's persist dir: besides config.json it
// holds the runtime's pid file, conmon's own pid file, the control and window-size fifos
// conmon creates, its `oom` marker and `exit` copy. Exit files of every container go to one
// directory berthd watches; attach sockets live under one socket dir, one directory per id.
import { dirname, join } from 'node:path';

export interface ConmonFiles {
  /** The OCI bundle and conmon's persist dir. */
  bundle: string;
  /** The spec the runtime reads. */
  config: string;
  /** Written by the runtime (`--pid-file`, conmon's -p): the container's init pid. */
  pidFile: string;
  /** Written by conmon (-P): conmon's own pid. */
  conmonPidFile: string;
  /** conmon's control fifo: resize and reopen-log messages (ctl.ts). */
  ctl: string;
  /** conmon's window-size fifo. */
  winsz: string;
  /** conmon marks an OOM kill with this file. */
  oom: string;
  /** conmon's copy of the exit code in its persist dir. */
  persistExit: string;
  /** runc's own log (--log, JSON): its warnings, kept out of the container's stderr. */
  runtimeLog: string;
  /** The directory conmon writes exit files to (--exit-dir), shared by all containers. */
  exitDir: string;
  /** <exitDir>/<id>: the exit code, written when the container's process ended. */
  exitFile: string;
  /** The directory conmon makes attach sockets in (--socket-dir-path). */
  socketDir: string;
  /** <socketDir>/<id>: conmon's per-container directory (a link to the bundle). */
  socketLink: string;
  /** <socketDir>/<id>/attach: the SEQPACKET attach socket. */
  attachSocket: string;
}

/** conmon's and the runtime's files for container `id` (pure). */
export function conmonFiles(bundle: string, exitDir: string, socketDir: string, id: string): ConmonFiles {
  return {
    bundle,
    config: join(bundle, 'config.json'),
    pidFile: join(bundle, 'pidfile'),
    conmonPidFile: join(bundle, 'conmon.pid'),
    ctl: join(bundle, 'ctl'),
    winsz: join(bundle, 'winsz'),
    oom: join(bundle, 'oom'),
    persistExit: join(bundle, 'exit'),
    runtimeLog: join(bundle, 'runtime-log.json'),
    exitDir,
    exitFile: join(exitDir, id),
    socketDir,
    socketLink: join(socketDir, id),
    attachSocket: join(socketDir, id, 'attach'),
  };
}

/** A `runtime update`'s resources file in the bundle, unique per update (pure). */
export function updateFile(bundle: string, tag: string): string {
  return join(bundle, `update-${tag}.json`);
}

/** A `runtime exec`'s process file and pid file in the bundle, unique per exec (pure). */
export function execFiles(bundle: string, tag: string): { processFile: string; pidFile: string } {
  return { processFile: join(bundle, `exec-${tag}.json`), pidFile: join(bundle, `exec-${tag}.pid`) };
}

/** conmon's files of a recorded container (pure). */
export function containerFiles(rec: { id: string; paths: { bundle: string; exitFile: string; socketDir: string } }): ConmonFiles {
  return conmonFiles(rec.paths.bundle, dirname(rec.paths.exitFile), rec.paths.socketDir, rec.id);
}
