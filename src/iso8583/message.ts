import { LazyTlv } from './tlv.js';

/** A TLV data object (BER-TLV, as in DE55 EMV data). Tags are upper-case hex, e.g. "9F02". */
export interface TlvEntry {
  tag: string;
  value: Buffer;
}

/** Values of positional subfields, keyed by subfield id ("1", "2", …); packed in spec order. */
export interface SubfieldValues {
  [id: string]: FieldValue;
}

/**
 * A field's value: text for n/a/an/ans/ns/z/xn fields (numeric text keeps its zero padding), bytes for b
 * fields, a TLV list for tlv fields and subfield values for composite fields.
 */
export type FieldValue = string | Buffer | TlvEntry[] | SubfieldValues;

/**
 * What a message holds for a field: its value, or (for a tlv field just unpacked) a LazyTlv that get() turns into
 * the entries on first read. Internal to the codec.
 */
export type StoredValue = FieldValue | LazyTlv;

export const MAX_FIELD = 192;

/**
 * An ISO 8583 message: the MTI (field 0) and data elements 2..192. Bitmaps (fields 1 and 65) are not
 * stored: the codec derives them from the fields present.
 *
 * Storage is two short parallel arrays kept in ascending field order (a message has ~20 fields of 192),
 * so packing walks only the fields present and unpacking appends.
 */
export class IsoMessage {
  mti: string;
  /** Field numbers present, ascending. Internal to the codec: use fieldNumbers(). */
  readonly _n: number[];
  /** Values parallel to _n. Internal to the codec: use get/set. */
  readonly _v: StoredValue[];

  constructor(mti = '', fields?: Readonly<Record<number, FieldValue>>) {
    this.mti = mti;
    this._n = [];
    this._v = [];
    if (fields) for (const k of Object.keys(fields)) this.set(Number(k), fields[Number(k)] as FieldValue);
  }

  /**
   * The decoder's message: `count` slots (the bitmap's fields), which it fills in ascending order by index before
   * anyone sees the message. Sized once, where pushing field by field grew both arrays twice for a typical
   * authorization (docs/codec.md, "Speed"). A decode that fails drops the message half filled.
   */
  static _decoded(mti: string, count: number): IsoMessage {
    const m = new IsoMessage(mti);
    (m as { _n: number[] })._n = new Array<number>(count);
    (m as { _v: StoredValue[] })._v = new Array<StoredValue>(count);
    return m;
  }

  private indexOf(field: number): number {
    const n = this._n;
    for (let i = 0; i < n.length; i++) {
      const f = n[i]!;
      if (f === field) return i;
      if (f > field) return -1 - i;
    }
    return -1 - n.length;
  }

  get(field: number): FieldValue | undefined {
    const i = this.indexOf(field);
    return i >= 0 ? this.valueAt(i) : undefined;
  }

  private valueAt(i: number): FieldValue {
    const v = this._v[i]!;
    if (!(v instanceof LazyTlv)) return v;
    const entries = v.entries();
    this._v[i] = entries;
    return entries;
  }

  /** The field as text; throws a TypeError when the field holds bytes or structure. */
  getString(field: number): string | undefined {
    const v = this.get(field);
    if (v === undefined || typeof v === 'string') return v;
    throw new TypeError(`field ${field} is not a text field`);
  }

  set(field: number, value: FieldValue | undefined): this {
    if (!Number.isInteger(field) || field < 2 || field > MAX_FIELD || field === 65) {
      throw new RangeError(`field ${field} cannot be set (2..${MAX_FIELD}, bitmaps 1 and 65 are derived)`);
    }
    if (value === undefined) return this.delete(field);
    const n = this._n;
    if (n.length === 0 || n[n.length - 1]! < field) {
      n.push(field);
      this._v.push(value);
      return this;
    }
    const i = this.indexOf(field);
    if (i >= 0) this._v[i] = value;
    else {
      n.splice(-1 - i, 0, field);
      this._v.splice(-1 - i, 0, value);
    }
    return this;
  }

  has(field: number): boolean {
    return this.indexOf(field) >= 0;
  }

  delete(field: number): this {
    const i = this.indexOf(field);
    if (i >= 0) {
      this._n.splice(i, 1);
      this._v.splice(i, 1);
    }
    return this;
  }

  /** Field numbers present, ascending (MTI excluded). */
  fieldNumbers(): number[] {
    return this._n.slice();
  }

  clone(): IsoMessage {
    const m = new IsoMessage(this.mti);
    m._n.push(...this._n);
    m._v.push(...this._v);
    return m;
  }

  /** Plain object view { 0: mti, n: value } for tests and JSON. Buffers stay Buffers. */
  toObject(): Record<number, FieldValue> {
    const o: Record<number, FieldValue> = { 0: this.mti };
    for (let i = 0; i < this._n.length; i++) o[this._n[i]!] = this.valueAt(i);
    return o;
  }
}

/** The MTI of the answer to `mti`: 0100 → 0110, 0420 → 0430, 0401 → 0410. */
export function responseMti(mti: string): string {
  if (mti.length !== 4) return mti;
  const cls = mti.charCodeAt(2) - 48;
  const base = cls % 2 === 0 ? cls + 1 : cls;
  return mti.slice(0, 2) + String(base) + '0';
}

/** True when the MTI's function digit says it is a response (x1x0, x1x2 …: third digit odd). */
export function isResponseMti(mti: string): boolean {
  return mti.length === 4 && (mti.charCodeAt(2) - 48) % 2 === 1;
}
