// The cgroup read cache (server/cgroups/read-cache.ts) on temp directories standing in for
// cgroup directories: a v1 file is remembered missing only when its directory is there (some
// other file of it read), and hugetlb listings are reused within their TTL.
import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CgroupReadCache, HUGETLB_LIST_TTL_MS } from '../../server/cgroups/read-cache.js';

test('v1: a file missing beside files that read is skipped from then on; a missing directory teaches nothing', (t) => {
  const mount = mkdtempSync(join(tmpdir(), 'berth-unit-readcache-'));
  try {
    const a = join(mount, 'a');
    mkdirSync(a);
    writeFileSync(join(a, 'blkio.throttle.io_serviced_recursive'), '8:0 Read 1\n');
    const cache = new CgroupReadCache();
    const files: Record<string, string> = {};
    // Directory "b" does not exist: nothing read, nothing learnt.
    cache.readV1(mount, join(mount, 'b'), ['blkio.throttle.io_serviced_recursive', 'blkio.weight'], files);
    t.deepEqual(files, {});
    t.is(cache.size(), 0);
    cache.readV1(mount, a, ['blkio.throttle.io_serviced_recursive', 'blkio.weight'], files);
    t.deepEqual(Object.keys(files), ['blkio.throttle.io_serviced_recursive']);
    t.is(cache.size(), 1, 'blkio.weight is remembered missing for this hierarchy');
    // Had it appeared (it cannot on a kernel hierarchy), it is no longer asked for.
    writeFileSync(join(a, 'blkio.weight'), '100\n');
    const again: Record<string, string> = {};
    cache.readV1(mount, a, ['blkio.weight'], again);
    t.deepEqual(again, {});
    // Another hierarchy (mount) has its own answer.
    const other: Record<string, string> = {};
    cache.readV1(join(mount, 'x'), a, ['blkio.weight'], other);
    t.is(other['blkio.weight'], '100\n');
  } finally {
    rmSync(mount, { recursive: true, force: true });
  }
});

test('hugetlb names: listed once within the TTL, again after it; a dropped directory is listed anew', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-unit-readcache-'));
  try {
    writeFileSync(join(dir, 'hugetlb.2MB.current'), '0\n');
    writeFileSync(join(dir, 'cpu.stat'), '');
    const cache = new CgroupReadCache();
    t.deepEqual(cache.hugetlbNames(dir, 1000), ['hugetlb.2MB.current']);
    writeFileSync(join(dir, 'hugetlb.2MB.max'), 'max\n');
    t.deepEqual(cache.hugetlbNames(dir, 2000), ['hugetlb.2MB.current'], 'within the TTL: the listing is reused');
    t.deepEqual(cache.hugetlbNames(dir, 1000 + HUGETLB_LIST_TTL_MS).sort(), ['hugetlb.2MB.current', 'hugetlb.2MB.max']);
    cache.dropDir(dir);
    t.is(cache.size(), 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
