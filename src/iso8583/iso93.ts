/**
 * ISO 8583:1993 on the wire, ISO 8583:1987 inside (docs/codec.md, "ISO 8583:1993"). The switch's flows, store and
 * matching speak 1987; a link to a 1993 acquirer packs through `iso93Codec`, which turns each message into its
 * 1993 form on the way out and back into the 1987 form on the way in:
 *
 *   MTI        0100 ↔ 1100, 0200 ↔ 1200, 0220 ↔ 1220, 0400 ↔ 1400, 0420 ↔ 1420 (responses and repeats alike);
 *              0800 ↔ 1804, 0810 ↔ 1814
 *   DE24       the function code 1993 requires: 100 authorization, 200 financial, 201 completion, 400/401 full
 *              or partial reversal, and for network management the 1987 DE70 code (301 echo → 831)
 *   DE12+DE13  1987 time hhmmss + date MMDD ↔ 1993 date and time YYMMDDhhmmss (the year the nearest one)
 *   DE22       1987 entry mode n3 ↔ 1993 point-of-service data code an12 (input mode and PIN capability)
 *   DE39       1987 response code an2 ↔ 1993 action code n3, by the map below (per acquirer overrides)
 *   DE90       1987 original data elements n42 ↔ 1993 DE56 n..35
 *   DE95       a partial reversal's amount that stands ↔ 1993 DE4, the original amount going to DE30
 *
 * 1987 fields with no 1993 counterpart (DE25 POS condition, DE26 PIN capture) are not sent; 1993 fields the
 * switch does not read are dropped on the way in. A message that cannot be expressed raises a typed error.
 */
import type { Codec } from './codec-types.js';
import { loadDialect } from './dialect.js';
import { IsoMessage } from './message.js';
import { CodecError } from './errors.js';

/**
 * ISO 8583:1993 action codes (DE39) and the ISO 8583:1987 response code each means. Codes not listed are read
 * by their class, the first digit the standard gives them (CLASS_DEFAULT).
 */
export const ACTION_CODES: Readonly<Record<string, string>> = Object.freeze({
  // 0xx approved
  '000': '00',
  '001': '08',
  '002': '10',
  '003': '11',
  '004': '00',
  '005': '00',
  '006': '10',
  '007': '00',
  // 1xx denied
  '100': '05',
  '101': '54',
  '102': '59',
  '103': '60',
  '104': '62',
  '105': '66',
  '106': '75',
  '107': '01',
  '108': '02',
  '109': '03',
  '110': '13',
  '111': '14',
  '112': '05',
  '113': '23',
  '114': '53',
  '115': '40',
  '116': '51',
  '117': '55',
  '118': '56',
  '119': '57',
  '120': '58',
  '121': '61',
  '122': '63',
  '123': '65',
  '124': '93',
  '125': '05',
  '126': '55',
  '127': '55',
  '128': '55',
  '129': '59',
  // 2xx denied, pick up card
  '200': '04',
  '201': '33',
  '202': '34',
  '203': '35',
  '204': '36',
  '205': '37',
  '206': '38',
  '207': '07',
  '208': '41',
  '209': '43',
  '210': '04',
  // 4xx reversal and chargeback, 8xx network management, 9xx advices and errors
  '400': '00',
  '800': '00',
  '900': '00',
  '901': '00',
  '902': '12',
  '903': '19',
  '904': '30',
  '905': '31',
  '906': '90',
  '907': '91',
  '908': '92',
  '909': '96',
  '910': '91',
  '911': '91',
  '912': '91',
  '913': '94',
  '914': '25',
  '915': '95',
  '916': '96',
  '917': '96',
  '918': '96',
  '919': '96',
  '920': '96',
  '921': '96',
  '922': '96',
  '923': '09',
});

/** An action code the map does not list, by its class: approved, denied, pick up, accepted, or an error. */
const CLASS_DEFAULT: Readonly<Record<string, string>> = Object.freeze({
  '0': '00',
  '1': '05',
  '2': '04',
  '3': '96',
  '4': '00',
  '5': '96',
  '6': '96',
  '7': '96',
  '8': '00',
  '9': '96',
});

/**
 * The action code for a 1987 response code, for answers the switch or a simulator writes in 1993. The first code
 * of ACTION_CODES that means it, except where the standard has a better one: 00 on a reversal is 400 and on
 * network management 800 (see actionCodeFor), 91 is "card issuer timed out" (911).
 */
const PREFERRED: Readonly<Record<string, string>> = Object.freeze({ '91': '911', '96': '909', '00': '000', '05': '100', '55': '117', '10': '002' });

export interface Iso93Options {
  /** Action code → 1987 response code, over ACTION_CODES (an acquirer's own codes, or a different reading). */
  actionCodes?: Readonly<Record<string, string>>;
  /** The clock for the year of DE12 (tests). */
  now?: () => Date;
}

/**
 * Fields that mean the same and are written the same in both versions, copied as they are. Of the rest, those the
 * switch uses are rewritten (12, 13, 15, 22, 24, 39, 43, 44, 56/90, 70, 95/30); the others (1987 DE25, 26, 28-31,
 * 46, 53, 56-58, 66-73, 82-85, 91-95, 105-110, and their 1993 namesakes) differ in meaning or format and are not
 * carried.
 */
const SAME: ReadonlySet<number> = new Set([
  2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 14, 16, 17, 18, 19, 20, 21, 23, 27, 32, 33, 34, 35, 36, 37, 38, 40, 41, 42, 45, 47, 48, 49, 50, 51, 52, 54, 55, 59, 60, 61,
  62, 63, 64, 74, 75, 76, 77, 78, 79, 80, 81, 86, 87, 88, 89, 96, 97, 98, 99, 100, 101, 102, 103, 104, 111, 112, 113, 114, 115, 116, 117, 118, 119, 120, 121,
  122, 123, 124, 125, 126, 127, 128,
]);

/** Network management codes (1987 DE70) and their 1993 function codes (DE24). */
const NETWORK_FUNCTION: Readonly<Record<string, string>> = Object.freeze({ '001': '801', '002': '802', '161': '811', '162': '811', '301': '831' });
const NETWORK_CODE: Readonly<Record<string, string>> = Object.freeze({ '801': '001', '802': '002', '811': '161', '831': '301' });

/** 1987 PAN entry mode (DE22 digits 1-2) ↔ 1993 card data input mode (DE22 position 7). */
const INPUT_MODE: Readonly<Record<string, string>> = Object.freeze({
  '00': '0',
  '01': '6',
  '02': '2',
  '03': '3',
  '04': '4',
  '05': '5',
  '07': 'M',
  '80': '8',
  '81': 'S',
  '90': 'B',
  '91': 'A',
});
const ENTRY_MODE: Readonly<Record<string, string>> = Object.freeze(Object.fromEntries(Object.entries(INPUT_MODE).map(([k, v]) => [v, k])));

/** A message the other version cannot say: `version` is the one it was being turned into. */
function problem(field: string, reason: string, version: 1987 | 1993 = 1993): never {
  throw new CodecError('SW_ERR_CODEC_VERSION', field, 0, { version, reason });
}

function text(m: IsoMessage, f: number): string | undefined {
  const v = m.get(f);
  return typeof v === 'string' ? v : undefined;
}

/** The 1993 MTI of a 1987 one: version digit 1, network management with originator "other" (0800 → 1804). */
export function mti93(mti87: string): string {
  if (!/^0[1248][0-9][0-9]$/.test(mti87)) problem('0', `MTI ${mti87} has no ISO 8583:1993 form here`);
  const cls = mti87.slice(0, 2);
  if (cls === '08') {
    const origin = mti87[3] === '1' ? '5' : '4';
    return `18${mti87[2]}${origin}`;
  }
  return `1${mti87.slice(1)}`;
}

/** The 1987 MTI of a 1993 one (1804 → 0800, 1430 → 0430); a 1993 MTI from an issuer (originator 2/3) keeps its function. */
export function mti87(mti93v: string): string {
  if (!/^1[1248][0-9][0-5]$/.test(mti93v)) problem('0', `MTI ${mti93v} is not an ISO 8583:1993 MTI the switch reads`, 1987);
  if (mti93v[1] === '8') return `08${mti93v[2]}${mti93v[3] === '5' || mti93v[3] === '3' ? '1' : '0'}`;
  return `0${mti93v.slice(1, 3)}${mti93v[3] === '1' || mti93v[3] === '3' || mti93v[3] === '5' ? '1' : '0'}`;
}

export class Iso93Translation {
  private readonly toIso87: Readonly<Record<string, string>>;
  private readonly toIso93: Readonly<Record<string, string>>;
  private readonly now: () => Date;

  constructor(o: Iso93Options = {}) {
    this.toIso87 = { ...ACTION_CODES, ...(o.actionCodes ?? {}) };
    for (const [k, v] of Object.entries(o.actionCodes ?? {})) {
      if (!/^[0-9]{3}$/.test(k) || !/^[0-9A-Z]{2}$/.test(v)) problem('39', `action code map entry ${k}: ${v} is not 3 digits to a 2-character code`);
    }
    const back: Record<string, string> = {};
    for (const [k, v] of Object.entries(ACTION_CODES)) back[v] ??= k;
    this.toIso93 = { ...back, ...PREFERRED };
    this.now = o.now ?? (() => new Date());
  }

  /** The 1987 response code of a 1993 action code. */
  responseCode(action: string): string {
    if (!/^[0-9]{3}$/.test(action)) problem('39', 'an ISO 8583:1993 action code is 3 digits', 1987);
    return this.toIso87[action] ?? CLASS_DEFAULT[action[0]!]!;
  }

  /** The 1993 action code for a 1987 response code, in the answer of MTI `mti87v`. */
  actionCode(code: string, mti87v: string): string {
    if (/^[0-9]{3}$/.test(code)) return code; // already an action code (an acquirer's own, passed through)
    if (code === '00' && mti87v.startsWith('04')) return '400';
    if (code === '00' && mti87v.startsWith('08')) return '800';
    const a = this.toIso93[code];
    if (a === undefined) problem('39', `response code ${code} has no ISO 8583:1993 action code`);
    return a;
  }

  /** A 1987 message in its 1993 form. */
  to93(m: IsoMessage): IsoMessage {
    const out = new IsoMessage(mti93(m.mti));
    const network = m.mti.startsWith('08');
    for (const f of m.fieldNumbers()) if (SAME.has(f)) out.set(f, m.get(f));
    const de43 = text(m, 43);
    if (de43 !== undefined) out.set(43, de43);
    const de44 = text(m, 44);
    if (de44 !== undefined) out.set(44, de44);
    const de15 = text(m, 15);
    if (de15 !== undefined) out.set(15, this.withYear(de15, '15'));
    const time = text(m, 12);
    if (time !== undefined) {
      if (!/^[0-9]{6}$/.test(time)) problem('12', 'a 1987 local time is hhmmss');
      out.set(12, this.withYear(text(m, 13) ?? this.today(), '12') + time);
    }
    const entry = text(m, 22);
    if (entry !== undefined) out.set(22, posDataCode(entry));
    const code = text(m, 39);
    if (code !== undefined) out.set(39, this.actionCode(code, m.mti));
    const de90 = text(m, 90);
    if (de90 !== undefined) out.set(56, this.originalData93(de90));
    if (network) {
      const nmic = text(m, 70);
      const fn = nmic === undefined ? undefined : NETWORK_FUNCTION[nmic];
      if (fn === undefined) problem('70', `network management code ${nmic ?? '(none)'} has no ISO 8583:1993 function code`);
      out.set(24, fn);
    } else {
      out.set(24, this.functionCode(m, out)); // answers echo the function code of their request
    }
    return out;
  }

  /** A 1993 message in its 1987 form. */
  to87(m: IsoMessage): IsoMessage {
    const out = new IsoMessage(mti87(m.mti));
    const network = m.mti[1] === '8';
    for (const f of m.fieldNumbers()) if (SAME.has(f)) out.set(f, m.get(f));
    const de43 = text(m, 43);
    if (de43 !== undefined) out.set(43, de43.padEnd(40).slice(0, 40)); // 1987: ans 40 fixed
    const de44 = text(m, 44);
    if (de44 !== undefined) out.set(44, de44.slice(0, 25)); // 1987: ans..25
    const de15 = text(m, 15);
    if (de15 !== undefined) out.set(15, de15.slice(2));
    const dt = text(m, 12);
    if (dt !== undefined) {
      if (!/^[0-9]{12}$/.test(dt)) problem('12', 'date and time, local transaction is YYMMDDhhmmss', 1987);
      out.set(12, dt.slice(6)).set(13, dt.slice(2, 6));
    }
    const pos = text(m, 22);
    if (pos !== undefined) out.set(22, entryMode(pos));
    const action = text(m, 39);
    if (action !== undefined) out.set(39, this.responseCode(action));
    const de56 = text(m, 56);
    if (de56 !== undefined) out.set(90, originalData87(de56));
    const fn = text(m, 24);
    if (network) {
      const nmic = fn === undefined ? undefined : NETWORK_CODE[fn];
      if (nmic === undefined) problem('24', `function code ${fn ?? '(none)'} is not a network management code the switch reads`, 1987);
      out.set(70, nmic);
    }
    const original = text(m, 30);
    if (fn === '401' && original !== undefined && /^[0-9]{24}$/.test(original)) {
      // a partial reversal: 1993 DE4 is the amount that stands, 1987 DE4 the original with DE95 what stands
      const stands = text(m, 4) ?? '0'.repeat(12);
      out.set(4, original.slice(0, 12)).set(95, `${stands}${'0'.repeat(12)}C00000000C00000000`);
    }
    return out;
  }

  private functionCode(m: IsoMessage, out: IsoMessage): string {
    const cls = m.mti.slice(0, 2);
    if (cls === '01') return '100';
    if (cls === '02') return m.mti[2] === '2' || m.mti[2] === '3' ? '201' : '200';
    // 04: a reversal; with DE95 it is partial: the original amount to DE30, what stands to DE4
    const de95 = text(m, 95);
    const amount = text(m, 4);
    if (de95 !== undefined && /^[0-9]{12}/.test(de95) && amount !== undefined) {
      out.set(30, `${amount.padStart(12, '0')}${'0'.repeat(12)}`).set(4, de95.slice(0, 12));
      return '401';
    }
    return '400';
  }

  private today(): string {
    const now = this.now();
    return `${String(now.getUTCMonth() + 1).padStart(2, '0')}${String(now.getUTCDate()).padStart(2, '0')}`;
  }

  /** YYMMDD from a 1987 MMDD: the year that puts the date nearest today (1993 dates carry the year, 1987 ones do not). */
  private withYear(mmdd: string, field: string): string {
    if (!/^[0-9]{4}$/.test(mmdd)) problem(field, 'a 1987 date is MMDD');
    const now = this.now();
    let year = now.getUTCFullYear();
    const at = Date.UTC(year, Number(mmdd.slice(0, 2)) - 1, Number(mmdd.slice(2)));
    const halfYear = 183 * 86_400_000;
    if (at - now.getTime() > halfYear) year--;
    else if (now.getTime() - at > halfYear) year++;
    return `${String(year % 100).padStart(2, '0')}${mmdd}`;
  }

  /** 1993 DE56: original MTI (in 1993), STAN, date and time (the year from DE7's month and day), acquirer id LLVAR. */
  private originalData93(de90: string): string {
    if (!/^[0-9]{42}$/.test(de90)) problem('90', 'original data elements are 42 digits');
    const acquirer = de90.slice(20, 31).replace(/^0+/, '');
    const dt = this.withYear(de90.slice(10, 14), '90') + de90.slice(14, 20);
    return `${mti93(de90.slice(0, 4))}${de90.slice(4, 10)}${dt}${String(acquirer.length).padStart(2, '0')}${acquirer}`;
  }
}

/** 1987 DE90 from 1993 DE56 (DE7 of the original is its MMDDhhmmss); 1993 has no forwarding institution there: zeros. */
function originalData87(de56: string): string {
  const m = /^([0-9]{4})([0-9]{6})[0-9]{2}([0-9]{10})([0-9]{2})([0-9]*)$/.exec(de56);
  if (!m || Number(m[4]) !== m[5]!.length) problem('56', 'original data elements are MTI, STAN, YYMMDDhhmmss and an LLVAR institution id', 1987);
  return `${mti87(m[1]!)}${m[2]}${m[3]}${m[5]!.padStart(11, '0')}${'0'.repeat(11)}`;
}

/**
 * 1993 DE22 (12 positions) from 1987 DE22 (entry mode nn + PIN entry capability n): position 1 (input capability)
 * and 7 (input mode) from the entry mode, position 12 (PIN capture) from the capability; the rest "unknown" (0).
 */
function posDataCode(de22: string): string {
  if (!/^[0-9]{3}$/.test(de22)) problem('22', 'POS entry mode is 3 digits');
  const mode = INPUT_MODE[de22.slice(0, 2)] ?? '0';
  const pin = de22[2] === '1' ? 'C' : de22[2] === '2' ? '0' : '1'; // C: up to 12 digits; 0: none; 1: unknown
  return `${mode}00000${mode}0000${pin}`;
}

function entryMode(pos: string): string {
  if (pos.length !== 12) problem('22', 'point of service data code is 12 characters', 1987);
  const mode = ENTRY_MODE[pos[6]!] ?? '00';
  const pin = pos[11] === '0' ? '2' : pos[11] === '1' ? '0' : '1';
  return `${mode}${pin}`;
}

/** A codec that packs 1987 messages as 1993 ones and unpacks 1993 bytes into 1987 messages. */
export function iso93Codec(inner: Codec, o: Iso93Options = {}): Codec {
  const tr = new Iso93Translation(o);
  return {
    name: inner.name,
    spec: inner.spec,
    pack: (msg) => inner.pack(tr.to93(msg)),
    unpack: (bytes) => tr.to87(inner.unpack(bytes)),
  };
}

/**
 * The codec a link packs with: the dialect, and for a 1993 one (`"version": 1993` in its spec) the translation to
 * and from the switch's 1987 messages. `actionCodes` applies to 1993 dialects only.
 */
export function loadWireCodec(dialect: string, o: Iso93Options = {}): Codec {
  const codec = loadDialect(dialect);
  return codec.spec.version === 1993 ? iso93Codec(codec, o) : codec;
}
