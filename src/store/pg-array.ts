/**
 * PostgreSQL array literals for typed array parameters (`$1::bigint[]` with `unnest`), built in one pass: the
 * driver's generic per-element value preparation is the largest CPU cost of a big batch. Strings are quoted
 * with \ and " escaped; null is NULL.
 */

/** `v` in double quotes, its \ and " escaped (the escape pass only when there is one to make). */
function quoted(v: string): string {
  return '"' + (v.indexOf('"') === -1 && v.indexOf('\\') === -1 ? v : v.replace(/["\\]/g, '\\$&')) + '"';
}

export function pgArray<T>(items: readonly T[], get: (x: T) => string | number | bigint | boolean | null): string {
  let out = '{';
  for (let i = 0; i < items.length; i++) {
    if (i > 0) out += ',';
    const v = get(items[i]!);
    if (v === null) out += 'NULL';
    else if (typeof v === 'string') out += quoted(v);
    else out += String(v);
  }
  return out + '}';
}

/** A field of a record literal: NULL is empty; text is quoted when it holds a separator, a quote or whitespace. */
function recordField(v: string | number | bigint | boolean | null | undefined): string {
  if (v === null || v === undefined) return '';
  if (typeof v !== 'string') return String(v);
  if (v === '') return '""';
  if (!/[,()"\\\s]/.test(v)) return v;
  return quoted(v);
}

/**
 * An array of record literals for ONE parameter of a composite array type (`$1::my_row_type[]`, then
 * `unnest($1)` yields its columns): one parameter per table instead of one per column, which halves the
 * server's fixed cost of a statement and cuts a third of its cost per row (measured: 75 vs 138 µs for one row
 * of 30 columns, 5.0 vs 7.5 µs a row at 100). `fields` are the columns, in the type's order.
 */
export function pgRecords<T>(items: readonly T[], fields: ReadonlyArray<(x: T) => string | number | bigint | boolean | null | undefined>): string {
  let out = '{';
  for (let i = 0; i < items.length; i++) {
    const item = items[i]!;
    let rec = '(';
    for (let j = 0; j < fields.length; j++) {
      if (j > 0) rec += ',';
      rec += recordField(fields[j]!(item));
    }
    rec += ')';
    if (i > 0) out += ',';
    out += quoted(rec);
  }
  return out + '}';
}
