// The node/V8 flags and the environment berthd runs with. The flags size V8's heap, which
// V8 fixes when it creates the isolate: v8.setFlagsFromString inside the running daemon is
// too late for them; the environment sets glibc's allocator, read once at exec. So they are
// on the command line of every way berthd is started: the `#!` line of server/main.ts (the
// `berthd` bin, scripts/quickstart.sh's symlink, a chart's command), the release bundle's
// launcher and test/helpers/berthd.ts (tests, bench). A unit test keeps the `#!` line and
// these lists equal; berthd warns at start when it runs without them.
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

// GLIBC_TUNABLES=glibc.malloc.mmap_threshold=131072: glibc's own default threshold, made
//   fixed. By default glibc raises the threshold each time a block it had mmap'd is freed
//   (up to 32 MiB), so after the first pull the large short-lived blocks of the next ones
//   (array buffers of socket reads, decompressed chunks, the unpack thread's batches and
//   messages) come from the main heap, where the holes they leave stay resident: measured
//   on a berthd idle 40 s after three pulls of 9,000 small files, 115 MiB RSS of which 33
//   MiB free blocks (malloc_trim gave them back), 90 MiB with the threshold fixed; after
//   three 150 MB pulls 104 → 99 MiB. Blocks from 128 KiB up are then mmap'd and go back to
//   the kernel when freed. Pull times do not change (bench pull and pull-files). berthd's
//   children inherit it (shims, conmon, the OCI runtime, CNI plugins); a container does
//   not (its environment is the spec's).
/** The environment berthd runs with (the `#!` line sets it; the bundle's launcher unless the
 *  operator set GLIBC_TUNABLES). */
export const BERTHD_ENV: Readonly<Record<string, string>> = { GLIBC_TUNABLES: 'glibc.malloc.mmap_threshold=131072' };

/** The `NAME=value` words of BERTHD_ENV, as `env` and the `#!` line take them. */
export function berthdEnvWords(): string[] {
  return Object.entries(BERTHD_ENV).map(([k, v]) => `${k}=${v}`);
}

/** The settings of BERTHD_ENV missing from `env`: GLIBC_TUNABLES counts as set when it
 *  sets the mmap threshold, to any value (an operator's choice). */
export function missingBerthdEnv(env: NodeJS.ProcessEnv = process.env): string[] {
  const tunables = (env.GLIBC_TUNABLES ?? '').split(':');
  return tunables.some((t) => t.startsWith('glibc.malloc.mmap_threshold=')) ? [] : berthdEnvWords();
}

/** The flags of BERTHD_NODE_FLAGS this process was started without (on its command
 *  line or in NODE_OPTIONS). */
export function missingNodeFlags(execArgv: readonly string[] = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? ''): string[] {
  const given = new Set([...execArgv, ...nodeOptions.split(/\s+/)]);
  return BERTHD_NODE_FLAGS.filter((f) => !given.has(f));
}
