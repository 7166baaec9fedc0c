// How request text appears in error messages: escaped (JSON string syntax, so control
// characters, quotes and NUL are visible and cannot forge log lines) and cut to a short
// prefix, with the full length said. A 1 MiB id yields a message of a few dozen bytes.

/** Characters of the input an error message shows at most (a full image reference with its digest fits). */
export const SHOWN_PREFIX = 128;

/** `value` for an error message: an escaped, quoted prefix, "…" and the length when cut. */
export function shown(value: string, max = SHOWN_PREFIX): string {
  if (value.length <= max) return JSON.stringify(value);
  // Never end on half a surrogate pair.
  const prefix = value.slice(0, max).replace(/[\uD800-\uDBFF]$/, '');
  return `${JSON.stringify(prefix)}… (${value.length} characters)`;
}
