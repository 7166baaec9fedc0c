// CRI resources to cgroup values (server/cgroups/convert.ts, v2/cpu.ts): shares ↔ weight,
// swap as runc computes it, zero/unlimited/refused values, and the ordered v1 and v2 file
// writes (memsw before memory when it rises, the unified map refused on v1).
import test from 'ava';
import { BerthError } from '../../server/errors.js';
import type { CgroupWrite } from '../../server/cgroups/common.js';
import { fromCriResources, sharesToWeight, swapToV2, toOciResources, v1Writes, v2Writes, weightToShares } from '../../server/cgroups/convert.js';
import { cpuMaxValue } from '../../server/cgroups/v2/cpu.js';
import { resources } from './oci-fixtures.js';

const MiB = 1024 * 1024;
const pairs = (writes: CgroupWrite[]) => writes.map((w) => `${w.file}=${w.value}`);

test('shares → weight: the design\'s known values', (t) => {
  t.is(sharesToWeight(2), 1);
  t.is(sharesToWeight(1024), 39);
  t.is(sharesToWeight(262144), 10000);
  t.is(sharesToWeight(512), 20);
  t.is(sharesToWeight(102), 4);
  t.is(sharesToWeight(29), 2);
  // Out of range is clamped like the v1 kernel does.
  t.is(sharesToWeight(1), 1);
  t.is(sharesToWeight(0), 1);
  t.is(sharesToWeight(10_000_000), 10000);
});

test('weight → shares inverts at the ends and is monotonic', (t) => {
  t.is(weightToShares(1), 2);
  t.is(weightToShares(10000), 262144);
  t.is(weightToShares(39), 999);
  let last = 0;
  for (let w = 1; w <= 10000; w += 37) {
    const s = weightToShares(w);
    t.true(s >= last);
    last = s;
    t.is(sharesToWeight(s), w, `round trip of weight ${w}`);
  }
});

test('swapToV2 follows runc: swap alone = total − memory', (t) => {
  t.is(swapToV2(128 * MiB, 64 * MiB), 64 * MiB);
  t.is(swapToV2(64 * MiB, 64 * MiB), 0);
  t.is(swapToV2(-1, 64 * MiB), -1);
  t.is(swapToV2(undefined, -1), -1, 'unlimited memory with no swap value: unlimited swap');
  t.is(swapToV2(undefined, 64 * MiB), undefined);
  t.throws(() => swapToV2(32 * MiB, 64 * MiB), { instanceOf: BerthError });
  t.throws(() => swapToV2(32 * MiB, undefined), { instanceOf: BerthError });
});

test('fromCriResources: zero means unset, and a memory limit alone also caps swap', (t) => {
  t.deepEqual(fromCriResources(resources()), {});
  t.deepEqual(fromCriResources(null, { pidsLimit: 100 }), { pidsLimit: 100 });
  t.deepEqual(
    fromCriResources(
      resources({
        cpu_period: '100000',
        cpu_quota: '20000',
        cpu_shares: '1024',
        memory_limit_in_bytes: String(16 * MiB),
        cpuset_cpus: '0-1,3',
        cpuset_mems: '0',
        hugepage_limits: [{ page_size: '2MB', limit: String(4 * MiB) }],
      }),
      { pidsLimit: 512 },
    ),
    {
      pidsLimit: 512,
      cpuShares: 1024,
      cpuPeriod: 100000,
      cpuQuota: 20000,
      cpusetCpus: '0-1,3',
      cpusetMems: '0',
      memoryLimit: 16 * MiB,
      memorySwap: 16 * MiB,
      hugepageLimits: [{ pageSize: '2MB', limit: 4 * MiB }],
    },
  );
});

test('fromCriResources: explicit swap, unlimited values, no swap accounting', (t) => {
  t.like(fromCriResources(resources({ memory_limit_in_bytes: String(16 * MiB), memory_swap_limit_in_bytes: String(32 * MiB) })), {
    memoryLimit: 16 * MiB,
    memorySwap: 32 * MiB,
  });
  t.like(fromCriResources(resources({ memory_limit_in_bytes: '-1', cpu_quota: '-1' })), { memoryLimit: -1, cpuQuota: -1 });
  const noSwap = fromCriResources(resources({ memory_limit_in_bytes: String(16 * MiB), memory_swap_limit_in_bytes: String(32 * MiB) }), { swapAccounting: false });
  t.is(noSwap.memorySwap, undefined);
  t.is(fromCriResources(resources({ cpu_shares: '1' })).cpuShares, 2);
});

test('fromCriResources refuses bad values', (t) => {
  const bad = (o: Parameters<typeof resources>[0]) => t.throws(() => fromCriResources(resources(o)), { instanceOf: BerthError })?.kind;
  t.is(bad({ cpu_period: '500' }), 'InvalidArgument');
  t.is(bad({ cpu_quota: '999' }), 'InvalidArgument');
  t.is(bad({ memory_limit_in_bytes: '-2' }), 'InvalidArgument');
  t.is(bad({ memory_limit_in_bytes: 'lots' }), 'InvalidArgument');
  t.is(bad({ memory_limit_in_bytes: '99999999999999999999' }), 'InvalidArgument');
  t.is(bad({ memory_limit_in_bytes: String(64 * MiB), memory_swap_limit_in_bytes: String(32 * MiB) }), 'InvalidArgument');
  t.is(bad({ cpuset_cpus: '0-a' }), 'InvalidArgument');
  t.is(bad({ hugepage_limits: [{ page_size: '2M', limit: '1' }] }), 'InvalidArgument');
  t.is(bad({ unified: { '../../etc/passwd': 'x' } }), 'InvalidArgument');
  t.is(bad({ unified: { 'cgroup.procs': '1' } }), 'InvalidArgument');
  t.is(bad({ unified: { 'memory.high': '1\n2' } }), 'InvalidArgument');
});

test('v1 writes: cpu, cpuset, memory + memsw, hugetlb, pids', (t) => {
  const r = fromCriResources(
    resources({
      cpu_period: '100000',
      cpu_quota: '50000',
      cpu_shares: '512',
      memory_limit_in_bytes: String(16 * MiB),
      cpuset_cpus: '0',
      hugepage_limits: [{ page_size: '2MB', limit: String(2 * MiB) }],
    }),
    { pidsLimit: 0 },
  );
  const writes = v1Writes(r);
  t.deepEqual(pairs(writes), [
    'cpuset.cpus=0',
    'cpu.shares=512',
    'cpu.cfs_period_us=100000',
    'cpu.cfs_quota_us=50000',
    `memory.limit_in_bytes=${16 * MiB}`,
    `memory.memsw.limit_in_bytes=${16 * MiB}`,
    `hugetlb.2MB.limit_in_bytes=${2 * MiB}`,
    'pids.max=max',
  ]);
  t.deepEqual([...new Set(writes.map((w) => w.controller))], ['cpuset', 'cpu', 'memory', 'hugetlb', 'pids']);
  t.true(writes.find((w) => w.file === 'cpu.cfs_period_us')?.retryAfterRest);
});

test('v1 memory ordering: memsw first only when it rises above the current limit (runc)', (t) => {
  const r = { memoryLimit: 64 * MiB, memorySwap: 128 * MiB };
  // Fresh cgroup (limit unlimited): limit first.
  t.deepEqual(pairs(v1Writes(r)), [`memory.limit_in_bytes=${64 * MiB}`, `memory.memsw.limit_in_bytes=${128 * MiB}`]);
  // Raising from a 16 MiB limit: memsw first, or the kernel refuses limit > memsw.
  t.deepEqual(pairs(v1Writes(r, { currentLimit: 16 * MiB })), [`memory.memsw.limit_in_bytes=${128 * MiB}`, `memory.limit_in_bytes=${64 * MiB}`]);
  // Lowering from 256 MiB: limit first.
  t.deepEqual(pairs(v1Writes(r, { currentLimit: 256 * MiB })), [`memory.limit_in_bytes=${64 * MiB}`, `memory.memsw.limit_in_bytes=${128 * MiB}`]);
  // Unlimited memory lifts memsw too, memsw first.
  t.deepEqual(pairs(v1Writes({ memoryLimit: -1 })), ['memory.memsw.limit_in_bytes=-1', 'memory.limit_in_bytes=-1']);
  // Without swap accounting no memsw write at all.
  t.deepEqual(pairs(v1Writes(r, { swapAccounting: false })), [`memory.limit_in_bytes=${64 * MiB}`]);
});

test('v1 refuses the unified map with a clear error', (t) => {
  const err = t.throws(() => v1Writes({ unified: { 'memory.high': '1' } }), { instanceOf: BerthError });
  t.is(err?.kind, 'InvalidArgument');
  t.regex(err?.message ?? '', /cgroup v2/);
});

test('v2 writes: weight, cpu.max, memory.max, swap.max, hugetlb, pids', (t) => {
  const r = fromCriResources(
    resources({
      cpu_period: '100000',
      cpu_quota: '50000',
      cpu_shares: '1024',
      memory_limit_in_bytes: String(64 * MiB),
      memory_swap_limit_in_bytes: String(96 * MiB),
      cpuset_mems: '0',
      hugepage_limits: [{ page_size: '1GB', limit: String(1024 * MiB) }],
    }),
    { pidsLimit: 4096 },
  );
  t.deepEqual(pairs(v2Writes(r)), [
    'cpuset.mems=0',
    'cpu.weight=39',
    'cpu.max=50000 100000',
    `memory.swap.max=${32 * MiB}`,
    `memory.max=${64 * MiB}`,
    `hugetlb.1GB.max=${1024 * MiB}`,
    'pids.max=4096',
  ]);
});

test('v2: a memory limit alone means swap.max 0; unlimited means max', (t) => {
  t.deepEqual(pairs(v2Writes(fromCriResources(resources({ memory_limit_in_bytes: String(16 * MiB) })))), ['memory.swap.max=0', `memory.max=${16 * MiB}`]);
  t.deepEqual(pairs(v2Writes({ memoryLimit: -1 })), ['memory.swap.max=max', 'memory.max=max']);
  t.deepEqual(pairs(v2Writes({ memoryLimit: 16 * MiB, memorySwap: 16 * MiB }, { swapAccounting: false })), [`memory.max=${16 * MiB}`]);
});

test('cpu.max forms', (t) => {
  t.is(cpuMaxValue(50000, 100000), '50000 100000');
  t.is(cpuMaxValue(-1, 100000), 'max 100000');
  t.is(cpuMaxValue(undefined, 100000), 'max 100000');
  t.is(cpuMaxValue(25000, undefined), '25000');
  t.is(cpuMaxValue(undefined, undefined), undefined);
});

test('v2: unified entries come last and replace the typed write of the same file', (t) => {
  const writes = v2Writes({ memoryLimit: 64 * MiB, memorySwap: 64 * MiB, unified: { 'memory.max': '100000000', 'memory.high': '50000000' } });
  t.deepEqual(pairs(writes), ['memory.swap.max=0', 'memory.max=100000000', 'memory.high=50000000']);
  t.deepEqual(writes.map((w) => w.controller), ['memory', 'memory', 'memory']);
});

test('neutral → OCI linux.resources', (t) => {
  t.deepEqual(toOciResources({ cpuShares: 2, cpuQuota: -1, memoryLimit: 10, memorySwap: 10, pidsLimit: 0 }, []), {
    devices: [],
    cpu: { shares: 2, quota: -1 },
    memory: { limit: 10, swap: 10 },
    pids: { limit: -1 },
  });
  t.deepEqual(toOciResources({}, [{ allow: false, access: 'rwm' }]), { devices: [{ allow: false, access: 'rwm' }] });
});
