// berth's error contract as data: RPC × condition → gRPC code, one row per line of the
// README's "Error contract" table (test/unit/error-contract.test.ts keeps the two the same
// rows), each with the request that produces the condition against a test berthd holding
// the fixtures below (test/integration/error-contract.test.ts runs every row).
import { join } from 'node:path';

/** What the rows' requests refer to: made once by the integration test. */
export interface ContractFixtures {
  /** A pulled busybox image with Cmd ["/bin/sh"]. */
  image: string;
  /** A pulled image with neither Entrypoint nor Cmd. */
  bareImage: string;
  /** A ready pod, and its config. */
  pod: { id: string; config: Record<string, unknown> };
  /** A stopped pod. */
  stoppedPod: { id: string; config: Record<string, unknown> };
  /** A running container (name "running", attempt 0) and a created one in `pod`. */
  running: string;
  created: string;
  /** A running container holding 20 MiB of shared memory (not reclaimable without swap). */
  hog: string;
  /** A directory holding a valid seccomp profile `ok.json` and a subdirectory `dir`. */
  seccompDir: string;
  /** A fresh valid pod config (its own uid and log directory). */
  podConfig(name: string, extra?: Record<string, unknown>): Record<string, unknown>;
}

export type ContractCode =
  | 'OK'
  | 'INVALID_ARGUMENT'
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'FAILED_PRECONDITION'
  | 'OUT_OF_RANGE'
  | 'RESOURCE_EXHAUSTED'
  | 'UNIMPLEMENTED';

export interface ContractRow {
  rpc: string;
  /** As it reads in the README table. */
  condition: string;
  code: ContractCode;
  service?: 'image';
  request(f: ContractFixtures): Record<string, unknown>;
}

const MiB = 1024 * 1024;
/** A 1 MiB string: the size case of every id and name. */
export const HUGE = 'x'.repeat(MiB);
const UNKNOWN_ID = 'f'.repeat(64);

function ctr(f: ContractFixtures, name: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { metadata: { name, attempt: 0 }, image: { image: f.image }, command: ['sleep', '60'], log_path: `${name}/0.log`, ...extra };
}
const create = (f: ContractFixtures, config: Record<string, unknown>) => ({ pod_sandbox_id: f.pod.id, config, sandbox_config: f.pod.config });
const withLinux = (f: ContractFixtures, name: string, linux: Record<string, unknown>) => create(f, ctr(f, name, { linux }));
const podSc = (f: ContractFixtures, name: string, sc: Record<string, unknown>) => ({ config: f.podConfig(name, { linux: { security_context: sc } }) });
const res = (r: Record<string, unknown>) => ({ resources: r });

export const CONTRACT: readonly ContractRow[] = [
  // RunPodSandbox
  { rpc: 'RunPodSandbox', condition: 'no config', code: 'INVALID_ARGUMENT', request: () => ({}) },
  { rpc: 'RunPodSandbox', condition: 'pod name not a DNS-1123 subdomain', code: 'INVALID_ARGUMENT', request: (f) => ({ config: f.podConfig('bad_name!') }) },
  { rpc: 'RunPodSandbox', condition: 'pod name of 1 MiB', code: 'INVALID_ARGUMENT', request: (f) => ({ config: f.podConfig(HUGE) }) },
  { rpc: 'RunPodSandbox', condition: 'namespace longer than 63', code: 'INVALID_ARGUMENT', request: (f) => ({ config: { ...f.podConfig('ns'), metadata: { name: 'ns', namespace: 'n'.repeat(64), uid: 'u1', attempt: 0 } } }) },
  { rpc: 'RunPodSandbox', condition: 'uid with "/" or ".."', code: 'INVALID_ARGUMENT', request: (f) => ({ config: { ...f.podConfig('uid'), metadata: { name: 'uid', namespace: 'berth-test', uid: '../etc', attempt: 0 } } }) },
  { rpc: 'RunPodSandbox', condition: 'label key not a qualified name', code: 'INVALID_ARGUMENT', request: (f) => ({ config: f.podConfig('lk', { labels: { '-bad': 'x' } }) }) },
  { rpc: 'RunPodSandbox', condition: 'label value longer than 63', code: 'INVALID_ARGUMENT', request: (f) => ({ config: f.podConfig('lv', { labels: { app: 'v'.repeat(64) } }) }) },
  { rpc: 'RunPodSandbox', condition: 'annotations over 256 KiB together', code: 'INVALID_ARGUMENT', request: (f) => ({ config: f.podConfig('ann', { annotations: { a: 'x'.repeat(200 * 1024), b: 'y'.repeat(100 * 1024) } }) }) },
  { rpc: 'RunPodSandbox', condition: 'log_directory relative', code: 'INVALID_ARGUMENT', request: (f) => ({ config: f.podConfig('logrel', { log_directory: 'var/log/pods/x' }) }) },
  { rpc: 'RunPodSandbox', condition: 'log_directory outside the pod log roots', code: 'INVALID_ARGUMENT', request: (f) => ({ config: f.podConfig('logout', { log_directory: '/etc/berth-test-logs' }) }) },
  { rpc: 'RunPodSandbox', condition: 'unknown runtime handler', code: 'INVALID_ARGUMENT', request: (f) => ({ config: f.podConfig('handler'), runtime_handler: 'no-such-handler' }) },
  { rpc: 'RunPodSandbox', condition: 'unknown namespace mode (enum value 9)', code: 'INVALID_ARGUMENT', request: (f) => podSc(f, 'nsmode', { namespace_options: { network: 9 } }) },
  { rpc: 'RunPodSandbox', condition: 'pod seccomp Localhost profile relative', code: 'INVALID_ARGUMENT', request: (f) => podSc(f, 'secrel', { seccomp: { profile_type: 'Localhost', localhost_ref: 'profiles/ok.json' } }) },
  { rpc: 'RunPodSandbox', condition: 'pod seccomp Localhost profile with ".."', code: 'INVALID_ARGUMENT', request: (f) => podSc(f, 'secdot', { seccomp: { profile_type: 'Localhost', localhost_ref: `${f.seccompDir}/dir/../ok.json` } }) },
  { rpc: 'RunPodSandbox', condition: 'pod seccomp Localhost profile missing', code: 'INVALID_ARGUMENT', request: (f) => podSc(f, 'secmiss', { seccomp: { profile_type: 'Localhost', localhost_ref: join(f.seccompDir, 'missing.json') } }) },
  { rpc: 'RunPodSandbox', condition: 'pod seccomp Localhost profile a directory', code: 'INVALID_ARGUMENT', request: (f) => podSc(f, 'secdir', { seccomp: { profile_type: 'Localhost', localhost_ref: join(f.seccompDir, 'dir') } }) },
  { rpc: 'RunPodSandbox', condition: 'pod seccomp_profile_path of unknown form', code: 'INVALID_ARGUMENT', request: (f) => podSc(f, 'secform', { seccomp_profile_path: 'docker/strict' }) },
  { rpc: 'RunPodSandbox', condition: 'pod AppArmor Localhost profile name with ".."', code: 'INVALID_ARGUMENT', request: (f) => podSc(f, 'aadots', { apparmor: { profile_type: 'Localhost', localhost_ref: 'x/../../etc/apparmor.d/y' } }) },
  { rpc: 'RunPodSandbox', condition: 'pod resources with a negative memory limit', code: 'INVALID_ARGUMENT', request: (f) => ({ config: f.podConfig('podres', { linux: { resources: { memory_limit_in_bytes: '-5' } } }) }) },
  // CreateContainer
  { rpc: 'CreateContainer', condition: 'unknown pod sandbox', code: 'NOT_FOUND', request: (f) => ({ pod_sandbox_id: UNKNOWN_ID, config: ctr(f, 'nopod') }) },
  { rpc: 'CreateContainer', condition: 'pod sandbox not ready', code: 'FAILED_PRECONDITION', request: (f) => ({ pod_sandbox_id: f.stoppedPod.id, config: ctr(f, 'notready'), sandbox_config: f.stoppedPod.config }) },
  { rpc: 'CreateContainer', condition: 'same name and attempt in the pod', code: 'ALREADY_EXISTS', request: (f) => create(f, ctr(f, 'running')) },
  { rpc: 'CreateContainer', condition: 'image not present', code: 'NOT_FOUND', request: (f) => create(f, ctr(f, 'noimage', { image: { image: 'berth-test.invalid/none:1' } })) },
  { rpc: 'CreateContainer', condition: 'container name not a DNS-1123 label', code: 'INVALID_ARGUMENT', request: (f) => create(f, ctr(f, 'bad.name')) },
  { rpc: 'CreateContainer', condition: 'empty first command element', code: 'INVALID_ARGUMENT', request: (f) => create(f, ctr(f, 'emptycmd', { command: ['', 'x'] })) },
  { rpc: 'CreateContainer', condition: 'no command and an image without Entrypoint or Cmd', code: 'INVALID_ARGUMENT', request: (f) => create(f, ctr(f, 'nocmd', { image: { image: f.bareImage }, command: [] })) },
  { rpc: 'CreateContainer', condition: 'command the runtime cannot find (runtime\'s reason)', code: 'INVALID_ARGUMENT', request: (f) => create(f, ctr(f, 'missing', { command: ['/no/such/program'] })) },
  { rpc: 'CreateContainer', condition: 'working_dir relative', code: 'INVALID_ARGUMENT', request: (f) => create(f, ctr(f, 'wd', { working_dir: 'tmp' })) },
  { rpc: 'CreateContainer', condition: 'environment variable name with "="', code: 'INVALID_ARGUMENT', request: (f) => create(f, ctr(f, 'envkey', { envs: [{ key: 'A=B', value: Buffer.from('x') }] })) },
  { rpc: 'CreateContainer', condition: 'mount container_path with ".."', code: 'INVALID_ARGUMENT', request: (f) => create(f, ctr(f, 'mcp', { mounts: [{ container_path: '/data/../etc', host_path: '/tmp' }] })) },
  { rpc: 'CreateContainer', condition: 'mount host_path relative', code: 'INVALID_ARGUMENT', request: (f) => create(f, ctr(f, 'mhp', { mounts: [{ container_path: '/data', host_path: 'tmp' }] })) },
  { rpc: 'CreateContainer', condition: 'unknown mount propagation (enum value 7)', code: 'INVALID_ARGUMENT', request: (f) => create(f, ctr(f, 'mprop', { mounts: [{ container_path: '/data', host_path: '/tmp', propagation: 7 }] })) },
  { rpc: 'CreateContainer', condition: 'log_path with ".."', code: 'INVALID_ARGUMENT', request: (f) => create(f, ctr(f, 'logp', { log_path: '../escape.log' })) },
  { rpc: 'CreateContainer', condition: 'masked path relative', code: 'INVALID_ARGUMENT', request: (f) => withLinux(f, 'masked', { security_context: { masked_paths: ['proc/kcore'] } }) },
  { rpc: 'CreateContainer', condition: 'readonly path with ".."', code: 'INVALID_ARGUMENT', request: (f) => withLinux(f, 'ropath', { security_context: { readonly_paths: ['/proc/../etc'] } }) },
  { rpc: 'CreateContainer', condition: 'seccomp Localhost profile relative', code: 'INVALID_ARGUMENT', request: (f) => withLinux(f, 'csec', { security_context: { seccomp: { profile_type: 'Localhost', localhost_ref: 'ok.json' } } }) },
  { rpc: 'CreateContainer', condition: 'seccomp profile type unknown (enum value 5)', code: 'INVALID_ARGUMENT', request: (f) => withLinux(f, 'csectype', { security_context: { seccomp: { profile_type: 5 } } }) },
  { rpc: 'CreateContainer', condition: 'legacy seccomp "localhost/" path relative', code: 'INVALID_ARGUMENT', request: (f) => withLinux(f, 'clegacy', { security_context: { seccomp_profile_path: 'localhost/ok.json' } }) },
  { rpc: 'CreateContainer', condition: 'AppArmor profile name with forbidden characters', code: 'INVALID_ARGUMENT', request: (f) => withLinux(f, 'caa', { security_context: { apparmor_profile: 'localhost/bad name' } }) },
  { rpc: 'CreateContainer', condition: 'memory limit below 6 MiB (runc\'s least)', code: 'INVALID_ARGUMENT', request: (f) => withLinux(f, 'mem', res({ memory_limit_in_bytes: String(1 * MiB) })) },
  { rpc: 'CreateContainer', condition: 'negative CPU quota', code: 'INVALID_ARGUMENT', request: (f) => withLinux(f, 'quota', res({ cpu_quota: '-5' })) },
  { rpc: 'CreateContainer', condition: 'cpuset naming a CPU the host lacks', code: 'INVALID_ARGUMENT', request: (f) => withLinux(f, 'cpus', res({ cpuset_cpus: '4095' })) },
  { rpc: 'CreateContainer', condition: 'cpuset naming a memory node the host lacks', code: 'INVALID_ARGUMENT', request: (f) => withLinux(f, 'mems', res({ cpuset_mems: '63' })) },
  { rpc: 'CreateContainer', condition: 'hugepage size the host does not offer', code: 'INVALID_ARGUMENT', request: (f) => withLinux(f, 'huge', res({ hugepage_limits: [{ page_size: '16GB', limit: '0' }] })) },
  { rpc: 'CreateContainer', condition: 'oom_score_adj outside -1000..1000', code: 'INVALID_ARGUMENT', request: (f) => withLinux(f, 'oom', res({ oom_score_adj: '5000' })) },
  { rpc: 'CreateContainer', condition: 'run_as_user outside 0..4294967294', code: 'INVALID_ARGUMENT', request: (f) => withLinux(f, 'uid', { security_context: { run_as_user: { value: '-1' } } }) },
  { rpc: 'CreateContainer', condition: 'unknown stop signal (enum value 99)', code: 'INVALID_ARGUMENT', request: (f) => create(f, ctr(f, 'sig', { stop_signal: 99 })) },
  // The other container RPCs
  { rpc: 'StartContainer', condition: 'unknown container', code: 'NOT_FOUND', request: () => ({ container_id: UNKNOWN_ID }) },
  { rpc: 'StartContainer', condition: 'container already running', code: 'FAILED_PRECONDITION', request: (f) => ({ container_id: f.running }) },
  { rpc: 'StopContainer', condition: 'negative timeout', code: 'INVALID_ARGUMENT', request: (f) => ({ container_id: f.running, timeout: '-1' }) },
  { rpc: 'StopContainer', condition: 'unknown container', code: 'NOT_FOUND', request: () => ({ container_id: UNKNOWN_ID }) },
  { rpc: 'RemoveContainer', condition: 'unknown container (already removed)', code: 'OK', request: () => ({ container_id: UNKNOWN_ID }) },
  { rpc: 'RemoveContainer', condition: 'id of 1 MiB', code: 'INVALID_ARGUMENT', request: () => ({ container_id: HUGE }) },
  { rpc: 'ContainerStatus', condition: 'unknown container', code: 'NOT_FOUND', request: () => ({ container_id: UNKNOWN_ID }) },
  { rpc: 'ContainerStatus', condition: 'id of 1 MiB', code: 'INVALID_ARGUMENT', request: () => ({ container_id: HUGE }) },
  { rpc: 'ContainerStatus', condition: 'empty id', code: 'INVALID_ARGUMENT', request: () => ({ container_id: '' }) },
  { rpc: 'ContainerStatus', condition: 'request over 16 MiB (gRPC receive limit)', code: 'RESOURCE_EXHAUSTED', request: () => ({ container_id: 'y'.repeat(17 * MiB) }) },
  { rpc: 'ListContainers', condition: 'unknown state in the filter (enum value 8)', code: 'INVALID_ARGUMENT', request: () => ({ filter: { state: { state: 8 } } }) },
  { rpc: 'ExecSync', condition: 'empty command', code: 'INVALID_ARGUMENT', request: (f) => ({ container_id: f.running, cmd: [] }) },
  { rpc: 'ExecSync', condition: 'empty first command element', code: 'INVALID_ARGUMENT', request: (f) => ({ container_id: f.running, cmd: ['', 'x'] }) },
  { rpc: 'ExecSync', condition: 'negative timeout', code: 'INVALID_ARGUMENT', request: (f) => ({ container_id: f.running, cmd: ['true'], timeout: '-1' }) },
  { rpc: 'ExecSync', condition: 'container not running', code: 'FAILED_PRECONDITION', request: (f) => ({ container_id: f.created, cmd: ['true'] }) },
  { rpc: 'ExecSync', condition: 'command the runtime cannot find (runtime\'s reason)', code: 'INVALID_ARGUMENT', request: (f) => ({ container_id: f.running, cmd: ['/no/such/program'], timeout: '10' }) },
  { rpc: 'Exec', condition: 'empty first command element', code: 'INVALID_ARGUMENT', request: (f) => ({ container_id: f.running, cmd: [''], stdout: true }) },
  { rpc: 'Exec', condition: 'unknown container', code: 'NOT_FOUND', request: () => ({ container_id: UNKNOWN_ID, cmd: ['true'], stdout: true }) },
  { rpc: 'Attach', condition: 'id of 1 MiB', code: 'INVALID_ARGUMENT', request: () => ({ container_id: HUGE, stdout: true }) },
  { rpc: 'PortForward', condition: 'port outside 1..65535', code: 'INVALID_ARGUMENT', request: (f) => ({ pod_sandbox_id: f.pod.id, port: [70000] }) },
  { rpc: 'UpdateContainerResources', condition: 'memory limit below 6 MiB (runc\'s least)', code: 'INVALID_ARGUMENT', request: (f) => ({ container_id: f.running, linux: { memory_limit_in_bytes: String(2 * MiB) } }) },
  { rpc: 'UpdateContainerResources', condition: 'cpuset naming a CPU the host lacks', code: 'INVALID_ARGUMENT', request: (f) => ({ container_id: f.running, linux: { cpuset_cpus: '0-4095' } }) },
  { rpc: 'UpdateContainerResources', condition: 'memory limit below the container\'s usage (runtime\'s reason)', code: 'FAILED_PRECONDITION', request: (f) => ({ container_id: f.hog, linux: { memory_limit_in_bytes: String(8 * MiB) } }) },
  { rpc: 'UpdateContainerResources', condition: 'unknown container', code: 'NOT_FOUND', request: () => ({ container_id: UNKNOWN_ID, linux: {} }) },
  { rpc: 'ReopenContainerLog', condition: 'container not running', code: 'FAILED_PRECONDITION', request: (f) => ({ container_id: f.created }) },
  // Pod sandbox RPCs by id
  { rpc: 'StopPodSandbox', condition: 'unknown pod sandbox', code: 'NOT_FOUND', request: () => ({ pod_sandbox_id: UNKNOWN_ID }) },
  { rpc: 'StopPodSandbox', condition: 'id of 1 MiB', code: 'INVALID_ARGUMENT', request: () => ({ pod_sandbox_id: HUGE }) },
  { rpc: 'RemovePodSandbox', condition: 'unknown pod sandbox (already removed)', code: 'OK', request: () => ({ pod_sandbox_id: UNKNOWN_ID }) },
  { rpc: 'RemovePodSandbox', condition: 'id with control characters', code: 'INVALID_ARGUMENT', request: () => ({ pod_sandbox_id: 'abc\u0000\n' }) },
  { rpc: 'PodSandboxStatus', condition: 'unknown pod sandbox', code: 'NOT_FOUND', request: () => ({ pod_sandbox_id: UNKNOWN_ID }) },
  { rpc: 'UpdateRuntimeConfig', condition: 'pod CIDR that is not a CIDR', code: 'INVALID_ARGUMENT', request: () => ({ runtime_config: { network_config: { pod_cidr: '10.0.0.0/99' } } }) },
  { rpc: 'CheckpointContainer', condition: 'any request (not implemented)', code: 'UNIMPLEMENTED', request: (f) => ({ container_id: f.running, location: '/tmp/x.tar' }) },
  // Images
  { rpc: 'PullImage', condition: 'empty image', code: 'INVALID_ARGUMENT', service: 'image', request: () => ({ image: { image: '' } }) },
  { rpc: 'PullImage', condition: 'reference that does not parse', code: 'INVALID_ARGUMENT', service: 'image', request: () => ({ image: { image: 'UPPER/Case:tag' } }) },
  { rpc: 'PullImage', condition: 'reference of 1 MiB', code: 'INVALID_ARGUMENT', service: 'image', request: () => ({ image: { image: HUGE } }) },
  { rpc: 'ImageStatus', condition: 'image not present', code: 'OK', service: 'image', request: () => ({ image: { image: 'berth-test.invalid/none:1' } }) },
  { rpc: 'RemoveImage', condition: 'image not present', code: 'OK', service: 'image', request: () => ({ image: { image: 'berth-test.invalid/none:1' } }) },
];

/** The README table of the rows (what goes between the error-contract markers). */
export function contractTable(): string {
  return ['| RPC | condition | code |', '|---|---|---|', ...CONTRACT.map((r) => `| ${r.rpc} | ${r.condition} | ${r.code} |`)].join('\n');
}
