/**
 * The processing code (DE3) and the additional amounts (DE54) of a PSP's 0100/0200 (docs/switch.md,
 * "Transaction types"). DE3 is six digits: the transaction type, then the from- and to-account types. The
 * switch works four types and refuses every other one (12) before anything is recorded or sent:
 *
 *   00 purchase · 09 purchase with cashback (DE54 names the cash part) · 20 refund · 30 balance inquiry
 *
 * 02 and 22 (adjustments) are among the refused: a merchant corrects an amount with a reversal (partial, before
 * capture) or a refund (after), which the switch books with their own checks.
 */

export type TransactionType = 'purchase' | 'cashback' | 'refund' | 'balance';

const TYPES: Readonly<Record<string, TransactionType>> = { '00': 'purchase', '09': 'cashback', '20': 'refund', '30': 'balance' };

export type ProcessingCode = { ok: true; type: TransactionType; code: string } | { ok: false; error: 'format' | 'unsupported'; code: string | undefined };

/** DE3 read: absent or not six digits is a format error; a type the switch does not work is unsupported. */
export function parseProcessingCode(de3: string | undefined): ProcessingCode {
  if (de3 === undefined || !/^[0-9]{6}$/.test(de3)) return { ok: false, error: 'format', code: de3 };
  const type = TYPES[de3.slice(0, 2)];
  return type ? { ok: true, type, code: de3 } : { ok: false, error: 'unsupported', code: de3 };
}

/**
 * One amount of DE54 (ISO 8583:1987, up to six of 20 characters): account type (2), amount type (2), ISO 4217
 * currency (3), sign C (credit) or D (debit), amount in minor units (12).
 */
export interface AdditionalAmount {
  accountType: string;
  amountType: string;
  currency: string;
  sign: 'C' | 'D';
  amount: bigint;
}

/** Amount types the switch reads or writes. */
export const AMOUNT_TYPE = { ledgerBalance: '01', availableBalance: '02', cashback: '40' } as const;

/** DE54 read; null when it is not whole 20-character amounts (1 to 6 of them). */
export function parseAdditionalAmounts(de54: string | undefined): AdditionalAmount[] | null {
  if (de54 === undefined || de54.length === 0 || de54.length % 20 !== 0 || de54.length > 120) return null;
  const out: AdditionalAmount[] = [];
  for (let i = 0; i < de54.length; i += 20) {
    const m = /^([0-9]{2})([0-9]{2})([0-9]{3})([CD])([0-9]{12})$/.exec(de54.slice(i, i + 20));
    if (!m) return null;
    out.push({ accountType: m[1]!, amountType: m[2]!, currency: m[3]!, sign: m[4] as 'C' | 'D', amount: BigInt(m[5]!) });
  }
  return out;
}

export function formatAdditionalAmounts(amounts: readonly AdditionalAmount[]): string {
  return amounts.map((a) => `${a.accountType}${a.amountType}${a.currency}${a.sign}${a.amount.toString().padStart(12, '0')}`).join('');
}

/**
 * The cash part of a purchase with cashback: DE54's one amount of type 40, in the request's currency, above zero
 * and below the whole amount (DE4 is the purchase and the cash together). A string says what is wrong.
 */
export function cashbackAmount(de54: string | undefined, currency: string, total: bigint): bigint | string {
  const amounts = parseAdditionalAmounts(de54);
  if (!amounts) return 'DE54 missing or malformed';
  const cash = amounts.filter((a) => a.amountType === AMOUNT_TYPE.cashback);
  if (cash.length !== 1) return 'DE54 must carry one cashback amount (type 40)';
  const c = cash[0]!;
  if (c.currency !== currency) return 'cashback currency is not DE49';
  if (c.amount <= 0n || c.amount >= total) return 'cashback must be above zero and below the whole amount';
  return c.amount;
}
