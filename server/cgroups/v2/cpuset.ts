// cgroup v2 `cpuset` controller: the same files and writes as v1 (v2 inherits empty values
// from the parent, so nothing needs copying down on create).
export { CPUSET_CPUS, CPUSET_MEMS, cpusetWrites } from '../v1/cpuset.js';
