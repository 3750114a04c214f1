/** ISO 4217 numeric codes with their minor unit (number of decimals). Amounts are integer minor units. */
import { SwitchError } from '../errors.js';

const MINOR_UNITS: ReadonlyMap<number, number> = new Map([
  [36, 2],
  [48, 3],
  [124, 2],
  [156, 2],
  [203, 2],
  [208, 2],
  [344, 2],
  [348, 2],
  [356, 2],
  [360, 2],
  [376, 2],
  [392, 0],
  [398, 2],
  [410, 0],
  [414, 3],
  [434, 3],
  [458, 2],
  [484, 2],
  [512, 3],
  [554, 2],
  [566, 2],
  [578, 2],
  [608, 2],
  [634, 2],
  [643, 2],
  [682, 2],
  [702, 2],
  [704, 0],
  [710, 2],
  [752, 2],
  [756, 2],
  [764, 2],
  [784, 2],
  [788, 3],
  [818, 2],
  [826, 2],
  [840, 2],
  [901, 2],
  [933, 2],
  [946, 2],
  [949, 2],
  [950, 0],
  [952, 0],
  [975, 2],
  [978, 2],
  [980, 2],
  [985, 2],
  [986, 2],
]);

/** Minor unit of an ISO 4217 numeric currency; unknown codes are an error unless `explicit` is given. */
export function minorUnit(currency: number, explicit?: number): number {
  if (!Number.isInteger(currency) || currency < 1 || currency > 999) {
    throw new SwitchError('SW_ERR_LEDGER_UNKNOWN_CURRENCY', { currency: String(currency).slice(0, 8) });
  }
  if (explicit !== undefined) {
    if (!Number.isInteger(explicit) || explicit < 0 || explicit > 4) {
      throw new SwitchError('SW_ERR_LEDGER_UNKNOWN_CURRENCY', { currency });
    }
    return explicit;
  }
  const m = MINOR_UNITS.get(currency);
  if (m === undefined) throw new SwitchError('SW_ERR_LEDGER_UNKNOWN_CURRENCY', { currency });
  return m;
}
