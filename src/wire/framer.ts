import { SwitchError } from '../errors.js';

/**
 * A framer only reads and writes the length header that precedes every ISO 8583 message on a stream
 * (docs/architecture.md, "Conventions"). It never looks inside the message. Framers are plain data objects plus two small
 * functions, so a dialect config can name one (`{ header: 'binary2', tpdu: true }`) and the hot path calls
 * straight into them.
 *
 * The length counts the bytes after the header: the optional 5-byte TPDU plus the message. A length of zero is
 * a keep-alive frame (no TPDU, no message).
 */
export type LengthHeaderKind = 'binary2' | 'ascii4' | 'bcd2';

export const TPDU_BYTES = 5;

export interface Framer {
  /** Stable name, e.g. "binary2" or "ascii4+tpdu"; used in logs and error params. */
  readonly name: string;
  readonly header: LengthHeaderKind;
  /** Bytes taken by the length header. */
  readonly headerBytes: number;
  /** Largest length the header can express. */
  readonly maxLength: number;
  /** 5 when a TPDU follows the length header, else 0. */
  readonly tpduBytes: number;
  /**
   * Reads the length at `buf[offset .. offset+headerBytes)`; the caller guarantees the bytes are there.
   * Returns -1 when the header is not a valid number for this framer.
   */
  readLength(buf: Buffer, offset: number): number;
  /** Writes `length` (0..maxLength) at `buf[offset ..]`. */
  writeLength(buf: Buffer, offset: number, length: number): void;
}

export interface FramerOptions {
  header?: LengthHeaderKind;
  /** A 5-byte TPDU header follows the length (default false). */
  tpdu?: boolean;
}

function readBinary2(buf: Buffer, o: number): number {
  return (buf[o]! << 8) | buf[o + 1]!;
}
function writeBinary2(buf: Buffer, o: number, n: number): void {
  buf[o] = (n >>> 8) & 0xff;
  buf[o + 1] = n & 0xff;
}

function readAscii4(buf: Buffer, o: number): number {
  let n = 0;
  for (let i = 0; i < 4; i++) {
    const d = buf[o + i]! - 48;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}
function writeAscii4(buf: Buffer, o: number, n: number): void {
  buf[o] = 48 + ((n / 1000) | 0);
  buf[o + 1] = 48 + (((n / 100) | 0) % 10);
  buf[o + 2] = 48 + (((n / 10) | 0) % 10);
  buf[o + 3] = 48 + (n % 10);
}

function readBcd2(buf: Buffer, o: number): number {
  const a = buf[o]!;
  const b = buf[o + 1]!;
  const d0 = a >> 4;
  const d1 = a & 15;
  const d2 = b >> 4;
  const d3 = b & 15;
  if (d0 > 9 || d1 > 9 || d2 > 9 || d3 > 9) return -1;
  return d0 * 1000 + d1 * 100 + d2 * 10 + d3;
}
function writeBcd2(buf: Buffer, o: number, n: number): void {
  const d0 = (n / 1000) | 0;
  const d1 = ((n / 100) | 0) % 10;
  const d2 = ((n / 10) | 0) % 10;
  const d3 = n % 10;
  buf[o] = (d0 << 4) | d1;
  buf[o + 1] = (d2 << 4) | d3;
}

const HEADERS: Record<LengthHeaderKind, Pick<Framer, 'headerBytes' | 'maxLength' | 'readLength' | 'writeLength'>> = {
  binary2: { headerBytes: 2, maxLength: 0xffff, readLength: readBinary2, writeLength: writeBinary2 },
  ascii4: { headerBytes: 4, maxLength: 9999, readLength: readAscii4, writeLength: writeAscii4 },
  bcd2: { headerBytes: 2, maxLength: 9999, readLength: readBcd2, writeLength: writeBcd2 },
};

export const LENGTH_HEADER_KINDS: readonly LengthHeaderKind[] = Object.keys(HEADERS) as LengthHeaderKind[];

/** Builds a framer; with no options, the default 2-byte binary length and no TPDU. */
export function createFramer(opts: FramerOptions | LengthHeaderKind = {}): Framer {
  const o: FramerOptions = typeof opts === 'string' ? { header: opts } : opts;
  const header = o.header ?? 'binary2';
  const h = HEADERS[header];
  if (!h) throw new SwitchError('SW_ERR_CONFIG_INVALID', { path: 'framer.header', reason: `unknown length header ${String(header)}` });
  const tpduBytes = o.tpdu ? TPDU_BYTES : 0;
  return Object.freeze({
    name: tpduBytes ? `${header}+tpdu` : header,
    header,
    headerBytes: h.headerBytes,
    maxLength: h.maxLength,
    tpduBytes,
    readLength: h.readLength,
    writeLength: h.writeLength,
  });
}

/** Parses "binary2", "ascii4+tpdu", … (the framer's own name) back into a framer. */
export function framerByName(name: string): Framer {
  const [header, extra] = name.split('+');
  if (!(header! in HEADERS) || (extra !== undefined && extra !== 'tpdu')) {
    throw new SwitchError('SW_ERR_CONFIG_INVALID', { path: 'framer', reason: `unknown framer ${name}` });
  }
  return createFramer({ header: header as LengthHeaderKind, tpdu: extra === 'tpdu' });
}

/** Total bytes on the wire for a message of `payloadBytes` (header + TPDU + message). */
export function frameSize(framer: Framer, payloadBytes: number): number {
  return framer.headerBytes + framer.tpduBytes + payloadBytes;
}

/**
 * Writes one complete frame into `out` at `offset` and returns the offset after it. `tpdu` must be
 * 5 bytes when the framer has a TPDU (a zero TPDU is written when it is omitted).
 */
export function writeFrame(framer: Framer, out: Buffer, offset: number, payload: Buffer, tpdu?: Buffer): number {
  const len = framer.tpduBytes + payload.length;
  if (len > framer.maxLength) throw new SwitchError('SW_ERR_FRAME_TOO_LARGE', { length: len, max: framer.maxLength });
  framer.writeLength(out, offset, len);
  let o = offset + framer.headerBytes;
  if (framer.tpduBytes) {
    if (tpdu) tpdu.copy(out, o, 0, TPDU_BYTES);
    else out.fill(0, o, o + TPDU_BYTES);
    o += TPDU_BYTES;
  }
  payload.copy(out, o);
  return o + payload.length;
}

/** One frame as a fresh Buffer (header + optional TPDU + payload). Not for the hot path's batch writes. */
export function encodeFrame(framer: Framer, payload: Buffer, tpdu?: Buffer): Buffer {
  const out = Buffer.allocUnsafe(frameSize(framer, payload.length));
  writeFrame(framer, out, 0, payload, tpdu);
  return out;
}

/** A keep-alive frame: a length of zero. */
export function keepAliveFrame(framer: Framer): Buffer {
  const out = Buffer.alloc(framer.headerBytes);
  framer.writeLength(out, 0, 0);
  return out;
}

/**
 * The TPDU of an answer: same protocol id, destination and source addresses swapped
 * (TPDU = id(1) · destination(2) · source(2)).
 */
export function swapTpdu(tpdu: Buffer): Buffer {
  const out = Buffer.allocUnsafe(TPDU_BYTES);
  out[0] = tpdu[0]!;
  out[1] = tpdu[3]!;
  out[2] = tpdu[4]!;
  out[3] = tpdu[1]!;
  out[4] = tpdu[2]!;
  return out;
}
