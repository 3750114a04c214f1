/**
 * fast-check generators of valid messages for any dialect, derived from the dialect's own spec, so property,
 * differential and fuzz tests cover every field definition.
 */
import fc from 'fast-check';
import type { Codec, FieldSpec } from '../../src/iso8583/index.js';
import { IsoMessage, type FieldValue, type TlvEntry } from '../../src/iso8583/index.js';

const DIGITS = '0123456789'.split('');
const LETTERS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'.split('');
const SPECIALS = ' !"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~'.split('');

export interface CharsetOverrides {
  /** Characters to draw for each text type (the differential test narrows these to what the peer accepts). */
  an?: string[];
  ans?: string[];
  ns?: string[];
  /** Variable-length fields get at least one character. */
  nonEmpty?: boolean;
}

export function charsFor(type: FieldSpec['type'], o: CharsetOverrides = {}): string[] {
  switch (type) {
    case 'n':
    case 'xn':
      return DIGITS;
    case 'z':
      return [...DIGITS, ...DIGITS, '='];
    case 'a':
      return [...LETTERS, ' '];
    case 'an':
      return o.an ?? [...LETTERS, ...DIGITS, ' '];
    case 'ans':
      return o.ans ?? [...LETTERS, ...DIGITS, ...SPECIALS];
    case 'ns':
      return o.ns ?? [...DIGITS, ...SPECIALS];
    default:
      return DIGITS;
  }
}

function textArb(spec: FieldSpec, o: CharsetOverrides, maxVar: number): fc.Arbitrary<string> {
  const fixed = !spec.prefix || spec.prefix.kind === 'fixed';
  const max = fixed ? spec.length : Math.min(spec.length, maxVar);
  const min = fixed ? spec.length : Math.min(Math.max(spec.minLength ?? 0, o.nonEmpty ? 1 : 0), max);
  const body = fc.string({ unit: fc.constantFrom(...charsFor(spec.type, o)), minLength: min, maxLength: max });
  return spec.type === 'xn' ? fc.tuple(fc.constantFrom('C', 'D'), body).map(([s, b]) => s + b) : body;
}

function tlvArb(spec: FieldSpec): fc.Arbitrary<TlvEntry[]> {
  const known = Object.entries(spec.tags ?? {});
  const knownEntry = fc
    .constantFrom(...known)
    .chain(([tag, t]) => fc.uint8Array({ minLength: 0, maxLength: Math.min(t.maxBytes ?? 40, 40) }).map((v) => ({ tag, value: Buffer.from(v) })));
  // Unknown tags: private-class two-byte tags (DF01..DF7F) the dialect keeps as they are.
  const unknownEntry = fc
    .integer({ min: 1, max: 0x7f })
    .chain((t) =>
      fc.uint8Array({ minLength: 0, maxLength: 140 }).map((v) => ({ tag: 'DF' + t.toString(16).toUpperCase().padStart(2, '0'), value: Buffer.from(v) })),
    );
  const entries = spec.unknownTags === 'keep' ? fc.oneof({ arbitrary: knownEntry, weight: 4 }, { arbitrary: unknownEntry, weight: 1 }) : knownEntry;
  return fc.array(entries, { minLength: 0, maxLength: 8 }).filter((list) => {
    // Fits the field: each entry is tag + length (≤3) + value bytes.
    let size = 0;
    for (const e of list) size += e.tag.length / 2 + (e.value.length < 0x80 ? 1 : e.value.length < 0x100 ? 2 : 3) + e.value.length;
    return size <= spec.length;
  });
}

export function fieldArb(spec: FieldSpec, o: CharsetOverrides = {}, maxVar = 60): fc.Arbitrary<FieldValue> {
  switch (spec.type) {
    case 'b': {
      const fixed = !spec.prefix || spec.prefix.kind === 'fixed';
      const max = fixed ? spec.length : Math.min(spec.length, maxVar);
      return fc.uint8Array({ minLength: fixed ? spec.length : (spec.minLength ?? 0), maxLength: max }).map((a) => Buffer.from(a));
    }
    case 'tlv':
      return tlvArb(spec);
    case 'composite': {
      const subs = Object.entries(spec.subfields ?? {});
      return fc.tuple(...subs.map(([, s]) => fieldArb(s, o, maxVar))).map((vals) => Object.fromEntries(subs.map(([id], i) => [id, vals[i]!])));
    }
    default:
      return textArb(spec, o, maxVar);
  }
}

export interface MessageArbOptions extends CharsetOverrides {
  /** Only these fields may appear (default: every field the dialect defines). */
  fields?: number[];
  maxFields?: number;
}

/** Random valid messages for `codec`: an MTI and a random subset of its fields with valid values. */
export function messageArb(codec: Codec, opts: MessageArbOptions = {}): fc.Arbitrary<IsoMessage> {
  const all = (opts.fields ?? Object.keys(codec.spec.fields).map(Number)).sort((a, b) => a - b);
  const mti = fc.string({ unit: fc.constantFrom(...DIGITS), minLength: 4, maxLength: 4 });
  const chosen = fc.subarray(all, { minLength: 1, maxLength: Math.min(opts.maxFields ?? 24, all.length) });
  return fc.tuple(mti, chosen).chain(([m, nums]) =>
    fc.tuple(...nums.map((n) => fieldArb(codec.spec.fields[String(n)]!, opts))).map((vals) => {
      const msg = new IsoMessage(m);
      nums.forEach((n, i) => msg.set(n, vals[i]));
      return msg;
    }),
  );
}

/** Comparable plain view: Buffers as hex, TLV entries as tag=hex. */
export function view(m: IsoMessage): Record<string, unknown> {
  const o: Record<string, unknown> = { mti: m.mti };
  const conv = (v: FieldValue): unknown =>
    typeof v === 'string'
      ? v
      : v instanceof Uint8Array
        ? `hex:${Buffer.from(v).toString('hex')}`
        : Array.isArray(v)
          ? v.map((e) => `${e.tag}=${e.value.toString('hex')}`)
          : Object.fromEntries(Object.entries(v).map(([k, sv]) => [k, conv(sv)]));
  for (const n of m.fieldNumbers()) o[n] = conv(m.get(n)!);
  return o;
}
