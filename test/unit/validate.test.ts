// The edge validation (server/validate): every request passes through the proto's own
// serializer and deserializer first, so rows see exactly what berthd's handlers see. What
// kubelet 1.26+ and critest send must pass; each class of bad field is refused with
// INVALID_ARGUMENT, a message naming the field and never more than a short prefix of the
// input. Also the pieces: shown(), host lists and hugepage names, signals, errno kinds,
// runtime words, the status-code backstop.
import test from 'ava';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as protoLoader from '@grpc/proto-loader';
import { CRI_PROTO_PATH, LOADER_OPTIONS } from '../../wire/cri/proto.js';
import { validateRequest, REQUEST_RULES, type ValidationEnv } from '../../server/validate/requests.js';
import { shown } from '../../server/validate/text.js';
import { hugepageSizeName, parseCpuList, readHostOffer } from '../../server/validate/host.js';
import { LIMITS } from '../../server/validate/limits.js';
import { canonicalSignal, stopSignal } from '../../server/oci/process.js';
import { BerthError, internal, systemErrorKind } from '../../server/errors.js';
import { classifyRuntimeWords } from '../../server/runtime/errors.js';
import { MAX_DETAILS, toServiceError } from '../../server/cri/status-codes.js';

const def = protoLoader.loadSync(CRI_PROTO_PATH, LOADER_OPTIONS);
type Method = { requestSerialize: (v: unknown) => Buffer; requestDeserialize: (b: Buffer) => unknown };
function wire(method: string, req: object): unknown {
  for (const svc of ['runtime.v1.RuntimeService', 'runtime.v1.ImageService']) {
    const m = (def[svc] as unknown as Record<string, Method>)[method];
    if (m) return m.requestDeserialize(m.requestSerialize(req));
  }
  throw new Error(`no RPC ${method}`);
}

let dir = '';
let env: ValidationEnv;
test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-validate-'));
  await writeFile(join(dir, 'ok.json'), '{"defaultAction":"SCMP_ACT_ALLOW"}');
  await mkdir(join(dir, 'dir'));
  await writeFile(join(dir, 'huge.json'), Buffer.alloc(LIMITS.seccompProfileBytes + 1, 0x20));
  env = { seccompProfileRoots: [], host: { cpus: new Set([0, 1]), mems: new Set([0]), hugepageSizes: ['2MB', '1GB'] } };
});
test.after.always(() => rm(dir, { recursive: true, force: true }));

const MiB = 1024 * 1024;
const POD_UID = '6a3b0e0e-2f7c-4d0e-9d44-6b1b0b8f1c2a';

/** A RunPodSandbox config as kubelet 1.26+ sends it (the form of kuberuntime_sandbox.go). */
function kubeletPod(over: Record<string, unknown> = {}) {
  return {
    metadata: { name: 'web-7d4b9c8f6d-x2x9k', namespace: 'default', uid: POD_UID, attempt: 0 },
    hostname: 'web-7d4b9c8f6d-x2x9k',
    log_directory: `/var/log/pods/default_web-7d4b9c8f6d-x2x9k_${POD_UID}`,
    dns_config: { servers: ['10.96.0.10'], searches: ['default.svc.cluster.local', 'svc.cluster.local'], options: ['ndots:5'] },
    port_mappings: [{ protocol: 'TCP', container_port: 8080, host_port: 0, host_ip: '' }],
    labels: {
      app: 'web',
      'pod-template-hash': '7d4b9c8f6d',
      'io.kubernetes.pod.name': 'web-7d4b9c8f6d-x2x9k',
      'io.kubernetes.pod.namespace': 'default',
      'io.kubernetes.pod.uid': POD_UID,
    },
    annotations: { 'kubernetes.io/config.seen': '2026-12-03T12:00:00.000000000Z', 'kubernetes.io/config.source': 'api' },
    linux: {
      cgroup_parent: `/kubepods/besteffort/pod${POD_UID}`,
      security_context: { namespace_options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' }, seccomp: { profile_type: 'RuntimeDefault' } },
      sysctls: {},
      overhead: {},
      resources: { cpu_period: '100000', cpu_shares: '2', memory_limit_in_bytes: '0' },
    },
    ...over,
  };
}

/** A CreateContainer config as kubelet sends it. */
function kubeletContainer(over: Record<string, unknown> = {}, linux: Record<string, unknown> = {}) {
  return {
    metadata: { name: 'web', attempt: 0 },
    image: { image: 'sha256:' + 'a'.repeat(64), user_specified_image: 'nginx:1.25' },
    command: [],
    args: [],
    working_dir: '',
    envs: [{ key: 'KUBERNETES_SERVICE_HOST', value: Buffer.from('10.96.0.1') }, { key: 'EMPTY', value: Buffer.alloc(0) }],
    mounts: [
      { container_path: '/var/run/secrets/kubernetes.io/serviceaccount', host_path: `/var/lib/kubelet/pods/${POD_UID}/volumes/kubernetes.io~projected/kube-api-access-abcde`, readonly: true, propagation: 'PROPAGATION_PRIVATE' },
      { container_path: '/etc/hosts', host_path: `/var/lib/kubelet/pods/${POD_UID}/etc-hosts` },
      { container_path: '/dev/termination-log', host_path: `/var/lib/kubelet/pods/${POD_UID}/containers/web/0f1e2d3c` },
    ],
    labels: { 'io.kubernetes.container.name': 'web', 'io.kubernetes.pod.name': 'p'.repeat(200), 'io.kubernetes.pod.namespace': 'default', 'io.kubernetes.pod.uid': POD_UID },
    annotations: { 'io.kubernetes.container.hash': '5a1c0d2f', 'io.kubernetes.container.restartCount': '0', 'io.kubernetes.container.ports': '[{"containerPort":8080,"protocol":"TCP"}]', 'io.kubernetes.pod.terminationGracePeriod': '30' },
    log_path: 'web/0.log',
    linux: {
      resources: { cpu_period: '100000', cpu_quota: '50000', cpu_shares: '512', memory_limit_in_bytes: String(128 * MiB), oom_score_adj: '-997', hugepage_limits: [{ page_size: '2MB', limit: '0' }, { page_size: '1GB', limit: '0' }] },
      security_context: {
        namespace_options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' },
        run_as_user: { value: '1000' },
        supplemental_groups: ['2000'],
        masked_paths: ['/proc/asound', '/proc/acpi', '/proc/kcore'],
        readonly_paths: ['/proc/bus', '/proc/sys'],
        seccomp: { profile_type: 'RuntimeDefault' },
        apparmor: { profile_type: 'RuntimeDefault' },
        ...linux,
      },
    },
    ...over,
  };
}

async function check(method: string, req: object): Promise<string | undefined> {
  try {
    await validateRequest(method, wire(method, req), env);
    return undefined;
  } catch (e) {
    if (!(e instanceof BerthError) || e.kind !== 'InvalidArgument') throw e;
    return e.message;
  }
}

// Requests that must pass: what kubelet 1.26+, crictl and critest send.
const ACCEPTED: Array<[string, string, () => object]> = [
  ['RunPodSandbox', 'a kubelet pod', () => ({ config: kubeletPod() })],
  ['RunPodSandbox', 'critest pod name with capitals', () => ({ config: kubeletPod({ metadata: { name: 'create-PodSandbox-for-container-' + POD_UID, namespace: 'cri-test-namespace' + POD_UID.slice(0, 8), uid: 'cri-test-uid' + POD_UID, attempt: 0 } }) })],
  ['RunPodSandbox', 'host namespaces, no linux section fields', () => ({ config: kubeletPod({ linux: { security_context: { namespace_options: { network: 'NODE', pid: 'NODE', ipc: 'NODE' } } } }) })],
  ['RunPodSandbox', 'seccomp Localhost, absolute (kubelet joins its seccomp root)', () => ({ config: kubeletPod({ linux: { security_context: { seccomp: { profile_type: 'Localhost', localhost_ref: join(dir, 'ok.json') } } } }) })],
  ['RunPodSandbox', 'legacy seccomp_profile_path runtime/default and localhost/<abs>', () => ({ config: kubeletPod({ linux: { security_context: { seccomp_profile_path: `localhost/${join(dir, 'ok.json')}` } } }) })],
  ['RunPodSandbox', 'no log directory, no labels', () => ({ config: kubeletPod({ log_directory: '', labels: {}, annotations: {} }) })],
  ['CreateContainer', 'a kubelet container', () => ({ pod_sandbox_id: 'a'.repeat(64), config: kubeletContainer(), sandbox_config: kubeletPod() })],
  ['CreateContainer', 'critest container name of 75 characters', () => ({ pod_sandbox_id: 'a'.repeat(64), config: kubeletContainer({ metadata: { name: 'container-with-SupplementalGroups-test-' + POD_UID, attempt: 0 } }) })],
  ['CreateContainer', 'command given, args empty strings allowed', () => ({ pod_sandbox_id: 'abc', config: kubeletContainer({ command: ['sh', '-c', ''], args: [''] }) })],
  ['CreateContainer', 'legacy seccomp forms and AppArmor localhost name', () => ({ pod_sandbox_id: 'abc', config: kubeletContainer({}, { seccomp: null, apparmor: null, seccomp_profile_path: 'docker/default', apparmor_profile: 'localhost/k8s-apparmor-example-deny-write' }) })],
  ['CreateContainer', 'seccomp Unconfined, AppArmor Localhost', () => ({ pod_sandbox_id: 'abc', config: kubeletContainer({}, { seccomp: { profile_type: 'Unconfined' }, apparmor: { profile_type: 'Localhost', localhost_ref: 'my-profile_v1.2' } }) })],
  ['CreateContainer', 'memory limit exactly 6 MiB, unlimited -1, cpusets the host has', () => ({ pod_sandbox_id: 'abc', config: kubeletContainer({ linux: { resources: { memory_limit_in_bytes: String(6 * MiB), cpuset_cpus: '0-1', cpuset_mems: '0' } } }) })],
  ['CreateContainer', 'stop signal from the enum', () => ({ pod_sandbox_id: 'abc', config: kubeletContainer({ stop_signal: 'SIGNAL_SIGRTMINPLUS3' }) })],
  ['StopPodSandbox', 'a prefix of an id (crictl)', () => ({ pod_sandbox_id: 'abc123' })],
  ['RemovePodSandbox', 'the conformance probe id (70 characters)', () => ({ pod_sandbox_id: 'conformance-probe-' + '0'.repeat(52) })],
  ['ExecSync', 'a probe', () => ({ container_id: 'a'.repeat(64), cmd: ['cat', '/tmp/healthy'], timeout: '1' })],
  ['ExecSync', 'timeout 0 (none)', () => ({ container_id: 'a'.repeat(64), cmd: ['true'] })],
  ['UpdateContainerResources', 'kubelet resize', () => ({ container_id: 'a'.repeat(64), linux: { cpu_shares: '1024', cpu_quota: '100000', cpu_period: '100000', memory_limit_in_bytes: String(256 * MiB) } })],
  ['ListContainers', 'filter by state and labels', () => ({ filter: { state: { state: 'CONTAINER_RUNNING' }, label_selector: { 'io.kubernetes.pod.uid': POD_UID } } })],
  ['ListPodSandbox', 'no filter', () => ({})],
  ['PullImage', 'with the pod config', () => ({ image: { image: 'registry.k8s.io/pause:3.9' }, sandbox_config: kubeletPod() })],
  ['Version', 'anything', () => ({ version: 'v1' })],
  ['ListImages', 'filter by reference', () => ({ filter: { image: { image: 'busybox' } } })],
];

for (const [method, what, req] of ACCEPTED) {
  test(`accepted: ${method}: ${what}`, async (t) => {
    t.is(await check(method, req()), undefined);
  });
}

// Requests refused, with a pattern the message must match (it names the field).
const REFUSED: Array<[string, string, () => object, RegExp]> = [
  ['RunPodSandbox', 'no config', () => ({}), /config is required/],
  ['RunPodSandbox', 'no metadata', () => ({ config: kubeletPod({ metadata: null }) }), /metadata is required/],
  ['RunPodSandbox', 'pod name with "_"', () => ({ config: kubeletPod({ metadata: { name: 'a_b', namespace: 'ns', uid: 'u', attempt: 0 } }) }), /metadata\.name .* DNS-1123 subdomain/],
  ['RunPodSandbox', 'pod name of 254', () => ({ config: kubeletPod({ metadata: { name: 'a'.repeat(254), namespace: 'ns', uid: 'u', attempt: 0 } }) }), /254 characters long; at most 253/],
  ['RunPodSandbox', 'namespace of 64', () => ({ config: kubeletPod({ metadata: { name: 'a', namespace: 'n'.repeat(64), uid: 'u', attempt: 0 } }) }), /namespace is 64 characters/],
  ['RunPodSandbox', 'uid with "/"', () => ({ config: kubeletPod({ metadata: { name: 'a', namespace: 'ns', uid: 'a/b', attempt: 0 } }) }), /uid .*no '\/'/],
  ['RunPodSandbox', 'uid ".."', () => ({ config: kubeletPod({ metadata: { name: 'a', namespace: 'ns', uid: 'a..b', attempt: 0 } }) }), /uid/],
  ['RunPodSandbox', 'uid with NUL', () => ({ config: kubeletPod({ metadata: { name: 'a', namespace: 'ns', uid: 'a\u0000', attempt: 0 } }) }), /uid "a\\u0000"/],
  ['RunPodSandbox', 'label key prefix upper case', () => ({ config: kubeletPod({ labels: { 'Example.com/a': 'b' } }) }), /prefix must be a lower-case/],
  ['RunPodSandbox', 'label key name of 64', () => ({ config: kubeletPod({ labels: { ['k'.repeat(64)]: 'b' } }) }), /name part must be 1 to 63/],
  ['RunPodSandbox', 'label key prefix of 254', () => ({ config: kubeletPod({ labels: { [`${'a'.repeat(254)}/k`]: 'b' } }) }), /prefix is 254 characters/],
  ['RunPodSandbox', 'label value with a space', () => ({ config: kubeletPod({ labels: { a: 'b c' } }) }), /labels\["a"\] value "b c"/],
  ['RunPodSandbox', 'label value of 64', () => ({ config: kubeletPod({ labels: { a: 'v'.repeat(64) } }) }), /64 characters; a label value has at most 63/],
  ['RunPodSandbox', 'annotation key with a space', () => ({ config: kubeletPod({ annotations: { 'a b': 'x' } }) }), /annotations key "a b"/],
  ['RunPodSandbox', 'annotations over 256 KiB', () => ({ config: kubeletPod({ annotations: { a: 'x'.repeat(100 * 1024), b: 'x'.repeat(100 * 1024), c: 'x'.repeat(100 * 1024) } }) }), /256 KiB/],
  ['RunPodSandbox', 'log_directory relative', () => ({ config: kubeletPod({ log_directory: 'logs' }) }), /log_directory "logs" must be an absolute path/],
  ['RunPodSandbox', 'log_directory with ..', () => ({ config: kubeletPod({ log_directory: '/var/log/pods/../../etc' }) }), /must not contain "\.\."/],
  ['RunPodSandbox', 'unknown namespace mode number', () => ({ config: kubeletPod({ linux: { security_context: { namespace_options: { ipc: 12 } } } }) }), /namespace_options\.ipc "12" is not one of POD, CONTAINER, NODE, TARGET/],
  ['RunPodSandbox', 'unknown protocol', () => ({ config: kubeletPod({ port_mappings: [{ protocol: 9, container_port: 80 }] }) }), /port_mappings\[0\]\.protocol/],
  ['RunPodSandbox', 'seccomp Localhost relative', () => ({ config: kubeletPod({ linux: { security_context: { seccomp: { profile_type: 'Localhost', localhost_ref: 'ok.json' } } } }) }), /localhost_ref "ok.json" must be an absolute path/],
  ['RunPodSandbox', 'seccomp Localhost not clean', () => ({ config: kubeletPod({ linux: { security_context: { seccomp: { profile_type: 'Localhost', localhost_ref: `${dir}//ok.json` } } } }) }), /not a clean path/],
  ['RunPodSandbox', 'seccomp Localhost missing', () => ({ config: kubeletPod({ linux: { security_context: { seccomp: { profile_type: 'Localhost', localhost_ref: join(dir, 'nope.json') } } } }) }), /cannot be read \(ENOENT\)/],
  ['RunPodSandbox', 'seccomp Localhost a directory', () => ({ config: kubeletPod({ linux: { security_context: { seccomp: { profile_type: 'Localhost', localhost_ref: join(dir, 'dir') } } } }) }), /is not a regular file/],
  ['RunPodSandbox', 'seccomp Localhost profile over 1 MiB', () => ({ config: kubeletPod({ linux: { security_context: { seccomp: { profile_type: 'Localhost', localhost_ref: join(dir, 'huge.json') } } } }) }), /is 1048577 bytes; a seccomp profile has at most 1048576/],
  ['RunPodSandbox', 'seccomp Localhost without a ref', () => ({ config: kubeletPod({ linux: { security_context: { seccomp: { profile_type: 'Localhost' } } } }) }), /must name a profile file/],
  ['RunPodSandbox', 'seccomp ref for RuntimeDefault', () => ({ config: kubeletPod({ linux: { security_context: { seccomp: { profile_type: 'RuntimeDefault', localhost_ref: '/x' } } } }) }), /only for profile type Localhost/],
  ['RunPodSandbox', 'seccomp_profile_path unknown', () => ({ config: kubeletPod({ linux: { security_context: { seccomp_profile_path: 'strict' } } }) }), /seccomp_profile_path "strict" is not/],
  ['RunPodSandbox', 'legacy localhost/ relative', () => ({ config: kubeletPod({ linux: { security_context: { seccomp_profile_path: 'localhost/profiles/x.json' } } }) }), /must be an absolute path/],
  ['RunPodSandbox', 'AppArmor localhost name with ".."', () => ({ config: kubeletPod({ linux: { security_context: { apparmor: { profile_type: 'Localhost', localhost_ref: 'x/../../etc/p' } } } }) }), /apparmor\.localhost_ref: apparmor profile name "x\/\.\.\/\.\.\/etc\/p" is not valid/],
  ['RunPodSandbox', 'AppArmor localhost name with a space', () => ({ config: kubeletPod({ linux: { security_context: { apparmor: { profile_type: 'Localhost', localhost_ref: 'a b' } } } }) }), /is not valid: a loaded profile's name/],
  ['RunPodSandbox', 'pod resources: cpuset beyond the host', () => ({ config: kubeletPod({ linux: { resources: { cpuset_cpus: '0-3' } } }) }), /names CPUs 2,3 that this host does not have \(it has 0,1\)/],
  ['RunPodSandbox', 'pod overhead negative memory', () => ({ config: kubeletPod({ linux: { overhead: { memory_limit_in_bytes: '-2' } } }) }), /overhead: memory_limit_in_bytes -2 is negative/],
  ['RunPodSandbox', 'run_as_user negative', () => ({ config: kubeletPod({ linux: { security_context: { run_as_user: { value: '-1' } } } }) }), /run_as_user -1 is outside 0\.\.4294967294/],
  ['CreateContainer', 'no config', () => ({ pod_sandbox_id: 'abc' }), /config is required/],
  ['CreateContainer', 'no pod id', () => ({ config: kubeletContainer() }), /pod_sandbox_id must not be empty/],
  ['CreateContainer', 'container name with "."', () => ({ pod_sandbox_id: 'abc', config: kubeletContainer({ metadata: { name: 'a.b', attempt: 0 } }) }), /DNS-1123 label/],
  ['CreateContainer', 'no image', () => ({ pod_sandbox_id: 'abc', config: kubeletContainer({ image: null }) }), /must name an image/],
  ['CreateContainer', 'empty first command element', () => ({ pod_sandbox_id: 'abc', config: kubeletContainer({ command: ['', '-c'] }) }), /command\[0\] \(the program\) must not be empty/],
  ['CreateContainer', 'NUL in an argument', () => ({ pod_sandbox_id: 'abc', config: kubeletContainer({ args: ['a\u0000b'] }) }), /args\[0\] contains a NUL byte/],
  ['CreateContainer', 'working_dir relative', () => ({ pod_sandbox_id: 'abc', config: kubeletContainer({ working_dir: 'app' }) }), /working_dir "app" must be an absolute path/],
  ['CreateContainer', 'NUL in an env value', () => ({ pod_sandbox_id: 'abc', config: kubeletContainer({ envs: [{ key: 'A', value: Buffer.from('a\u0000b') }] }) }), /envs\[0\] \("A"\) has a NUL byte/],
  ['CreateContainer', 'env key empty', () => ({ pod_sandbox_id: 'abc', config: kubeletContainer({ envs: [{ key: '', value: Buffer.from('x') }] }) }), /envs\[0\]\.key "" is not a variable name/],
  ['CreateContainer', 'mount container path relative', () => ({ pod_sandbox_id: 'abc', config: kubeletContainer({ mounts: [{ container_path: 'data', host_path: '/d' }] }) }), /mounts\[0\]\.container_path "data"/],
  ['CreateContainer', 'mount host path with ..', () => ({ pod_sandbox_id: 'abc', config: kubeletContainer({ mounts: [{ container_path: '/data', host_path: '/var/../etc' }] }) }), /mounts\[0\]\.host_path .* must not contain/],
  ['CreateContainer', 'mount path component over NAME_MAX', () => ({ pod_sandbox_id: 'abc', config: kubeletContainer({ mounts: [{ container_path: '/' + 'a'.repeat(256), host_path: '/d' }] }) }), /NAME_MAX/],
  ['CreateContainer', 'mount path over PATH_MAX', () => ({ pod_sandbox_id: 'abc', config: kubeletContainer({ mounts: [{ container_path: '/a'.repeat(2049), host_path: '/d' }] }) }), /4098 characters long; at most 4096/],
  ['CreateContainer', 'device path relative', () => ({ pod_sandbox_id: 'abc', config: kubeletContainer({ devices: [{ container_path: 'dev/x', host_path: '/dev/null', permissions: 'rw' }] }) }), /devices\[0\]\.container_path/],
  ['CreateContainer', 'device permissions', () => ({ pod_sandbox_id: 'abc', config: kubeletContainer({ devices: [{ container_path: '/dev/x', host_path: '/dev/null', permissions: 'rwx' }] }) }), /permissions "rwx"/],
  ['CreateContainer', 'log_path absolute', () => ({ pod_sandbox_id: 'abc', config: kubeletContainer({ log_path: '/etc/passwd' }) }), /log_path "\/etc\/passwd" must be relative/],
  ['CreateContainer', 'log_path with ..', () => ({ pod_sandbox_id: 'abc', config: kubeletContainer({ log_path: 'a/../../b' }) }), /log_path .* escapes its directory/],
  ['CreateContainer', 'masked path relative', () => ({ pod_sandbox_id: 'abc', config: kubeletContainer({}, { masked_paths: ['proc/kcore'] }) }), /masked_paths\[0\]/],
  ['CreateContainer', 'readonly path with ..', () => ({ pod_sandbox_id: 'abc', config: kubeletContainer({}, { readonly_paths: ['/proc/../x'] }) }), /readonly_paths\[0\]/],
  ['CreateContainer', 'capability name junk', () => ({ pod_sandbox_id: 'abc', config: kubeletContainer({}, { capabilities: { add_capabilities: ['NET_ADMIN; rm'] } }) }), /not a capability name/],
  ['CreateContainer', 'AppArmor deprecated unknown form', () => ({ pod_sandbox_id: 'abc', config: kubeletContainer({}, { apparmor: null, apparmor_profile: 'complain' }) }), /apparmor_profile "complain"/],
  ['CreateContainer', 'seccomp type unknown number', () => ({ pod_sandbox_id: 'abc', config: kubeletContainer({}, { seccomp: { profile_type: 7 } }) }), /seccomp\.profile_type "7"/],
  ['CreateContainer', 'memory limit 1 MiB', () => ({ pod_sandbox_id: 'abc', config: kubeletContainer({ linux: { resources: { memory_limit_in_bytes: String(MiB) } } }) }), /below 6291456 \(6 MiB\).*runc/],
  ['CreateContainer', 'memory limit not a number', () => ({ pod_sandbox_id: 'abc', config: kubeletContainer({ linux: { resources: { cpu_shares: '-3' } } }) }), /cpu_shares -3 is negative/],
  ['CreateContainer', 'cpu quota below the kernel minimum', () => ({ pod_sandbox_id: 'abc', config: kubeletContainer({ linux: { resources: { cpu_quota: '10' } } }) }), /below the kernel's minimum/],
  ['CreateContainer', 'cpuset mems node 1', () => ({ pod_sandbox_id: 'abc', config: kubeletContainer({ linux: { resources: { cpuset_mems: '0-1' } } }) }), /names memory nodes 1 that this host does not have/],
  ['CreateContainer', 'cpuset syntax', () => ({ pod_sandbox_id: 'abc', config: kubeletContainer({ linux: { resources: { cpuset_cpus: '0;1' } } }) }), /is not a CPU\/node list/],
  ['CreateContainer', 'hugepage size not offered', () => ({ pod_sandbox_id: 'abc', config: kubeletContainer({ linux: { resources: { hugepage_limits: [{ page_size: '64KB', limit: '0' }] } } }) }), /"64KB" is not offered by this host \(it offers 2MB, 1GB\)/],
  ['CreateContainer', 'oom_score_adj out of range', () => ({ pod_sandbox_id: 'abc', config: kubeletContainer({ linux: { resources: { oom_score_adj: '-1001' } } }) }), /oom_score_adj -1001 is outside -1000\.\.1000/],
  ['CreateContainer', 'stop signal unknown number', () => ({ pod_sandbox_id: 'abc', config: kubeletContainer({ stop_signal: 66 }) }), /stop_signal "66" is not one of the 66 names of its enum \(SIGNAL_RUNTIME_DEFAULT/],
  ['CreateContainer', 'run_as_username with ":"', () => ({ pod_sandbox_id: 'abc', config: kubeletContainer({}, { run_as_username: 'a:b' }) }), /run_as_username/],
  ['CreateContainer', 'supplemental_groups_policy unknown', () => ({ pod_sandbox_id: 'abc', config: kubeletContainer({}, { supplemental_groups_policy: 4 }) }), /supplemental_groups_policy "4"/],
  ['StopContainer', 'negative timeout', () => ({ container_id: 'abc', timeout: '-1' }), /timeout -1 is outside 0\.\./],
  ['ContainerStatus', 'empty id', () => ({ container_id: '' }), /container_id must not be empty/],
  ['ContainerStatus', 'id of 129', () => ({ container_id: 'a'.repeat(129) }), /129 characters long; at most 128/],
  ['ContainerStatus', 'id with a newline', () => ({ container_id: 'abc\ndef' }), /"abc\\ndef" contains characters no id has/],
  ['ContainerStatus', 'id with "/"', () => ({ container_id: '../x' }), /contains characters no id has/],
  ['ExecSync', 'empty cmd', () => ({ container_id: 'abc', cmd: [] }), /cmd must not be empty/],
  ['ExecSync', 'empty program', () => ({ container_id: 'abc', cmd: [''] }), /cmd\[0\] \(the program\)/],
  ['ExecSync', 'negative timeout', () => ({ container_id: 'abc', cmd: ['true'], timeout: '-5' }), /timeout -5/],
  ['Exec', 'empty program', () => ({ container_id: 'abc', cmd: ['', 'x'] }), /cmd\[0\]/],
  ['UpdateContainerResources', 'memory below the floor', () => ({ container_id: 'abc', linux: { memory_limit_in_bytes: '4096' } }), /below 6291456/],
  ['UpdateContainerResources', 'annotation key junk', () => ({ container_id: 'abc', annotations: { '!': 'x' } }), /annotations key "!"/],
  ['ListContainers', 'unknown state', () => ({ filter: { state: { state: 9 } } }), /filter\.state\.state "9"/],
  ['ListPodSandbox', 'id in the filter with control characters', () => ({ filter: { id: 'a\u0001' } }), /filter\.id/],
  ['PullImage', 'empty image', () => ({ image: { image: '' } }), /image\.image must not be empty/],
  ['PullImage', 'reference of 5000', () => ({ image: { image: 'a'.repeat(5000) } }), /5000 characters long; at most 4096/],
  ['RemoveImage', 'no image', () => ({}), /image\.image must not be empty/],
  ['Version', 'a string of 1 MiB anywhere', () => ({ version: 'v'.repeat(MiB) }), /version is 1048576 characters long; at most 131072/],
];

for (const [method, what, req, re] of REFUSED) {
  test(`refused: ${method}: ${what}`, async (t) => {
    const msg = await check(method, req());
    t.truthy(msg, 'INVALID_ARGUMENT expected');
    t.regex(msg ?? '', re);
    t.true((msg ?? '').length < 600, `message of ${(msg ?? '').length} characters`);
  });
}

test('every RPC with a rule appears in the rows above (accepted or refused)', (t) => {
  const covered = new Set([...ACCEPTED.map((r) => r[0]), ...REFUSED.map((r) => r[0])]);
  const missing = Object.keys(REQUEST_RULES).filter((m) => !covered.has(m) && !/^(Stream|List.*Stats|PodSandbox(Stats|Status)|ContainerStats|StartContainer|RemoveContainer|Attach|PortForward|ReopenContainerLog|ImageStatus|UpdateRuntimeConfig)/.test(m));
  t.deepEqual(missing, []);
});

test('a 1 MiB id is refused with a message of a few dozen characters, promptly enough not to read it twice', async (t) => {
  const huge = 'z'.repeat(MiB);
  for (const [method, req] of [
    ['ContainerStatus', { container_id: huge }],
    ['RemovePodSandbox', { pod_sandbox_id: huge }],
    ['CreateContainer', { pod_sandbox_id: huge, config: kubeletContainer() }],
    ['RunPodSandbox', { config: kubeletPod({ metadata: { name: huge, namespace: 'ns', uid: 'u', attempt: 0 } }) }],
  ] as const) {
    const msg = (await check(method, req)) ?? '';
    t.regex(msg, /1048576 characters/);
    t.true(msg.length < 300, `${method}: ${msg.length}`);
  }
});

test('seccomp profile roots: a Localhost profile outside every configured root is refused', async (t) => {
  const req = { config: kubeletPod({ linux: { security_context: { seccomp: { profile_type: 'Localhost', localhost_ref: join(dir, 'ok.json') } } } }) };
  const saved = env;
  env = { ...saved, seccompProfileRoots: ['/var/lib/kubelet/seccomp'] };
  try {
    t.regex((await check('RunPodSandbox', req)) ?? '', /not inside a configured seccomp profile root \(\/var\/lib\/kubelet\/seccomp\)/);
    env = { ...saved, seccompProfileRoots: [dir] };
    t.is(await check('RunPodSandbox', req), undefined);
  } finally {
    env = saved;
  }
});

test('shown: short text whole and escaped; long text cut to a prefix with its length', (t) => {
  t.is(shown('abc'), '"abc"');
  t.is(shown('a\u0000\n"'), '"a\\u0000\\n\\""');
  const s = shown('x'.repeat(10_000));
  t.true(s.length < 160);
  t.regex(s, /… \(10000 characters\)$/);
  t.is(shown('ab\uD83D\uDE00cd', 3), '"ab"… (6 characters)');
});

test('host lists and hugepage names', async (t) => {
  t.deepEqual([...parseCpuList('0-3,8,10-11')!], [0, 1, 2, 3, 8, 10, 11]);
  t.deepEqual([...parseCpuList('')!], []);
  t.is(parseCpuList('3-1'), undefined);
  t.is(parseCpuList('0-99999999'), undefined);
  t.is(parseCpuList('a'), undefined);
  t.is(hugepageSizeName('hugepages-2048kB'), '2MB');
  t.is(hugepageSizeName('hugepages-1048576kB'), '1GB');
  t.is(hugepageSizeName('hugepages-64kB'), '64KB');
  t.is(hugepageSizeName('other'), undefined);
  const offer = await readHostOffer();
  t.true(offer.cpus.size >= 1 && offer.mems.size >= 1);
  const sys = await mkdtemp(join(tmpdir(), 'berth-sys-'));
  try {
    await mkdir(join(sys, 'devices/system/cpu'), { recursive: true });
    await writeFile(join(sys, 'devices/system/cpu/online'), '0-5\n');
    await mkdir(join(sys, 'kernel/mm/hugepages/hugepages-2048kB'), { recursive: true });
    const fake = await readHostOffer(sys);
    t.deepEqual([...fake.cpus], [0, 1, 2, 3, 4, 5]);
    t.deepEqual([...fake.mems], [0]);
    t.deepEqual(fake.hugepageSizes, ['2MB']);
  } finally {
    await rm(sys, { recursive: true, force: true });
  }
});

test('signals: names, real-time signals as numbers, aliases; out of range refused', (t) => {
  t.is(canonicalSignal('term', 'x'), 'SIGTERM');
  t.is(canonicalSignal('SIGCLD', 'x'), 'SIGCHLD');
  t.is(canonicalSignal('SIGRTMIN', 'x'), '34');
  t.is(canonicalSignal('SIGRTMIN+3', 'x'), '37');
  t.is(canonicalSignal('RTMAXMINUS1', 'x'), '63');
  t.is(canonicalSignal('64', 'x'), '64');
  t.throws(() => canonicalSignal('65', 'x'), { message: /out of range: signals are 1 to 64/ });
  t.throws(() => canonicalSignal('0', 'x'), { message: /out of range/ });
  t.throws(() => canonicalSignal('SIGFOO', 'x'), { message: /is not a signal/ });
  t.throws(() => canonicalSignal('SIGRTMIN+40', 'x'), { message: /is not a signal/ });
  t.is(stopSignal('SIGNAL_SIGRTMAXMINUS2', {}), '62');
  t.is(stopSignal(undefined, { StopSignal: 'SIGWINCH' }), 'SIGWINCH');
  t.throws(() => stopSignal(undefined, { StopSignal: '99' }), { message: /the image's StopSignal 99 is out of range/ });
});

test('errno kinds: a host that ran out of something is RESOURCE_EXHAUSTED, never INTERNAL', (t) => {
  const enospc = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
  t.is(systemErrorKind(enospc), 'ResourceExhausted');
  t.is(systemErrorKind(new Error('x', { cause: Object.assign(new Error('y'), { code: 'EMFILE' }) })), 'ResourceExhausted');
  t.is(systemErrorKind(Object.assign(new Error('z'), { code: 'EIO' })), undefined);
  t.is(internal('writing the bundle failed', enospc).kind, 'ResourceExhausted');
  t.is(internal('a bug').kind, 'Internal');
  t.is(toServiceError(enospc).code, 8); // RESOURCE_EXHAUSTED
  t.is(toServiceError(new TypeError('x is undefined')).code, 2); // UNKNOWN: a bug
});

test('the status-code backstop cuts any message at MAX_DETAILS', (t) => {
  const se = toServiceError(new BerthError('Internal', 'runc said: ' + 'e'.repeat(100_000)));
  t.true(se.details.length <= MAX_DETAILS);
  t.regex(se.details, /message cut at 2048 characters/);
});

test('runtime words: limits too low and values the kernel refuses are the request\'s fault', (t) => {
  t.is(classifyRuntimeWords('create', 'container_linux.go:380: starting container process caused: process_linux.go:545: container init caused: process_linux.go:508: setting cgroup config for procHooks process caused: unable to set memory limit to 4096 (current usage: 1204224, peak usage: 2936832)'), 'InvalidArgument');
  t.is(classifyRuntimeWords('create', 'OOM: the memory limit could be too low'), 'InvalidArgument');
  t.is(classifyRuntimeWords('update', 'unable to set memory limit to 4096 (current usage: 1204224, peak usage: 2936832)'), 'FailedPrecondition');
  t.is(classifyRuntimeWords('create', 'failed to write "7" to "/sys/fs/cgroup/cpuset/x/cpuset.cpus": write /sys/fs/cgroup/cpuset/x/cpuset.cpus: numerical result out of range'), 'InvalidArgument');
  t.is(classifyRuntimeWords('create', 'something nobody expected'), 'Internal');
});

test('the least memory limit is the figure the message names', (t) => {
  t.is(LIMITS.minMemoryBytes, 6291456);
});
