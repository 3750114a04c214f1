/**
 * Differential test against the npm package iso_8583, an independent implementation of the same layout
 * (ASCII fields, binary bitmap): our iso87-ascii-bbitmap. Messages packed by ours must unpack to the same
 * fields with iso_8583, and the other way round.
 *
 * Fields left out, each where iso_8583 departs from ISO 8583:1987:
 *   40  ISO 8583:1987 defines an 3 (service restriction code); iso_8583 declares n 3.
 *   53  ISO 8583:1987 defines n 16; iso_8583 declares b 96 (48 bytes).
 *   55  ISO 8583:1987 reserves DE55 for ISO use (ans..999); ISO 8583:1993 and EMV carry ICC data there as
 *       binary BER-TLV, which we implement; iso_8583 treats it as text.
 *   58, 59  ISO 8583:1987 defines ans..999 LLLVAR; iso_8583 declares n..11 LLVAR and ans..255.
 *   64, 96, 128  ISO 8583:1987 defines b 64 (8 bytes); iso_8583 packs 4 bytes (MaxLen counts hex digits).
 *   118-122  ISO 8583:1987 defines ans..999; iso_8583 declares n..999.
 *   123  ISO 8583:1987 defines ans..999; iso_8583 declares an with a minimum length of 15.
 *   127  ISO 8583:1987 defines ans..999 LLLVAR; iso_8583 parses it as a structured private field with its own bitmaps.
 *   129-192  iso_8583 has no tertiary bitmap.
 * Character sets are narrowed to what both accept: iso_8583's `an` has no space, its `ans` and `ns` lack # @ \.
 */
import t from 'tap';
import fc from 'fast-check';
import { createRequire } from 'node:module';
import { loadDialect, IsoMessage, type FieldValue } from '../../src/iso8583/index.js';
import { messageArb, charsFor } from '../helpers/arbitrary.js';
import { propertyHolds } from '../helpers/seed.js';

const require = createRequire(import.meta.url);
type PeerMsg = Record<string, string>;
interface PeerInstance {
  getRawMessage(): Buffer | { error: string };
  getIsoJSON(b: Buffer, c: object): PeerMsg | { error: string };
}
const Peer = require('iso_8583') as new (msg?: PeerMsg) => PeerInstance;

const codec = loadDialect('iso87-ascii-bbitmap');
const EXCLUDED = new Set([40, 53, 55, 58, 59, 64, 96, 118, 119, 120, 121, 122, 123, 127, 128]);
const FIELDS = Object.keys(codec.spec.fields)
  .map(Number)
  .filter((n) => n <= 128 && !EXCLUDED.has(n));
const AN = charsFor('an').filter((c) => c !== ' ');
const ANS = charsFor('ans').filter((c) => !'#@\\'.includes(c));
const NS = charsFor('ns').filter((c) => !'#@\\'.includes(c));
const RUNS = 1000;

function peerValue(v: FieldValue): string {
  if (typeof v === 'string') return v;
  if (v instanceof Uint8Array) return Buffer.from(v).toString('hex');
  throw new Error('no structured fields in the differential set');
}

function toPeer(m: IsoMessage): PeerMsg {
  const o: PeerMsg = { 0: m.mti };
  for (const n of m.fieldNumbers()) o[n] = peerValue(m.get(n)!);
  return o;
}

const arb = messageArb(codec, { fields: FIELDS, an: AN, ans: ANS, ns: NS, maxFields: 30 });
// iso_8583 accepts only MTIs it knows; draw from the ones a switch uses.
const MTIS = ['0100', '0110', '0200', '0210', '0220', '0230', '0400', '0410', '0420', '0430', '0800', '0810'];
const withMti = (a: fc.Arbitrary<IsoMessage>): fc.Arbitrary<IsoMessage> =>
  fc.tuple(a, fc.constantFrom(...MTIS)).map(([m, mti]) => {
    m.mti = mti;
    return m;
  });
// iso_8583 cannot pack an empty variable field (it tests values for truthiness), so that direction draws non-empty ones.
const peerArb = messageArb(codec, { fields: FIELDS, an: AN, ans: ANS, ns: NS, maxFields: 30, nonEmpty: true });

t.test(`${RUNS} messages packed by ours unpack to the same fields with iso_8583`, async (t) => {
  await propertyHolds(
    t,
    fc.property(withMti(arb), (m) => {
      const bytes = codec.pack(m);
      const got = new Peer().getIsoJSON(bytes, { lenHeader: false });
      if ('error' in got) throw new Error(`iso_8583 could not unpack: ${String(got.error)}`);
      const want = toPeer(m);
      for (const [k, v] of Object.entries(want)) {
        if (got[k] !== v) throw new Error(`field ${k}: iso_8583 read a different value`);
      }
      for (const k of Object.keys(got)) if (!(k in want)) throw new Error(`iso_8583 found extra field ${k}`);
    }),
    { numRuns: RUNS, seed: 1987 },
    'iso_8583 reads every field ours wrote',
  );
});

t.test(`${RUNS} messages packed by iso_8583 unpack to the same fields with ours`, async (t) => {
  await propertyHolds(
    t,
    fc.property(withMti(peerArb), (m) => {
      const want = toPeer(m);
      const bytes = new Peer(want).getRawMessage();
      if (!Buffer.isBuffer(bytes)) throw new Error(`iso_8583 could not pack: ${JSON.stringify(bytes)}`);
      const got = toPeer(codec.unpack(bytes));
      t.same(got, want, 'same fields', { diagnostic: false });
    }),
    { numRuns: RUNS, seed: 1993 },
    'ours reads every field iso_8583 wrote',
  );
});
