// The JSON documents of `berth ps`, `inspect`, `logs` and `top` (-o json), as JSON Schema
// (the subset test/helpers/json-shape.ts checks: type, required, properties,
// additionalProperties, items, enum). schemaVersion 1: fields are only added within it, and
// the schema tests fail on any field not written down here.
type Schema = Record<string, unknown>;

const str = { type: 'string' };
const int = { type: 'integer' };
const num = { type: 'number' };
const strOrNull = { type: ['string', 'null'] };
const numOrNull = { type: ['number', 'null'] };
const strMap = { type: 'object', additionalProperties: str };

function obj(properties: Record<string, Schema>, optional: string[] = []): Schema {
  return { type: 'object', required: Object.keys(properties).filter((k) => !optional.includes(k)), properties, additionalProperties: false };
}

const envelope = (kind: string, body: Record<string, Schema>): Schema =>
  obj({ schemaVersion: { type: 'integer', enum: [1] }, kind: { type: 'string', enum: [kind] }, mode: { type: 'string', enum: ['berthd', 'read-only'] }, ...body });

export const PS_CONTAINER = obj({
  id: str,
  name: str,
  attempt: int,
  state: { type: 'string', enum: ['created', 'running', 'exited', 'unknown', 'creating'] },
  createdAt: strOrNull,
  startedAt: strOrNull,
  finishedAt: strOrNull,
  pid: int,
  image: str,
  imageId: str,
  exitCode: { type: ['integer', 'null'] },
  reason: str,
  cgroupsPath: str,
});

export const PS_POD = obj({
  id: str,
  name: str,
  namespace: str,
  uid: str,
  attempt: int,
  state: { type: 'string', enum: ['ready', 'notready', 'unknown'] },
  createdAt: strOrNull,
  stoppedAt: strOrNull,
  handler: str,
  ips: { type: 'array', items: str },
  pid: int,
  cgroup: str,
  labels: strMap,
  containers: { type: 'array', items: PS_CONTAINER },
});

export const POD_LIST = envelope('PodList', { pods: { type: 'array', items: PS_POD } });

const EVENT = obj(
  { time: str, type: str, kind: { type: 'string', enum: ['pod', 'container'] }, id: str, podId: str, state: str, exitCode: int, reason: str },
  ['state', 'exitCode', 'reason'],
);
const events = { type: ['array', 'null'], items: EVENT };
const anyObj = { type: 'object' };
const cgroup = { type: ['object', 'null'], required: ['path', 'exists', 'limits', 'usage'], properties: { path: str, exists: { type: 'boolean' }, limits: { type: ['object', 'null'] }, usage: { type: ['object', 'null'] } } };

/** Inspect of a container (the record, spec and host facts are open objects: they follow berth's record and the OCI spec). */
export const INSPECT_CONTAINER = obj({
  kind: { type: 'string', enum: ['container'] },
  id: str,
  summary: PS_CONTAINER,
  pod: anyObj,
  record: anyObj,
  spec: anyObj,
  paths: obj({ bundle: str, rootfs: str, upper: str, work: str, dir: str }),
  overlay: obj({ mounted: { type: 'boolean' }, fsType: str, lowerDirs: { type: 'array', items: str }, upperDir: strOrNull, workDir: strOrNull }, ['fsType']),
  process: obj({ pid: int, alive: { type: 'boolean' }, namespaces: strMap }),
  conmon: obj({ pid: int, alive: { type: 'boolean' }, files: anyObj }),
  runtime: obj({ handler: str, path: str, root: str, state: anyObj }),
  cgroup: { ...cgroup, type: 'object', properties: { ...cgroup.properties, cgroupsPath: str } },
  log: obj({ path: str, exists: { type: 'boolean' }, size: numOrNull, modifiedAt: strOrNull, monitorLogPath: str, rotated: { type: 'array', items: str } }),
  events,
});

export const INSPECT_POD = obj({
  kind: { type: 'string', enum: ['pod'] },
  id: str,
  summary: PS_POD,
  record: anyObj,
  namespaces: obj({ network: str, ipc: str, pid: str, pinned: anyObj }),
  network: obj({ ips: { type: 'array', items: str }, cni: { type: ['object', 'null'] } }),
  init: { type: ['object', 'null'] },
  shm: { type: ['object', 'null'] },
  files: obj({ dir: str, hostname: str, hosts: str, resolvConf: str }),
  logDirectory: str,
  cgroup,
  events,
});

export const INSPECT_IMAGE = obj({
  kind: { type: 'string', enum: ['image'] },
  id: str,
  summary: obj({ id: str, repoTags: { type: 'array', items: str }, repoDigests: { type: 'array', items: str }, size: num, pulledAt: strOrNull }),
  record: obj({ id: str, manifestDigest: str, mediaType: str, size: num, createdAt: str }),
  config: anyObj,
  layers: { type: 'array', items: obj({ position: int, blobDigest: str, chainId: str, diffId: strOrNull, size: numOrNull, inodes: numOrNull, path: str, present: { type: 'boolean' }, users: int }) },
  containers: { type: 'array', items: obj({ id: str, name: str, podId: str, state: str }) },
});

export const INSPECT = (object: Schema) => envelope('Inspect', { object });

export const LOG_ENTRY = obj({ schemaVersion: { type: 'integer', enum: [1] }, kind: { type: 'string', enum: ['LogEntry'] }, time: str, stream: { type: 'string', enum: ['stdout', 'stderr'] }, log: str, complete: { type: 'boolean' } });

export const TOP_ROW = obj({
  kind: { type: 'string', enum: ['pod', 'container'] },
  id: str,
  podId: str,
  name: str,
  namespace: str,
  state: str,
  cpu: numOrNull,
  cpuLimit: numOrNull,
  memory: numOrNull,
  memoryLimit: numOrNull,
  ioReadRate: numOrNull,
  ioWriteRate: numOrNull,
  ioReadBytes: numOrNull,
  ioWriteBytes: numOrNull,
  pids: numOrNull,
  pidsLimit: numOrNull,
});

export const TOP = envelope('Top', { time: str, interval: numOrNull, rows: { type: 'array', items: TOP_ROW } });
