// The node/V8 flags berthd runs with. They size V8's heap, which V8 fixes when it creates
// the isolate: v8.setFlagsFromString inside the running daemon is too late for them. So
// they are on the command line of every way berthd is started: the `#!` line of
// server/main.ts (the `berthd` bin, scripts/quickstart.sh's symlink, a chart's command)
// and test/helpers/berthd.ts (tests, bench). A unit test keeps the `#!` line and this
// list equal; berthd warns at start when it runs without them.
//
// Both are about image pulls, which stream ~100 MB/s of short-lived buffers (socket
// reads, gunzip output) through a daemon whose JS heap is small (~15 MB live):
//
// --max-semi-space-size=1: V8 grows the young generation up to 16 MiB per semi-space
//   under steady allocation (48 MiB reserved). Pull buffers were then freed only once
//   32 MiB of them were pending (V8's external-memory trigger for a scavenge), and the
//   bigger young generation kept pages resident. With 1 MiB semi-spaces a scavenge
//   comes every MiB or so of allocation and the buffers go back to the allocator
//   promptly; a fresh berthd also idles ~8 MiB smaller.
// --initial-old-space-size=64: V8 sets the old generation's limit from its live size,
//   only ~8-10 MB above it for a heap this small, and external memory (array buffers)
//   allocated since the last mark-compact counts against that limit. A pull's buffer
//   churn reached it every few hundred milliseconds (--trace-gc: mark-compacts "on the
//   allocation limit" with the heap at 14 of 23 MB and under 0.5 MB of it allocated
//   since the previous one): ~20 mark-compacts plus incremental marking per 150 MB
//   pulled, about 40% of berthd's CPU time during a pull. Starting the limit at 64 MB
//   leaves room for that churn: 1-3 mark-compacts per pull, for a few MiB more idle
//   memory. V8's memory reducer still collects once berthd is idle.
export const BERTHD_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1', '--initial-old-space-size=64'];

/** The flags of BERTHD_NODE_FLAGS this process was started without (on its command
 *  line or in NODE_OPTIONS). */
export function missingNodeFlags(execArgv: readonly string[] = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? ''): string[] {
  const given = new Set([...execArgv, ...nodeOptions.split(/\s+/)]);
  return BERTHD_NODE_FLAGS.filter((f) => !given.has(f));
}
