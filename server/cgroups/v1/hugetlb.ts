// cgroup v1 `hugetlb` controller: one set of files per page size ("2MB", "1GB").
import type { CgroupResources, CgroupWrite } from '../common.js';

export const hugetlbLimitFile = (pageSize: string) => `hugetlb.${pageSize}.limit_in_bytes`;
export const hugetlbUsageFile = (pageSize: string) => `hugetlb.${pageSize}.usage_in_bytes`;
export const hugetlbMaxUsageFile = (pageSize: string) => `hugetlb.${pageSize}.max_usage_in_bytes`;
export const hugetlbFailcntFile = (pageSize: string) => `hugetlb.${pageSize}.failcnt`;

/** Page sizes that have usage files among the given file names. */
export function hugetlbPageSizes(files: readonly string[]): string[] {
  return files.flatMap((f) => /^hugetlb\.([0-9]+[KMGTP]B)\.usage_in_bytes$/.exec(f)?.slice(1, 2) ?? []);
}

export function hugetlbWrites(r: CgroupResources): CgroupWrite<'hugetlb'>[] {
  return (r.hugepageLimits ?? []).map((h) => ({ controller: 'hugetlb', file: hugetlbLimitFile(h.pageSize), value: String(h.limit) }));
}

/** Page sizes that have limit files among the given file names. */
export function hugetlbLimitPageSizes(files: readonly string[]): string[] {
  return files.flatMap((f) => /^hugetlb\.([0-9]+[KMGTP]B)\.limit_in_bytes$/.exec(f)?.slice(1, 2) ?? []);
}
