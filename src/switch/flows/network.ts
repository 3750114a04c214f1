/**
 * 0800 network management from a PSP: echo (DE70 301), sign-on (001), sign-off (002) answered 00; any other
 * DE70 12. Nothing is recorded.
 */
import { IsoMessage, responseMti } from '../../iso8583/index.js';
import { APPROVED, INVALID_TRANSACTION } from '../response-codes.js';
import { field } from './context.js';

export function network(msg: IsoMessage): IsoMessage {
  const res = new IsoMessage(responseMti(msg.mti));
  for (const f of [7, 11, 70]) {
    const v = msg.get(f);
    if (v !== undefined) res.set(f, v);
  }
  const code = field(msg, 70);
  res.set(39, code === '001' || code === '002' || code === '301' ? APPROVED : INVALID_TRANSACTION);
  return res;
}
