/**
 * PostgreSQL array literals for typed array parameters (`$1::bigint[]` with `unnest`), built in one pass: the
 * driver's generic per-element value preparation is the largest CPU cost of a big batch. Strings are quoted
 * with \ and " escaped; null is NULL.
 */

export function pgArray<T>(items: readonly T[], get: (x: T) => string | number | bigint | boolean | null): string {
  let out = '{';
  for (let i = 0; i < items.length; i++) {
    if (i > 0) out += ',';
    const v = get(items[i]!);
    if (v === null) out += 'NULL';
    else if (typeof v === 'string') out += '"' + (v.indexOf('"') === -1 && v.indexOf('\\') === -1 ? v : v.replace(/[\\"]/g, '\\$&')) + '"';
    else out += String(v);
  }
  return out + '}';
}
