// The `berth leaks -o json` schema (schemaVersion 1, kinds LeakReport and LeakRepair, documented in the README) as a
// checker: every key, its type and its allowed values, and no key beyond them. Used by the
// unit test on fixed reports and by the integration test on real output.
const KINDS = ['conmon', 'runtime-process', 'runtime-container', 'pod-init', 'rootfs-mount', 'shm-mount', 'netns-pin', 'veth', 'ip-reservation', 'cgroup', 'systemd-unit', 'directory', 'layer', 'blob', 'lease', 'record'];
const ACTIONS: Record<string, Record<string, 'string' | 'number' | 'string[]' | 'string?'>> = {
  kill: { pid: 'number', startTime: 'string' },
  'runtime-delete': { runtime: 'string', root: 'string', id: 'string' },
  unmount: { path: 'string' },
  'link-delete': { name: 'string' },
  'ipam-release': { file: 'string', lock: 'string' },
  'rmdir-cgroup': { paths: 'string[]', forget: 'string?' },
  'stop-unit': { unit: 'string' },
  'remove-path': { path: 'string' },
  'collect-image-garbage': { key: 'string', path: 'string' },
  'release-lease': { holder: 'string' },
  'delete-container-record': { id: 'string' },
  'mark-container-exited': { id: 'string' },
  'mark-sandbox-notready': { id: 'string' },
  'forget-created-cgroup': { setting: 'string', entry: 'string' },
};

type Problems = string[];

function keys(o: Record<string, unknown>, required: string[], optional: string[], at: string, out: Problems): void {
  for (const k of required) if (!(k in o)) out.push(`${at}: missing "${k}"`);
  for (const k of Object.keys(o)) if (!required.includes(k) && !optional.includes(k)) out.push(`${at}: unexpected "${k}"`);
}

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

export function checkFinding(f: unknown, at: string, out: Problems): void {
  if (!isObj(f)) return void out.push(`${at}: not an object`);
  keys(f, ['kind', 'id', 'why', 'fix', 'repair'], ['owner', 'path', 'pid'], at, out);
  if (!KINDS.includes(f.kind as string)) out.push(`${at}.kind: ${JSON.stringify(f.kind)} is not a leak kind`);
  for (const k of ['id', 'why', 'fix']) if (typeof f[k] !== 'string' || !f[k]) out.push(`${at}.${k}: not a non-empty string`);
  if ('owner' in f && !/^[0-9a-f]{64}$/.test(String(f.owner))) out.push(`${at}.owner: not a 64-hex id`);
  if ('path' in f && !String(f.path).startsWith('/')) out.push(`${at}.path: not absolute`);
  if ('pid' in f && !(Number.isInteger(f.pid) && (f.pid as number) > 0)) out.push(`${at}.pid: not a pid`);
  const r = f.repair;
  if (!isObj(r) || typeof r.action !== 'string' || !ACTIONS[r.action]) return void out.push(`${at}.repair: unknown action`);
  const spec = ACTIONS[r.action]!;
  keys(r, ['action', ...Object.keys(spec).filter((k) => !spec[k]!.endsWith('?'))], Object.keys(spec).filter((k) => spec[k]!.endsWith('?')), `${at}.repair`, out);
  for (const [k, t] of Object.entries(spec)) {
    if (!(k in r)) continue;
    const v = r[k];
    const ok = t.startsWith('string[]') ? Array.isArray(v) && v.every((x) => typeof x === 'string') : typeof v === t.replace('?', '');
    if (!ok) out.push(`${at}.repair.${k}: not a ${t}`);
  }
}

/** Problems with a `berth leaks -o json` document (dry run or repair); [] when it fits the schema. */
export function checkLeaksJson(doc: unknown): Problems {
  const out: Problems = [];
  if (!isObj(doc)) return ['not an object'];
  if (doc.schemaVersion !== 1) out.push(`schemaVersion: ${JSON.stringify(doc.schemaVersion)}`);
  const dry = doc.dryRun === true;
  if (doc.kind !== (dry ? 'LeakReport' : 'LeakRepair')) out.push(`kind: ${JSON.stringify(doc.kind)}`);
  if (doc.mode !== 'berthd' && doc.mode !== (dry ? 'read-only' : 'direct')) out.push(`mode: ${JSON.stringify(doc.mode)}`);
  if (!Array.isArray(doc.warnings) || !doc.warnings.every((w) => typeof w === 'string')) out.push('warnings: not a list of strings');
  if (doc.dryRun === true) {
    keys(doc, ['schemaVersion', 'kind', 'dryRun', 'mode', 'findings', 'warnings'], [], '$', out);
    if (!Array.isArray(doc.findings)) out.push('findings: not a list');
    else doc.findings.forEach((f, i) => checkFinding(f, `findings[${i}]`, out));
  } else if (doc.dryRun === false) {
    keys(doc, ['schemaVersion', 'kind', 'dryRun', 'mode', 'before', 'repairs', 'after', 'warnings'], [], '$', out);
    for (const k of ['before', 'after']) {
      const l = doc[k];
      if (!Array.isArray(l)) out.push(`${k}: not a list`);
      else l.forEach((f, i) => checkFinding(f, `${k}[${i}]`, out));
    }
    if (!Array.isArray(doc.repairs)) out.push('repairs: not a list');
    else
      doc.repairs.forEach((r, i) => {
        if (!isObj(r)) return void out.push(`repairs[${i}]: not an object`);
        keys(r, ['finding', 'ok', 'result'], [], `repairs[${i}]`, out);
        if (typeof r.ok !== 'boolean') out.push(`repairs[${i}].ok: not a boolean`);
        if (typeof r.result !== 'string') out.push(`repairs[${i}].result: not a string`);
        checkFinding(r.finding, `repairs[${i}].finding`, out);
      });
  } else out.push('dryRun: not a boolean');
  return out;
}
