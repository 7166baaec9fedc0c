// cgroup v2 `cpuset` controller: the same files and writes as v1 (v2 inherits empty values
// from the parent, so nothing needs copying down on create).
export { CPUSET_CPUS, CPUSET_MEMS, cpusetWrites, cpuListCount } from '../v1/cpuset.js';
/** What the cgroup actually gets (its own lists are empty when it inherits). */
export const CPUSET_CPUS_EFFECTIVE = 'cpuset.cpus.effective';
export const CPUSET_MEMS_EFFECTIVE = 'cpuset.mems.effective';
