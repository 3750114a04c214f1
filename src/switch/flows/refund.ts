/**
 * Refunds (processing code 20, docs/switch.md "Refunds"). Being written: until it is, a refund is refused
 * with 12 and never reaches an acquirer.
 */
import type { IsoMessage } from '../../iso8583/index.js';
import type { PspRequestContext } from '../../net/index.js';
import { INVALID_TRANSACTION } from '../response-codes.js';
import { pspResponse } from '../translate.js';
import type { FlowContext } from './context.js';

export function refund(_c: FlowContext, msg: IsoMessage, _ctx: PspRequestContext, _kind: 'auth' | 'financial'): Promise<IsoMessage> {
  return Promise.resolve(pspResponse(msg, INVALID_TRANSACTION));
}
