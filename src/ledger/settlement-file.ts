/**
 * An acquirer's daily settlement file, read by the layout acquirers.yaml gives it (`settlement.file`, docs/ledger.md
 * "Settlement files"): a CSV (RFC 4180 quoting, a header line naming the columns), one row per settled item with
 * the RRN the switch sent, the row type, the amount, the currency (ISO 4217 numeric), the business day and,
 * when the acquirer gives them, its fee and terminal. A row that cannot be read is a typed error naming its line:
 * a file the switch half understood must not reconcile as clean.
 */
import { SwitchError } from '../errors.js';
import { minorUnit } from './currency.js';
import type { SettlementFileLayout, SettlementRowType } from '../routing/types.js';

export interface SettlementLine {
  /** 1-based line in the file (the header is line 1). */
  line: number;
  rrn: string;
  type: SettlementRowType;
  /** Minor units, positive; the type says the direction. */
  amount: bigint;
  currency: number;
  /** YYYY-MM-DD */
  day: string;
  fee: bigint | null;
  terminal: string | null;
}

/** The layout of an acquirer whose acquirers.yaml names none: the column names are the switch's own words. */
export const DEFAULT_SETTLEMENT_LAYOUT: Readonly<SettlementFileLayout> = Object.freeze({
  columns: { date: 'date', rrn: 'rrn', type: 'type', amount: 'amount', currency: 'currency', fee: 'fee', terminal: 'terminal' },
});

export const DEFAULT_TYPE_NAMES: Readonly<Record<SettlementRowType, string>> = Object.freeze({
  sale: 'SALE',
  refund: 'REFUND',
  reversal: 'REVERSAL',
  refund_reversal: 'REFUND_REVERSAL',
});

/** Splits CSV text into records of fields (RFC 4180: quotes, doubled quotes, delimiters and line breaks inside quotes). */
export function parseCsv(text: string, delimiter = ','): { fields: string[]; line: number }[] {
  const out: { fields: string[]; line: number }[] = [];
  let fields: string[] = [];
  let cur = '';
  let quoted = false;
  let line = 1;
  let start = 1;
  let any = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          cur += '"';
          i++;
        } else quoted = false;
      } else {
        if (ch === '\n') line++;
        cur += ch;
      }
      continue;
    }
    if (ch === '"' && cur === '') {
      quoted = true;
      any = true;
    } else if (ch === delimiter) {
      fields.push(cur);
      cur = '';
      any = true;
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      if (any || cur !== '') {
        fields.push(cur);
        out.push({ fields, line: start });
      }
      fields = [];
      cur = '';
      any = false;
      line++;
      start = line;
    } else {
      cur += ch;
      any = true;
    }
  }
  if (quoted) throw new SwitchError('SW_ERR_SETTLEMENT_FILE_INVALID', { file: '-', line: start, reason: 'a quoted field is not closed' });
  if (any || cur !== '') {
    fields.push(cur);
    out.push({ fields, line: start });
  }
  return out;
}

/** A compiled date format: the positions of YYYY, MM and DD, everything else literal. */
function dateParser(format: string): (s: string) => string | null {
  const parts: string[] = [];
  const re = new RegExp(
    '^' +
      format.replace(/YYYY|MM|DD|[.*+?^${}()|[\]\\/ -]/g, (tok) => {
        if (tok === 'YYYY' || tok === 'MM' || tok === 'DD') {
          parts.push(tok);
          return tok === 'YYYY' ? '(\\d{4})' : '(\\d{2})';
        }
        return `\\${tok}`;
      }) +
      '$',
  );
  return (s) => {
    const m = re.exec(s);
    if (!m) return null;
    const v: Record<string, string> = {};
    parts.forEach((p, i) => (v[p] = m[i + 1]!));
    const day = `${v.YYYY}-${v.MM}-${v.DD}`;
    const d = new Date(`${day}T00:00:00Z`);
    return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === day ? day : null;
  };
}

/** An amount in the layout's format → minor units (a decimal amount must have exactly the currency's decimals, or none). */
function amountParser(layout: SettlementFileLayout): (s: string, currency: number) => bigint | null {
  if ((layout.amount_format ?? 'minor') === 'minor') return (s) => (/^[0-9]{1,18}$/.test(s) ? BigInt(s) : null);
  const sep = layout.decimal_separator ?? '.';
  return (s, currency) => {
    const exp = minorUnit(currency);
    const [whole, frac, more] = s.split(sep);
    if (more !== undefined || !whole || !/^[0-9]{1,15}$/.test(whole)) return null;
    if (frac === undefined) return BigInt(whole) * 10n ** BigInt(exp);
    if (frac.length !== exp || !/^[0-9]+$/.test(frac)) return null;
    return BigInt(whole + frac);
  };
}

/** Reads a settlement file by its acquirer's layout; `file` names it in errors. */
export function readSettlementFile(text: string, layout: SettlementFileLayout, file = '-'): SettlementLine[] {
  const fail = (line: number, reason: string): never => {
    throw new SwitchError('SW_ERR_SETTLEMENT_FILE_INVALID', { file, line, reason });
  };
  let records: { fields: string[]; line: number }[];
  try {
    records = parseCsv(text.replace(/^\uFEFF/, ''), layout.delimiter ?? ',');
  } catch (e) {
    if (e instanceof SwitchError) return fail(Number(e.params.line), String(e.params.reason));
    throw e;
  }
  const header = records.shift();
  if (!header) return fail(1, 'empty file: no header line');
  const col = (name: string | undefined, what: string, required: boolean): number => {
    if (name === undefined) return -1;
    const i = header.fields.map((f) => f.trim()).indexOf(name);
    if (i < 0 && required) fail(header.line, `no column '${name}' (${what}) in the header`);
    return i;
  };
  const c = layout.columns;
  const ix = {
    rrn: col(c.rrn, 'rrn', true),
    type: col(c.type, 'type', true),
    amount: col(c.amount, 'amount', true),
    currency: col(c.currency, 'currency', true),
    date: col(c.date, 'date', true),
    fee: col(c.fee, 'fee', true),
    terminal: col(c.terminal, 'terminal', true),
  };
  const names = { ...DEFAULT_TYPE_NAMES, ...(layout.types ?? {}) };
  const typeOf = new Map<string, SettlementRowType>(Object.entries(names).map(([k, v]) => [v, k as SettlementRowType]));
  const parseDate = dateParser(layout.date_format ?? 'YYYY-MM-DD');
  const parseAmount = amountParser(layout);
  return records.map(({ fields, line }) => {
    if (fields.length !== header.fields.length) fail(line, `${fields.length} fields, the header has ${header.fields.length}`);
    const get = (i: number) => fields[i]!.trim();
    const rrn = get(ix.rrn);
    if (!/^[0-9A-Za-z]{1,12}$/.test(rrn)) fail(line, `RRN '${rrn.slice(0, 16)}' is not 1-12 letters or digits`);
    const type = typeOf.get(get(ix.type)) ?? fail(line, `unknown type '${get(ix.type).slice(0, 20)}'`);
    const cur = get(ix.currency);
    if (!/^[0-9]{3}$/.test(cur)) fail(line, `currency '${cur.slice(0, 8)}' is not an ISO 4217 numeric code`);
    const currency = Number(cur);
    let amount: bigint | null = null;
    let fee: bigint | null = null;
    try {
      amount = parseAmount(get(ix.amount), currency);
      if (ix.fee >= 0 && get(ix.fee) !== '') fee = parseAmount(get(ix.fee), currency) ?? fail(line, `fee '${get(ix.fee).slice(0, 20)}' is not an amount`);
    } catch (e) {
      if (e instanceof SwitchError && e.code === 'SW_ERR_LEDGER_UNKNOWN_CURRENCY') fail(line, `currency ${cur} is unknown`);
      throw e;
    }
    if (amount === null) return fail(line, `amount '${get(ix.amount).slice(0, 20)}' is not an amount`);
    const day = parseDate(get(ix.date)) ?? fail(line, `date '${get(ix.date).slice(0, 20)}' is not ${layout.date_format ?? 'YYYY-MM-DD'}`);
    return { line, rrn, type, amount, currency, day, fee, terminal: ix.terminal >= 0 ? get(ix.terminal) || null : null };
  });
}
