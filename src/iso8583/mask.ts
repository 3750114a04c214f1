import type { IsoMessage, FieldValue } from './message.js';

/** Data elements that must never be logged or stored: track 2/3, track 1, PIN block, ICC data (PCI DSS 3.3). */
export const SENSITIVE_FIELDS: ReadonlySet<number> = new Set([35, 36, 45, 52, 55]);

/** PAN masked to first 6 and last 4 (PCI DSS 3.4); shorter numbers keep at most the last 4. */
export function maskPan(pan: string): string {
  const n = pan.length;
  if (n >= 13) return pan.slice(0, 6) + '*'.repeat(n - 10) + pan.slice(-4);
  if (n > 4) return '*'.repeat(n - 4) + pan.slice(-4);
  return '*'.repeat(n);
}

/** Track 2 data is never shown: only its length survives. */
export function maskTrack2(track: string): string {
  return `[track2 ${track.length} chars wiped]`;
}

function show(v: FieldValue): string | Record<string, string> {
  if (typeof v === 'string') return v;
  if (v instanceof Uint8Array) return `[${v.length} bytes]`;
  if (Array.isArray(v)) return `[${v.length} TLV entries]`;
  const o: Record<string, string> = {};
  for (const [k, sv] of Object.entries(v)) {
    const s = show(sv);
    o[k] = typeof s === 'string' ? s : '[composite]';
  }
  return o;
}

/**
 * A log-safe view of a message: DE2 masked 6+4, DE35/36/45/52/55 wiped, binary fields reduced to their
 * length. Every log line that shows a message goes through this.
 */
export function maskMessage(msg: IsoMessage): Record<string, unknown> {
  const out: Record<string, unknown> = { mti: msg.mti };
  for (const n of msg.fieldNumbers()) {
    if (SENSITIVE_FIELDS.has(n)) {
      out[String(n)] = '[wiped]'; // not even read: DE55 stays unsplit (docs/codec.md)
      continue;
    }
    const v = msg.get(n)!;
    if (n === 2 && typeof v === 'string') out['2'] = maskPan(v);
    else out[String(n)] = show(v);
  }
  return out;
}
