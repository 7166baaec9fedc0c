// A small JSON Schema checker for the CLI's documented JSON (cli/schemas.ts): type (one or a
// list), required, properties, additionalProperties (false or a schema), items, enum.
// Returns every violation with its path, so a failing schema test says what drifted.
type Schema = Record<string, unknown>;

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

export function checkShape(v: unknown, s: Schema, path = '$'): string[] {
  const errs: string[] = [];
  const t = typeOf(v);
  if (s.type !== undefined) {
    const types = Array.isArray(s.type) ? (s.type as string[]) : [s.type as string];
    if (!types.includes(t) && !(t === 'integer' && types.includes('number'))) return [`${path}: ${t}, expected ${types.join('|')}`];
  }
  if (s.enum && !(s.enum as unknown[]).includes(v)) errs.push(`${path}: ${JSON.stringify(v)} not in ${JSON.stringify(s.enum)}`);
  if (t === 'object') {
    const o = v as Record<string, unknown>;
    for (const k of (s.required as string[] | undefined) ?? []) if (!(k in o)) errs.push(`${path}: missing "${k}"`);
    const props = (s.properties as Record<string, Schema> | undefined) ?? {};
    for (const [k, x] of Object.entries(o)) {
      if (props[k]) errs.push(...checkShape(x, props[k], `${path}.${k}`));
      else if (s.additionalProperties === false) errs.push(`${path}: unexpected field "${k}"`);
      else if (typeof s.additionalProperties === 'object') errs.push(...checkShape(x, s.additionalProperties as Schema, `${path}.${k}`));
    }
  }
  if (t === 'array' && s.items) (v as unknown[]).forEach((x, i) => errs.push(...checkShape(x, s.items as Schema, `${path}[${i}]`)));
  return errs;
}
