// The node/V8 flags berthd runs with. They size V8's heap, which V8 fixes when it creates
// the isolate: v8.setFlagsFromString inside the running daemon is too late for them. So
// they are on the command line of every way berthd is started: the `#!` line of
// server/main.ts (the `berthd` bin, scripts/quickstart.sh's symlink, a chart's command)
// and test/helpers/berthd.ts (tests, bench). A unit test keeps the `#!` line and this
// list equal; berthd warns at start when it runs without them.
//
// --max-semi-space-size=1: V8 grows the young generation up to 16 MiB per semi-space
// when a process allocates steadily, and a pull does: ~100 MB/s of short-lived socket
// and zlib buffers. With a large young generation those buffers are reclaimed only
// once 32 MiB of them are pending (V8's external-memory trigger for a scavenge), and
// because berthd's old space is small (~15 MB) V8 also keeps starting major GCs, the
// young generation being able to promote more than the old generation's headroom
// (~200 mark-compacts per GB pulled). With 1 MiB semi-spaces a scavenge comes every MiB
// or so of allocation: pull buffers go back to the allocator promptly, major GCs stop,
// and the young generation stays at 2 MiB instead of up to 32.
export const BERTHD_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1'];

/** The flags of BERTHD_NODE_FLAGS this process was started without (on its command
 *  line or in NODE_OPTIONS). */
export function missingNodeFlags(execArgv: readonly string[] = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? ''): string[] {
  const given = new Set([...execArgv, ...nodeOptions.split(/\s+/)]);
  return BERTHD_NODE_FLAGS.filter((f) => !given.has(f));
}
