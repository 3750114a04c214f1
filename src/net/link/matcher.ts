import type { IsoMessage } from '../../iso8583/message.js';
import { responseMti } from '../../iso8583/message.js';

/**
 * How requests and responses are paired, as data (docs/architecture.md, "Conventions"). The key is the response-class MTI
 * (0100 → 0110, 0401 → 0410) followed by the values of `fields`; jPOS QMUX's default is MTI + DE41 + DE11.
 */
export interface MatchKeySpec {
  /** Fields whose values make up the key, in order (default [41, 11]). */
  fields: readonly number[];
  /** Put the response-class MTI in front (default true). */
  mti?: boolean;
}

export const DEFAULT_MATCH_KEY: MatchKeySpec = { fields: [41, 11], mti: true };

/**
 * Returns the key of a message, request or response alike (a request's MTI is mapped to its response class,
 * so 0100 and 0110 give the same key), or null when none of the key fields is present.
 */
export type MatchKeyFn = (msg: IsoMessage) => string | null;

export function compileMatchKey(spec: MatchKeySpec | MatchKeyFn = DEFAULT_MATCH_KEY): MatchKeyFn {
  if (typeof spec === 'function') return spec;
  const fields = [...spec.fields];
  const withMti = spec.mti ?? true;
  return (msg) => {
    let key = withMti ? responseMti(msg.mti) : '';
    let present = 0;
    for (const f of fields) {
      const v = msg.get(f);
      key += '|';
      if (v === undefined) continue;
      present++;
      key += typeof v === 'string' ? v : Buffer.isBuffer(v) ? v.toString('hex') : JSON.stringify(v);
    }
    return present === 0 && fields.length > 0 ? null : key;
  };
}

/**
 * Keys of requests that timed out recently, so a response arriving after its timeout is reported as "late"
 * rather than "unknown". Bounded: the oldest keys go first.
 */
export class RecentKeys {
  private readonly keys = new Map<string, number>();
  constructor(private readonly cap = 10_000) {}
  add(key: string): void {
    this.keys.delete(key);
    this.keys.set(key, Date.now());
    if (this.keys.size > this.cap) {
      const oldest = this.keys.keys().next().value;
      if (oldest !== undefined) this.keys.delete(oldest);
    }
  }
  take(key: string): boolean {
    return this.keys.delete(key);
  }
}
