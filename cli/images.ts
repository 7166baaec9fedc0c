// berth images import | ls | rm: through the running berthd's admin socket, so its store
// and garbage collector stay the only writers.
import { resolve } from 'node:path';
import { loadConfig } from '../server/config.js';
import { admin } from './admin-client.js';
import { parse } from './args.js';

const stateOption = { state: { type: 'string' } } as const;
const stateDir = (v: string | undefined) => v ?? loadConfig([]).config.state;

export async function imagesImport(args: string[]): Promise<number> {
  const usage = 'berth images import FILE [--name REF] [--state DIR]';
  const { values, positionals } = parse(args, { ...stateOption, name: { type: 'string' } }, usage, 1);
  if (!positionals[0]) throw new Error(`an archive is required\nusage: ${usage}`);
  const out = (await admin(stateDir(values.state), 'POST', '/v1/images/import', { path: resolve(positionals[0]), ...(values.name ? { name: values.name } : {}) })) as Array<{ id: string; repoTags: string[] }>;
  for (const i of out) console.log(`imported ${i.repoTags.join(', ') || '(untagged)'} ${i.id}`);
  return 0;
}

export async function imagesList(args: string[]): Promise<number> {
  const { values } = parse(args, stateOption, 'berth images ls [--state DIR]');
  const out = (await admin(stateDir(values.state), 'GET', '/v1/images')) as Array<{ id: string; repo_tags: string[]; size: string }>;
  console.log(['IMAGE ID', 'SIZE', 'TAGS'].join('\t'));
  for (const i of out) console.log([i.id.replace(/^sha256:/, '').slice(0, 13), i.size, i.repo_tags.join(',') || '<none>'].join('\t'));
  return 0;
}

export async function imagesRemove(args: string[]): Promise<number> {
  const usage = 'berth images rm REF [--state DIR]';
  const { values, positionals } = parse(args, stateOption, usage, 1);
  if (!positionals[0]) throw new Error(`an image reference is required\nusage: ${usage}`);
  await admin(stateDir(values.state), 'DELETE', `/v1/images?ref=${encodeURIComponent(positionals[0])}`);
  console.log(`removed ${positionals[0]}`);
  return 0;
}
