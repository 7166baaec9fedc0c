// Renders helm/berth with the helm binary scripts/install-helm.sh installs (or $BERTH_HELM)
// and parses the manifests, for the chart tests. Also runs promtool on rule files.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { run, type RunResult } from '../../server/exec.js';

export const CHART = fileURLToPath(new URL('../../../helm/berth', import.meta.url));
export const CI_VALUES = ['metrics-off-values.yaml', 'kubelet-switch-values.yaml', 'node-selector-values.yaml'].map((f) => join(CHART, 'ci', f));
export const HELM = process.env.BERTH_HELM ?? 'helm';
export const RELEASE = 'rel';
export const NAMESPACE = 'berth-system';

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [k: string]: unknown;
}

export function helm(args: string[]): Promise<RunResult> {
  return run(HELM, args, { allowFailure: true });
}

/** `helm template` with values files and/or inline values (written to a temp file); refuses on failure. */
export async function renderChart(opts: { files?: string[]; values?: unknown; extraArgs?: string[] } = {}): Promise<K8sObject[]> {
  const r = await renderRaw(opts);
  if (r.code !== 0) throw new Error(`helm template failed: ${r.stderr}`);
  return parseManifests(r.stdout);
}

/** `helm template` returning the raw result (for refusals). */
export async function renderRaw(opts: { files?: string[]; values?: unknown; extraArgs?: string[] } = {}): Promise<RunResult> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-helm-'));
  try {
    const args = ['template', RELEASE, CHART, '--namespace', NAMESPACE];
    for (const f of opts.files ?? []) args.push('-f', f);
    if (opts.values !== undefined) {
      const f = join(dir, 'values.yaml');
      await writeFile(f, JSON.stringify(opts.values));
      args.push('-f', f);
    }
    return await helm([...args, ...(opts.extraArgs ?? [])]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export function parseManifests(text: string): K8sObject[] {
  const out: K8sObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`rendered YAML does not parse: ${doc.errors[0]!.message}`);
    const o = doc.toJS() as K8sObject | null;
    if (o !== null) out.push(o);
  }
  return out;
}

export function only(objs: K8sObject[], kind: string, name?: string): K8sObject {
  const found = objs.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (found.length !== 1) throw new Error(`expected one ${kind}${name ? ` ${name}` : ''}, found ${found.length}`);
  return found[0]!;
}

export function ofKind(objs: K8sObject[], kind: string): K8sObject[] {
  return objs.filter((o) => o.kind === kind);
}

/** Runs promtool with files written to a temp dir (name → content); returns its result. */
export async function promtool(args: (dir: string) => string[], files: Record<string, string>): Promise<RunResult> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-promtool-'));
  try {
    for (const [name, content] of Object.entries(files)) await writeFile(join(dir, name), content);
    return await run('promtool', args(dir), { allowFailure: true, cwd: dir });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
