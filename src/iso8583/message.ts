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

export const MAX_FIELD = 192;

/**
 * An ISO 8583 message: the MTI (field 0) and data elements 2..192. Bitmaps (fields 1 and 65) are not
 * stored: the codec derives them from the fields present.
 */
export class IsoMessage {
  mti: string;
  /** Field values by number; for the codec. Use get/set. */
  readonly _v: (FieldValue | undefined)[];

  constructor(mti = '', fields?: Readonly<Record<number, FieldValue>>) {
    this.mti = mti;
    this._v = new Array<FieldValue | undefined>(MAX_FIELD + 1);
    if (fields) for (const k of Object.keys(fields)) this.set(Number(k), fields[Number(k)] as FieldValue);
  }

  get(field: number): FieldValue | undefined {
    return this._v[field];
  }

  /** The field as text; throws a TypeError when the field holds bytes or structure. */
  getString(field: number): string | undefined {
    const v = this._v[field];
    if (v === undefined || typeof v === 'string') return v;
    throw new TypeError(`field ${field} is not a text field`);
  }

  set(field: number, value: FieldValue | undefined): this {
    if (!Number.isInteger(field) || field < 2 || field > MAX_FIELD || field === 65) {
      throw new RangeError(`field ${field} cannot be set (2..${MAX_FIELD}, bitmaps 1 and 65 are derived)`);
    }
    this._v[field] = value;
    return this;
  }

  has(field: number): boolean {
    return this._v[field] !== undefined;
  }

  delete(field: number): this {
    this._v[field] = undefined;
    return this;
  }

  /** Field numbers present, ascending (MTI excluded). */
  fieldNumbers(): number[] {
    const out: number[] = [];
    for (let i = 2; i <= MAX_FIELD; i++) if (this._v[i] !== undefined) out.push(i);
    return out;
  }

  clone(): IsoMessage {
    const m = new IsoMessage(this.mti);
    for (let i = 2; i <= MAX_FIELD; i++) {
      const v = this._v[i];
      if (v !== undefined) m._v[i] = v;
    }
    return m;
  }

  /** Plain object view { 0: mti, n: value } for tests and JSON. Buffers stay Buffers. */
  toObject(): Record<number, FieldValue> {
    const o: Record<number, FieldValue> = { 0: this.mti };
    for (let i = 2; i <= MAX_FIELD; i++) {
      const v = this._v[i];
      if (v !== undefined) o[i] = v;
    }
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
