/**
 * Writes the four ISO 8583:1987 dialects in specs/ from one field table, so their definitions cannot drift
 * apart. Field definitions follow ISO 8583:1987 (as jPOS ISO87APackager/ISO87BPackager define them); DE55
 * carries EMV data as BER-TLV (ISO 8583:1993 practice). Run: npx tsx scripts/gen-specs.ts
 */
import { writeFileSync } from 'node:fs';
import type { DialectSpec, FieldSpec, FieldType, PrefixKind, TagSpec } from '../src/iso8583/codec-types.js';

type Row = [number, FieldType, number, PrefixKind, string];
const ISO87: Row[] = [
  [2, 'n', 19, 'll', 'Primary account number (PAN)'],
  [3, 'n', 6, 'fixed', 'Processing code'],
  [4, 'n', 12, 'fixed', 'Amount, transaction'],
  [5, 'n', 12, 'fixed', 'Amount, settlement'],
  [6, 'n', 12, 'fixed', 'Amount, cardholder billing'],
  [7, 'n', 10, 'fixed', 'Transmission date and time (MMDDhhmmss)'],
  [8, 'n', 8, 'fixed', 'Amount, cardholder billing fee'],
  [9, 'n', 8, 'fixed', 'Conversion rate, settlement'],
  [10, 'n', 8, 'fixed', 'Conversion rate, cardholder billing'],
  [11, 'n', 6, 'fixed', 'System trace audit number (STAN)'],
  [12, 'n', 6, 'fixed', 'Time, local transaction (hhmmss)'],
  [13, 'n', 4, 'fixed', 'Date, local transaction (MMDD)'],
  [14, 'n', 4, 'fixed', 'Date, expiration (YYMM)'],
  [15, 'n', 4, 'fixed', 'Date, settlement (MMDD)'],
  [16, 'n', 4, 'fixed', 'Date, conversion (MMDD)'],
  [17, 'n', 4, 'fixed', 'Date, capture (MMDD)'],
  [18, 'n', 4, 'fixed', 'Merchant type (MCC)'],
  [19, 'n', 3, 'fixed', 'Acquiring institution country code'],
  [20, 'n', 3, 'fixed', 'PAN extended, country code'],
  [21, 'n', 3, 'fixed', 'Forwarding institution country code'],
  [22, 'n', 3, 'fixed', 'Point of service entry mode'],
  [23, 'n', 3, 'fixed', 'Card sequence number'],
  [24, 'n', 3, 'fixed', 'Network international identifier (NII)'],
  [25, 'n', 2, 'fixed', 'Point of service condition code'],
  [26, 'n', 2, 'fixed', 'Point of service PIN capture code'],
  [27, 'n', 1, 'fixed', 'Authorization identification response length'],
  [28, 'xn', 8, 'fixed', 'Amount, transaction fee'],
  [29, 'xn', 8, 'fixed', 'Amount, settlement fee'],
  [30, 'xn', 8, 'fixed', 'Amount, transaction processing fee'],
  [31, 'xn', 8, 'fixed', 'Amount, settlement processing fee'],
  [32, 'n', 11, 'll', 'Acquiring institution identification code'],
  [33, 'n', 11, 'll', 'Forwarding institution identification code'],
  [34, 'ns', 28, 'll', 'Primary account number, extended'],
  [35, 'z', 37, 'll', 'Track 2 data'],
  [36, 'n', 104, 'lll', 'Track 3 data'],
  [37, 'an', 12, 'fixed', 'Retrieval reference number (RRN)'],
  [38, 'an', 6, 'fixed', 'Authorization identification response'],
  [39, 'an', 2, 'fixed', 'Response code'],
  [40, 'an', 3, 'fixed', 'Service restriction code'],
  [41, 'ans', 8, 'fixed', 'Card acceptor terminal identification'],
  [42, 'ans', 15, 'fixed', 'Card acceptor identification code'],
  [43, 'ans', 40, 'fixed', 'Card acceptor name/location'],
  [44, 'ans', 25, 'll', 'Additional response data'],
  [45, 'ans', 76, 'll', 'Track 1 data'],
  [46, 'ans', 999, 'lll', 'Additional data, ISO'],
  [47, 'ans', 999, 'lll', 'Additional data, national'],
  [48, 'ans', 999, 'lll', 'Additional data, private'],
  [49, 'n', 3, 'fixed', 'Currency code, transaction'],
  [50, 'n', 3, 'fixed', 'Currency code, settlement'],
  [51, 'n', 3, 'fixed', 'Currency code, cardholder billing'],
  [52, 'b', 8, 'fixed', 'Personal identification number (PIN) data'],
  [53, 'n', 16, 'fixed', 'Security related control information'],
  [54, 'an', 120, 'lll', 'Additional amounts'],
  [55, 'tlv', 999, 'lll', 'ICC data (EMV, BER-TLV)'],
  [56, 'ans', 999, 'lll', 'Reserved ISO'],
  [57, 'ans', 999, 'lll', 'Reserved national'],
  [58, 'ans', 999, 'lll', 'Reserved national'],
  [59, 'ans', 999, 'lll', 'Reserved national'],
  [60, 'ans', 999, 'lll', 'Reserved national'],
  [61, 'ans', 999, 'lll', 'Reserved private'],
  [62, 'ans', 999, 'lll', 'Reserved private'],
  [63, 'ans', 999, 'lll', 'Reserved private'],
  [64, 'b', 8, 'fixed', 'Message authentication code (MAC)'],
  [66, 'n', 1, 'fixed', 'Settlement code'],
  [67, 'n', 2, 'fixed', 'Extended payment code'],
  [68, 'n', 3, 'fixed', 'Receiving institution country code'],
  [69, 'n', 3, 'fixed', 'Settlement institution country code'],
  [70, 'n', 3, 'fixed', 'Network management information code'],
  [71, 'n', 4, 'fixed', 'Message number'],
  [72, 'n', 4, 'fixed', 'Message number, last'],
  [73, 'n', 6, 'fixed', 'Date, action (YYMMDD)'],
  [74, 'n', 10, 'fixed', 'Credits, number'],
  [75, 'n', 10, 'fixed', 'Credits, reversal number'],
  [76, 'n', 10, 'fixed', 'Debits, number'],
  [77, 'n', 10, 'fixed', 'Debits, reversal number'],
  [78, 'n', 10, 'fixed', 'Transfer, number'],
  [79, 'n', 10, 'fixed', 'Transfer, reversal number'],
  [80, 'n', 10, 'fixed', 'Inquiries, number'],
  [81, 'n', 10, 'fixed', 'Authorizations, number'],
  [82, 'n', 12, 'fixed', 'Credits, processing fee amount'],
  [83, 'n', 12, 'fixed', 'Credits, transaction fee amount'],
  [84, 'n', 12, 'fixed', 'Debits, processing fee amount'],
  [85, 'n', 12, 'fixed', 'Debits, transaction fee amount'],
  [86, 'n', 16, 'fixed', 'Credits, amount'],
  [87, 'n', 16, 'fixed', 'Credits, reversal amount'],
  [88, 'n', 16, 'fixed', 'Debits, amount'],
  [89, 'n', 16, 'fixed', 'Debits, reversal amount'],
  [90, 'n', 42, 'fixed', 'Original data elements'],
  [91, 'an', 1, 'fixed', 'File update code'],
  [92, 'an', 2, 'fixed', 'File security code'],
  [93, 'an', 5, 'fixed', 'Response indicator'],
  [94, 'an', 7, 'fixed', 'Service indicator'],
  [95, 'an', 42, 'fixed', 'Replacement amounts'],
  [96, 'b', 8, 'fixed', 'Message security code'],
  [97, 'xn', 16, 'fixed', 'Amount, net settlement'],
  [98, 'ans', 25, 'fixed', 'Payee'],
  [99, 'n', 11, 'll', 'Settlement institution identification code'],
  [100, 'n', 11, 'll', 'Receiving institution identification code'],
  [101, 'ans', 17, 'll', 'File name'],
  [102, 'ans', 28, 'll', 'Account identification 1'],
  [103, 'ans', 28, 'll', 'Account identification 2'],
  [104, 'ans', 100, 'lll', 'Transaction description'],
];
for (let n = 105; n <= 127; n++) ISO87.push([n, 'ans', 999, 'lll', n <= 111 ? 'Reserved ISO' : n <= 119 ? 'Reserved national' : 'Reserved private']);
ISO87.push([128, 'b', 8, 'fixed', 'Message authentication code (MAC)']);
for (let n = 129; n <= 192; n++) ISO87.push([n, 'ans', 999, 'lll', 'Reserved (tertiary bitmap)']);

/** EMV tags commonly carried in DE55 (EMV Book 3 annex A); others are kept as they are. */
const EMV_TAGS: Record<string, TagSpec> = {
  '4F': { type: 'b', maxBytes: 16, description: 'Application identifier (AID), card' },
  '50': { type: 'ans', maxBytes: 16, description: 'Application label' },
  '57': { type: 'b', maxBytes: 19, description: 'Track 2 equivalent data' },
  '5A': { type: 'cn', maxBytes: 10, description: 'Application PAN' },
  '5F2A': { type: 'n', maxBytes: 2, description: 'Transaction currency code' },
  '5F34': { type: 'n', maxBytes: 1, description: 'PAN sequence number' },
  '82': { type: 'b', maxBytes: 2, description: 'Application interchange profile' },
  '84': { type: 'b', maxBytes: 16, description: 'Dedicated file name' },
  '8A': { type: 'an', maxBytes: 2, description: 'Authorisation response code' },
  '91': { type: 'b', maxBytes: 16, description: 'Issuer authentication data' },
  '95': { type: 'b', maxBytes: 5, description: 'Terminal verification results' },
  '9A': { type: 'n', maxBytes: 3, description: 'Transaction date (YYMMDD)' },
  '9C': { type: 'n', maxBytes: 1, description: 'Transaction type' },
  '9F02': { type: 'n', maxBytes: 6, description: 'Amount, authorised' },
  '9F03': { type: 'n', maxBytes: 6, description: 'Amount, other' },
  '9F09': { type: 'b', maxBytes: 2, description: 'Application version number, terminal' },
  '9F10': { type: 'b', maxBytes: 32, description: 'Issuer application data' },
  '9F1A': { type: 'n', maxBytes: 2, description: 'Terminal country code' },
  '9F1E': { type: 'an', maxBytes: 8, description: 'Interface device serial number' },
  '9F26': { type: 'b', maxBytes: 8, description: 'Application cryptogram' },
  '9F27': { type: 'b', maxBytes: 1, description: 'Cryptogram information data' },
  '9F33': { type: 'b', maxBytes: 3, description: 'Terminal capabilities' },
  '9F34': { type: 'b', maxBytes: 3, description: 'CVM results' },
  '9F35': { type: 'n', maxBytes: 1, description: 'Terminal type' },
  '9F36': { type: 'b', maxBytes: 2, description: 'Application transaction counter' },
  '9F37': { type: 'b', maxBytes: 4, description: 'Unpredictable number' },
  '9F41': { type: 'n', maxBytes: 4, description: 'Transaction sequence counter' },
  '9F53': { type: 'b', maxBytes: 1, description: 'Transaction category code' },
};

const SENSITIVE = new Set([35, 36, 45, 52, 55]);

type Style = 'ascii' | 'ascii-bbitmap' | 'binary' | 'ebcdic';

function field([n, type, length, kind, description]: Row, style: Style): FieldSpec {
  const f: FieldSpec = { type, length, encoding: 'ascii', description };
  if (kind !== 'fixed') f.prefix = { kind, encoding: 'ascii' };
  const isNumeric = type === 'n' || type === 'z' || type === 'xn';
  const isBytes = type === 'b' || type === 'tlv';
  switch (style) {
    case 'ascii':
      f.encoding = isBytes ? 'hex' : 'ascii';
      break;
    case 'ascii-bbitmap':
      f.encoding = isBytes ? 'binary' : 'ascii';
      break;
    case 'binary':
      // jPOS ISO87BPackager: BCD numbers and lengths, text as ASCII, binary bytes raw.
      f.encoding = isBytes ? 'binary' : isNumeric ? 'bcd' : 'ascii';
      if (f.prefix) f.prefix.encoding = 'bcd';
      if (type === 'n' && kind !== 'fixed') f.bcdPad = { side: 'right', nibble: 0 };
      if (type === 'z') f.bcdPad = { side: 'right', nibble: 15 };
      break;
    case 'ebcdic':
      f.encoding = isBytes ? 'binary' : 'ebcdic';
      if (f.prefix) f.prefix.encoding = isBytes ? 'binary' : 'ebcdic';
      if (f.prefix && isBytes) f.prefix.encoding = 'ebcdic';
      break;
  }
  if (n === 2) f.minLength = 12;
  if (SENSITIVE.has(n)) f.sensitive = true;
  if (type === 'tlv') {
    f.tags = EMV_TAGS;
    f.unknownTags = 'keep';
  }
  return f;
}

function dialect(name: string, style: Style, description: string): DialectSpec {
  const fields: Record<string, FieldSpec> = {};
  for (const row of ISO87) fields[String(row[0])] = field(row, style);
  return {
    name,
    description,
    mti: { encoding: style === 'binary' ? 'bcd' : style === 'ebcdic' ? 'ebcdic' : 'ascii' },
    bitmap: { encoding: style === 'ascii' ? 'hex' : 'binary', maxFields: 192 },
    maxMessageBytes: 65535,
    fields,
  };
}

const out: [string, DialectSpec][] = [
  ['iso87-ascii', dialect('iso87-ascii', 'ascii', 'ISO 8583:1987, ASCII text and lengths, hex-text bitmaps and binary fields (like jPOS ISO87APackager)')],
  [
    'iso87-ascii-bbitmap',
    dialect(
      'iso87-ascii-bbitmap',
      'ascii-bbitmap',
      'ISO 8583:1987, ASCII text and lengths, binary bitmaps and raw binary fields (what the npm iso_8583 package writes)',
    ),
  ],
  ['iso87-binary', dialect('iso87-binary', 'binary', 'ISO 8583:1987, BCD MTI, numbers and lengths, ASCII text, binary bitmaps (like jPOS ISO87BPackager)')],
  ['iso87-ebcdic', dialect('iso87-ebcdic', 'ebcdic', 'ISO 8583:1987, EBCDIC (cp037) MTI, text and lengths, binary bitmaps and raw binary fields')],
];
for (const [name, spec] of out)
  writeFileSync(new URL(`../specs/${name}.json`, import.meta.url), JSON.stringify({ $schema: './spec.schema.json', ...spec }, null, 2) + '\n');
console.log(`wrote ${out.map(([n]) => n).join(', ')}`);
