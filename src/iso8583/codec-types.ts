import type { IsoMessage } from './message.js';

/** Field types of ISO 8583:1987, plus tlv (BER-TLV, DE55) and composite (positional subfields). */
export type FieldType = 'n' | 'a' | 'an' | 'ans' | 'ns' | 'xn' | 'z' | 'b' | 'tlv' | 'composite';
/** How a field's content is written on the wire. hex = binary bytes written as two ASCII hex chars each. */
export type Encoding = 'ascii' | 'bcd' | 'ebcdic' | 'binary' | 'hex';
export type PrefixKind = 'fixed' | 'l' | 'll' | 'lll' | 'llll' | 'lllll' | 'llllll';
export type PrefixEncoding = 'ascii' | 'bcd' | 'binary' | 'ebcdic' | 'hex';
/** What a length counts. Explicit so BCD digit/byte mix-ups cannot hide. */
export type LengthUnit = 'digits' | 'chars' | 'bytes';

export interface PrefixSpec {
  kind: PrefixKind;
  /** Encoding of the length prefix itself (default: the field's encoding family). */
  encoding?: PrefixEncoding;
}

export interface PaddingSpec {
  side: 'left' | 'right';
  /** One character, e.g. "0" or " "; for BCD the pad nibble "0" or "F". */
  char: string;
}

export interface TagSpec {
  type: 'n' | 'an' | 'ans' | 'b' | 'cn';
  /** Maximum value length in bytes. */
  maxBytes?: number;
  description?: string;
}

export interface FieldSpec {
  type: FieldType;
  /** Maximum (or, with a fixed prefix, exact) length, counted in `unit`. */
  length: number;
  unit?: LengthUnit;
  /** Minimum length for variable fields (default 0). */
  minLength?: number;
  encoding: Encoding;
  prefix?: PrefixSpec;
  padding?: PaddingSpec;
  /** BCD only: where the pad nibble of an odd digit count goes, and its value (0 or 15 = F). */
  bcdPad?: { side: 'left' | 'right'; nibble: 0 | 15 };
  description?: string;
  /** tlv: known tags, and what to do with others. */
  tags?: Record<string, TagSpec>;
  unknownTags?: 'keep' | 'skip' | 'error';
  /** composite: positional subfields, in order. */
  subfields?: Record<string, FieldSpec>;
  /** Fields whose content must never be logged or stored (DE35, DE45, DE52, DE55 by default). */
  sensitive?: boolean;
}

export interface DialectSpec {
  name: string;
  description?: string;
  /** The ISO 8583 version written (default 1987). */
  version?: 1987 | 1993;
  mti: { encoding: 'ascii' | 'bcd' | 'ebcdic' };
  bitmap: { encoding: 'binary' | 'hex' | 'ebcdic-hex'; maxFields?: 64 | 128 | 192 };
  /** Optional cap on a packed message's size in bytes (default 9999). */
  maxMessageBytes?: number;
  fields: Record<string, FieldSpec>;
}

/** A dialect compiled from its spec: the only thing the hot path calls. */
export interface Codec {
  readonly name: string;
  readonly spec: DialectSpec;
  pack(msg: IsoMessage): Buffer;
  unpack(bytes: Buffer): IsoMessage;
}
