// The CRI request space as fast-check arbitraries, generated from the proto's descriptors
// (proto/runtime/v1/api.proto, read with protobufjs): every unary RPC of RuntimeService and
// ImageService, every field by its type, with a mix of valid-looking values (ids berthd
// gave out earlier, real image references from the test registry, paths under the test's
// pod-log root) and hostile ones (huge strings, `..`, NUL and control characters, unknown
// enum numbers, negative and out-of-range numbers, big maps). Half the requests start from
// a valid-looking template (a pod that would run, a container that would start) with a few
// fields replaced, so that checks deep inside a handler are reached too.
//
// Ids are not known when a request is generated: `Ref`s stand for "the n-th pod (container,
// image) berthd returned so far" and are resolved when the request is sent. Every path or
// name the fuzzer makes up contains the run's marker, so a file it made berthd create
// anywhere on the host can be found by name afterwards.
import protobuf from 'protobufjs';
import fc from 'fast-check';
import { join } from 'node:path';
import { CRI_PROTO_PATH } from '../../wire/cri/proto.js';

export type RefKind = 'pod' | 'container' | 'image';

/** "The `pick`-th known pod/container/image", cut to `prefix` characters when > 0; resolved at send time. */
export class Ref {
  constructor(
    readonly kind: RefKind | 'podConfig',
    readonly pick: number,
    readonly prefix = 0,
  ) {}
  toJSON(): string {
    return `<${this.kind} #${this.pick}${this.prefix ? ` first ${this.prefix} chars` : ''}>`;
  }
  toString(): string {
    return this.toJSON();
  }
}

export interface FuzzEnv {
  /** In every path and file-name-like string the fuzzer makes up. */
  marker: string;
  /** berthd's pod-log root (valid log directories live below it). */
  logRoot: string;
  /** Full references of images in the local test registry. */
  images: string[];
  /** `127.0.0.1:PORT` of the test registry (PullImage never leaves loopback). */
  registryHost: string;
}

export interface Rpc {
  service: 'runtime' | 'image';
  method: string;
  type: protobuf.Type;
}

export interface FuzzRequest {
  service: 'runtime' | 'image';
  method: string;
  /** How it was made: `template` (valid-looking, some fields replaced) or `random`. */
  how: 'template' | 'random';
  req: Record<string, unknown>;
}

let root: protobuf.Root | undefined;
export function criRoot(): protobuf.Root {
  if (!root) {
    root = new protobuf.Root();
    root.loadSync(CRI_PROTO_PATH, { keepCase: true });
    root.resolveAll();
  }
  return root;
}

/** Every unary RPC of both services (GetContainerEvents, a server stream, is left out). */
export function unaryRpcs(): Rpc[] {
  const out: Rpc[] = [];
  for (const [svc, service] of [
    ['RuntimeService', 'runtime'],
    ['ImageService', 'image'],
  ] as const) {
    const s = criRoot().lookupService(`runtime.v1.${svc}`);
    for (const m of s.methodsArray) {
      if (m.requestStream || m.responseStream) continue;
      out.push({ service, method: m.name, type: m.resolvedRequestType! });
    }
  }
  return out;
}

const MiB = 1 << 20;
/** Levels of nested messages in a random request, and below a replaced field. */
const RANDOM_DEPTH = 3;
const MUTATION_DEPTH = 2;
const HUGE = 'x'.repeat(MiB);
const BIG = 'y'.repeat(64 * 1024);

/** Strings meant to break parsers, path joins and error messages. */
function hostileStrings(env: FuzzEnv): string[] {
  const m = env.marker;
  return [
    '',
    ' ',
    '.',
    '..',
    '/',
    '-',
    '--help',
    '\0',
    `${m}\0evil`,
    '\n\r\t\v\f',
    '\x1b[31mred\x1b[0m',
    '\x7f\x01\x02',
    `../../../../../../tmp/${m}`,
    `${m}/../../../../../../tmp/${m}-up`,
    `a/b/${m}`,
    '%2e%2e%2f',
    'ü日本語🙂',
    '\uFEFF\u202Ebidi',
    'UPPER_CASE',
    'a'.repeat(64),
    'a'.repeat(254),
    `${m}-`.repeat(60),
    '*',
    '$(touch /tmp/' + m + ')',
    '`id`',
    '{"json":true}',
    'null',
    '0',
    '-1',
    '9'.repeat(30),
  ];
}

function hostilePaths(env: FuzzEnv): string[] {
  const m = env.marker;
  return [
    '',
    '/',
    '.',
    '..',
    m,
    `rel/${m}`,
    `./${m}`,
    `../../../../../../tmp/${m}`,
    `/tmp/${m}`,
    `/tmp/${m}/deep/file`,
    `/etc/${m}`,
    `/var/lib/${m}`,
    `/run/${m}`,
    `/root/${m}`,
    `/${m}`,
    `${env.logRoot}/../${m}`,
    `${env.logRoot}/${m}/../../${m}-up`,
    `${env.logRoot}/./${m}`,
    `${env.logRoot}//${m}`,
    `/tmp/${m}\0/x`,
    `/tmp/${m}\n`,
    `/tmp/${'p'.repeat(300)}${m}`,
    `/tmp/${`${m}/`.repeat(200)}`,
    '/proc/self/root',
    '/proc/1/ns/net',
    '/dev/null',
    '/dev/zero',
    '/etc/passwd',
    '/sys/kernel',
    'localhost/' + m,
    'runtime/default',
    'docker/default',
    'unconfined',
  ];
}

const int32Edges = [0, 1, -1, 2, 7, 15, 64, 1000, 65535, 65536, 2 ** 31 - 1, -(2 ** 31)];
const int64Edges = ['0', '1', '-1', '2', '4096', '1048576', '4194304', '6291456', '12582912', '1073741824', '9007199254740993', '9223372036854775807', '-9223372036854775808', '-4096'];

function intArb(edges: (number | string)[], min: number, max: number): fc.Arbitrary<number | string> {
  return fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...edges) }, { weight: 2, arbitrary: fc.integer({ min, max }) });
}

type Kind = 'id' | 'path' | 'image' | 'name' | 'text';

function stringKind(field: string): { kind: Kind; ref?: RefKind | 'any' } {
  if (field === 'pod_sandbox_id' || field === 'sandbox_id') return { kind: 'id', ref: 'pod' };
  if (field === 'container_id') return { kind: 'id', ref: 'container' };
  if (field === 'id') return { kind: 'id', ref: 'any' };
  if (field === 'image' || field === 'user_specified_image' || field === 'image_ref' || field === 'image_id') return { kind: 'image' };
  if (/path|dir|directory|profile|localhost_ref|root/.test(field)) return { kind: 'path' };
  if (/name|namespace|uid|hostname|key/.test(field)) return { kind: 'name' };
  return { kind: 'text' };
}

export class CriArbitraries {
  private readonly memo = new Map<string, fc.Arbitrary<unknown>>();
  private readonly hostile: string[];
  private readonly paths: string[];

  constructor(readonly env: FuzzEnv) {
    this.hostile = hostileStrings(env);
    this.paths = hostilePaths(env);
  }

  private ref(kind: RefKind | 'any'): fc.Arbitrary<Ref> {
    const k = kind === 'any' ? fc.constantFrom<RefKind>('pod', 'container', 'image') : fc.constant(kind);
    return fc.tuple(k, fc.nat(50), fc.oneof({ weight: 5, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 12 }) })).map(([kk, pick, prefix]) => new Ref(kk, pick, prefix));
  }

  /** Strings, by what the field holds (guessed from its name). */
  string(field: string): fc.Arbitrary<unknown> {
    const key = `string:${field}`;
    let a = this.memo.get(key);
    if (!a) this.memo.set(key, (a = this.makeString(field)));
    return a;
  }

  private makeString(field: string): fc.Arbitrary<unknown> {
    const { kind, ref } = stringKind(field);
    const hostile = fc.constantFrom(...this.hostile);
    const text = fc.oneof(fc.string({ maxLength: 24 }), fc.string({ unit: 'binary', maxLength: 12 }));
    const dns = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,14}[a-z0-9])?$/);
    const m = this.env.marker;
    switch (kind) {
      case 'id':
        return fc.oneof({ weight: 8, arbitrary: this.ref(ref ?? 'any') }, { weight: 1, arbitrary: fc.stringMatching(/^[0-9a-f]{64}$/) }, { weight: 3, arbitrary: hostile }, { weight: 1, arbitrary: text });
      case 'image':
        return fc.oneof(
          { weight: 5, arbitrary: fc.constantFrom(...this.env.images) },
          { weight: 3, arbitrary: this.ref('image') },
          { weight: 3, arbitrary: fc.tuple(fc.constantFrom(...this.env.images), hostile).map(([i, h]) => `${i}${h}`) },
          { weight: 2, arbitrary: hostile.map((h) => `${this.env.registryHost}/${h}`) },
          { weight: 1, arbitrary: fc.constantFrom(`${this.env.registryHost}/test/none:v1`, `127.0.0.1:1/${m}:v1`, `${this.env.registryHost}/test/busybox@sha256:${'0'.repeat(64)}`, `sha256:${'f'.repeat(64)}`) },
          { weight: 2, arbitrary: hostile },
        );
      case 'path':
        return fc.oneof(
          { weight: 3, arbitrary: fc.constantFrom(...this.paths) },
          { weight: 2, arbitrary: fc.tuple(dns, fc.constantFrom('', '/x.log', '/0.log', '/../..')).map(([d, tail]) => join(this.env.logRoot, `${m}-${d}`) + tail) },
          { weight: 1, arbitrary: dns.map((d) => `${m}-${d}.log`) },
          { weight: 1, arbitrary: hostile },
        );
      case 'name':
        return fc.oneof({ weight: 4, arbitrary: dns.map((d) => `${d}-${m}`.slice(0, 63)) }, { weight: 3, arbitrary: hostile }, { weight: 2, arbitrary: text });
      default:
        return fc.oneof({ weight: 4, arbitrary: text }, { weight: 2, arbitrary: dns }, { weight: 3, arbitrary: hostile });
    }
  }

  /** A map<string,string> (labels, annotations, sysctls, unified …): small, hostile keys, or many entries. */
  private mapOf(field: protobuf.MapField, depth: number): fc.Arbitrary<unknown> {
    const value = this.single(field, depth);
    const key = fc.oneof({ weight: 4, arbitrary: fc.stringMatching(/^[a-z0-9]([-a-z0-9.]{0,20}[a-z0-9])?(\/[a-z]{1,8})?$/) }, { weight: 2, arbitrary: fc.constantFrom(...this.hostile.filter((s) => s.length < 4096)) });
    return fc.dictionary(key, value, { maxKeys: 4 });
  }

  private single(field: protobuf.FieldBase, depth: number): fc.Arbitrary<unknown> {
    const rt = field.resolvedType;
    if (rt instanceof protobuf.Enum) {
      const names = Object.keys(rt.values);
      return fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...names) }, { weight: 1, arbitrary: fc.constantFrom(-1, 7, 99, 2 ** 31 - 1) });
    }
    if (rt instanceof protobuf.Type) {
      if (depth <= 0) return fc.constant(null);
      return fc.option(this.message(rt, depth - 1), { nil: null, freq: 3 });
    }
    switch (field.type) {
      case 'string':
        return this.string(field.name);
      case 'bytes':
        return fc.uint8Array({ maxLength: 64 });
      case 'bool':
        return fc.boolean();
      case 'int32':
      case 'sint32':
      case 'sfixed32':
        return intArb(int32Edges, -(2 ** 31), 2 ** 31 - 1);
      case 'uint32':
      case 'fixed32':
        return intArb(int32Edges.filter((n) => n >= 0), 0, 2 ** 32 - 1);
      case 'double':
      case 'float':
        return fc.oneof(fc.double(), fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, -0));
      default:
        // 64-bit integers travel as decimal strings. A `timeout` is kept short: a long one makes
        // the call wait that long by design (kubelet sets its deadline after it), which is no hang.
        if (/timeout/.test(field.name)) return fc.constantFrom('0', '1', '2', '-1', '-9223372036854775808');
        return intArb(int64Edges, -(2 ** 40), 2 ** 40).map(String);
    }
  }

  field(field: protobuf.FieldBase, depth: number): fc.Arbitrary<unknown> {
    const key = `field:${field.parent?.fullName}.${field.name}@${depth}`;
    let a = this.memo.get(key);
    if (!a) this.memo.set(key, (a = this.makeField(field, depth)));
    return a;
  }

  private makeField(field: protobuf.FieldBase, depth: number): fc.Arbitrary<unknown> {
    if (field instanceof protobuf.MapField) return this.mapOf(field, depth);
    // A repeated message never holds null (the client's encoder refuses it before sending).
    const rt = field.resolvedType;
    const one = field.repeated && rt instanceof protobuf.Type ? (depth <= 0 ? fc.constant({}) : this.message(rt, depth - 1)) : this.single(field, depth);
    if (field.repeated) return fc.array(one, { maxLength: 3 });
    return one;
  }

  /** Something big for one field: a 64 KiB or 1 MiB string, a map of thousands of entries, a long list. */
  big(field: protobuf.FieldBase): fc.Arbitrary<unknown> {
    const key = `big:${field.parent?.fullName}.${field.name}`;
    let a = this.memo.get(key);
    if (!a) this.memo.set(key, (a = this.makeBig(field)));
    return a;
  }

  private makeBig(field: protobuf.FieldBase): fc.Arbitrary<unknown> {
    const m = this.env.marker;
    if (field instanceof protobuf.MapField) {
      return fc.integer({ min: 1000, max: 5000 }).map((n) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}.${m}`, field.type === 'string' ? `v${i}` : {}])));
    }
    const one = field.type === 'string' ? fc.constantFrom(BIG, HUGE, `${m}/`.repeat(3000), '\0'.repeat(1000)) : field.type === 'bytes' ? fc.constant(new Uint8Array(MiB)) : this.single(field, 1);
    if (field.repeated) {
      const item = field.type === 'string' ? fc.constant(`${m}-item`) : field.resolvedType instanceof protobuf.Type ? fc.constant({}) : this.single(field, 0);
      return fc.integer({ min: 200, max: 2000 }).chain((n) => fc.array(item, { minLength: n, maxLength: n }));
    }
    return one;
  }

  /** A message with nested messages down to `depth` more levels (null below). */
  message(type: protobuf.Type, depth = RANDOM_DEPTH): fc.Arbitrary<Record<string, unknown>> {
    const key = `${type.fullName}@${depth}`;
    let a = this.memo.get(key) as fc.Arbitrary<Record<string, unknown>> | undefined;
    if (!a) {
      const model: Record<string, fc.Arbitrary<unknown>> = {};
      for (const f of type.fieldsArray) model[f.name] = this.field(f, depth);
      a = fc.record(model, { requiredKeys: [] }) as fc.Arbitrary<Record<string, unknown>>;
      this.memo.set(key, a);
    }
    return a;
  }

  /** Field paths of a message type down to `maxDepth` (for template mutations), with their fields. */
  fieldPaths(type: protobuf.Type, maxDepth = 4, prefix: string[] = [], out: [string[], protobuf.FieldBase][] = []): [string[], protobuf.FieldBase][] {
    for (const f of type.fieldsArray) {
      const p = [...prefix, f.name];
      out.push([p, f]);
      if (!f.repeated && !(f instanceof protobuf.MapField) && f.resolvedType instanceof protobuf.Type && p.length < maxDepth) this.fieldPaths(f.resolvedType, maxDepth, p, out);
    }
    return out;
  }

  /** A valid-looking request for the RPCs that do something when valid; {} for the others. */
  template(method: string): fc.Arbitrary<Record<string, unknown>> {
    const m = this.env.marker;
    const pod = fc.nat(50);
    const name = fc.stringMatching(/^[a-z][a-z0-9]{2,10}$/);
    switch (method) {
      case 'RunPodSandbox':
        return fc.tuple(name, fc.uuid()).map(([n, uid]) => ({
          config: {
            metadata: { name: n, namespace: 'fuzz', uid, attempt: 0 },
            hostname: n,
            log_directory: join(this.env.logRoot, `fuzz_${n}_${uid}`),
            labels: { fuzz: m },
            linux: { security_context: { namespace_options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } } },
          },
          runtime_handler: '',
        }));
      case 'CreateContainer':
        return fc.tuple(pod, name, fc.constantFrom(...this.env.images)).map(([p, n, image]) => ({
          pod_sandbox_id: new Ref('pod', p),
          config: {
            metadata: { name: n, attempt: 0 },
            image: { image },
            command: ['/bin/sleep', '3600'],
            log_path: `${n}/0.log`,
            labels: { fuzz: m },
            linux: { security_context: { namespace_options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } } },
          },
          sandbox_config: new Ref('podConfig', p),
        }));
      case 'ExecSync':
        return fc.tuple(fc.nat(50), fc.string({ maxLength: 40 })).map(([c, s]) => ({ container_id: new Ref('container', c), cmd: ['/bin/echo', s], timeout: '2' }));
      case 'Exec':
      case 'Attach':
        return fc.nat(50).map((c) => ({ container_id: new Ref('container', c), cmd: ['/bin/echo', 'x'], stdout: true }));
      case 'PullImage':
        return fc.constantFrom(...this.env.images).map((image) => ({ image: { image } }));
      case 'StopContainer':
        return fc.nat(50).map((c) => ({ container_id: new Ref('container', c), timeout: '0' }));
      default:
        return fc.constant({});
    }
  }

  /** One request to `rpc`: a template with up to 3 fields replaced, or a random message. */
  request(rpc: Rpc): fc.Arbitrary<FuzzRequest> {
    const paths = this.fieldPaths(rpc.type);
    // Most replacements are ordinary hostile values; one request in ten gets one big value.
    const mutation = paths.length
      ? fc.oneof(
          { weight: 10, arbitrary: fc.constantFrom(...paths).chain(([path, f]) => this.field(f, MUTATION_DEPTH).map((value) => ({ path, value }))) },
          { weight: 1, arbitrary: fc.constantFrom(...paths).chain(([path, f]) => this.big(f).map((value) => ({ path, value }))) },
        )
      : undefined;
    const templated = fc.tuple(this.template(rpc.method), mutation ? fc.array(mutation, { maxLength: 3 }) : fc.constant([])).map(([base, muts]) => {
      const req = cloneRequest(base) as Record<string, unknown>;
      for (const { path, value } of muts) setPath(req, path, value);
      return { service: rpc.service, method: rpc.method, how: 'template' as const, req };
    });
    const random = this.message(rpc.type).map((req) => ({ service: rpc.service, method: rpc.method, how: 'random' as const, req }));
    return fc.oneof({ weight: 3, arbitrary: templated }, { weight: 2, arbitrary: random });
  }
}

/** A deep copy that keeps `Ref`s (structuredClone would turn them into plain objects). */
export function cloneRequest(v: unknown): unknown {
  if (v instanceof Ref || v instanceof Uint8Array || v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map(cloneRequest);
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, cloneRequest(x)]));
}

/** Sets `obj[path[0]][path[1]]… = value`, making objects on the way (a null or array on the way is replaced). */
export function setPath(obj: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let o = obj;
  for (const k of path.slice(0, -1)) {
    const next = o[k];
    if (!next || typeof next !== 'object' || Array.isArray(next) || next instanceof Ref) o[k] = {};
    o = o[k] as Record<string, unknown>;
  }
  o[path[path.length - 1]!] = value;
}

/** A short, printable rendering of a request (huge strings cut) for failure reports. */
export function describe(r: FuzzRequest): string {
  const text = JSON.stringify(r.req, (_k, v: unknown) => {
    if (typeof v === 'string' && v.length > 80) return `${JSON.stringify(v.slice(0, 40)).slice(1, -1)}…(${v.length} chars)`;
    if (v instanceof Uint8Array) return `<${v.length} bytes>`;
    if (Array.isArray(v) && v.length > 8) return [...v.slice(0, 3), `…(${v.length} items)`];
    if (v && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Ref)) {
      const keys = Object.keys(v);
      if (keys.length > 12) return { ...Object.fromEntries(keys.slice(0, 3).map((k) => [k, (v as Record<string, unknown>)[k]])), '…': `${keys.length} keys` };
    }
    return v;
  });
  return `${r.method} (${r.how}) ${text.length > 1500 ? `${text.slice(0, 1500)}…` : text}`;
}
