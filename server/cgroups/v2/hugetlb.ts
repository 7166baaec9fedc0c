// cgroup v2 `hugetlb` controller: hugetlb.<size>.max, .current, .events.
import type { CgroupResources, CgroupWrite } from '../common.js';

export const hugetlbMaxFile = (pageSize: string) => `hugetlb.${pageSize}.max`;
export const hugetlbCurrentFile = (pageSize: string) => `hugetlb.${pageSize}.current`;
/** "max N": times an allocation failed on the limit. */
export const hugetlbEventsFile = (pageSize: string) => `hugetlb.${pageSize}.events`;

export function hugetlbPageSizes(files: readonly string[]): string[] {
  return files.flatMap((f) => /^hugetlb\.([0-9]+[KMGTP]B)\.current$/.exec(f)?.slice(1, 2) ?? []);
}

export function hugetlbWrites(r: CgroupResources): CgroupWrite<'hugetlb'>[] {
  return (r.hugepageLimits ?? []).map((h) => ({ controller: 'hugetlb', file: hugetlbMaxFile(h.pageSize), value: String(h.limit) }));
}

/** Page sizes that have limit files among the given file names. */
export function hugetlbLimitPageSizes(files: readonly string[]): string[] {
  return files.flatMap((f) => /^hugetlb\.([0-9]+[KMGTP]B)\.max$/.exec(f)?.slice(1, 2) ?? []);
}
