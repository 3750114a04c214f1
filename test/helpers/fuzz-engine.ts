/**
 * Decoder fuzzing: mutated valid frames and random frames go through unpack; the only acceptable failure is
 * a SwitchError from the registry. A frame that does unpack must pack again and unpack to the same view.
 */
import fc from 'fast-check';
import type { Codec } from '../../src/iso8583/index.js';
import { isSwitchError } from '../../src/errors.js';
import { messageArb, view } from './arbitrary.js';

/** xorshift32: fast, seeded, good enough to steer mutations. */
export function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

export interface FuzzResult {
  cases: number;
  decoded: number;
  rejected: number;
  byCode: Record<string, number>;
}

export class FuzzFailure extends Error {
  constructor(
    readonly input: Buffer,
    cause: unknown,
  ) {
    super(`decoder failed outside the error registry on a ${input.length}-byte input: ${String(cause)}`, { cause });
  }
}

function mutate(src: Buffer, next: () => number): Buffer {
  const r = next() % 8;
  const b = Buffer.from(src);
  const at = b.length > 0 ? next() % b.length : 0;
  switch (r) {
    case 0: // flip a bit
      if (b.length) b[at]! ^= 1 << (next() % 8);
      return b;
    case 1: // random byte
      if (b.length) b[at] = next() & 0xff;
      return b;
    case 2: // truncate
      return b.subarray(0, at);
    case 3: // insert bytes
      return Buffer.concat([b.subarray(0, at), Buffer.from([next() & 0xff, next() & 0xff]), b.subarray(at)]);
    case 4: // delete a run
      return Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + (next() % 8)))]);
    case 5: // length-prefix-like digits
      if (b.length) b[at] = 0x30 + (next() % 10);
      return b;
    case 6: // set the bitmap's high bits
      if (b.length > 5) b[4 + (next() % Math.min(8, b.length - 4))] |= 0x80 >> (next() % 8);
      return b;
    default: {
      // random frame
      const n = next() % 300;
      const out = Buffer.allocUnsafe(n);
      for (let i = 0; i < n; i++) out[i] = next() & 0xff;
      return out;
    }
  }
}

/** Runs `cases` fuzz cases against `codec`, seeded; throws FuzzFailure on the first non-registry failure. */
export function fuzzCodec(codec: Codec, cases: number, seed: number, onProgress?: (done: number) => void): FuzzResult {
  const seeds = fc.sample(messageArb(codec), { numRuns: 64, seed }).map((m) => codec.pack(m));
  const next = rng(seed);
  const res: FuzzResult = { cases: 0, decoded: 0, rejected: 0, byCode: {} };
  for (let i = 0; i < cases; i++) {
    let input = seeds[next() % seeds.length]!;
    const rounds = 1 + (next() % 3);
    for (let k = 0; k < rounds; k++) input = mutate(input, next);
    let decoded;
    try {
      decoded = codec.unpack(input);
    } catch (e) {
      if (!isSwitchError(e)) throw new FuzzFailure(input, e);
      res.rejected++;
      res.byCode[e.code] = (res.byCode[e.code] ?? 0) + 1;
      res.cases++;
      continue;
    }
    try {
      const again = codec.unpack(codec.pack(decoded));
      if (JSON.stringify(view(again)) !== JSON.stringify(view(decoded))) throw new Error('re-pack changed the message');
    } catch (e) {
      throw new FuzzFailure(input, e);
    }
    res.decoded++;
    res.cases++;
    if (onProgress && i % 100000 === 0) onProgress(i);
  }
  return res;
}
