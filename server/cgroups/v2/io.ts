// cgroup v2 `io` controller, read only for us (CRI sets no block IO limits).

/** Lines "MAJ:MIN rbytes=N wbytes=N rios=N wios=N dbytes=N dios=N". */
export const IO_STAT = 'io.stat';
