/**
 * The DE39 codes (ISO 8583:1987) the switch decides itself, named in this one place for the flows, the sweeper
 * and the translation (docs/switch.md, "Response codes"). Two kinds:
 *
 * - fixed: the constants below, the same in every deployment (approved, invalid transaction, …);
 * - configurable: `responseCodes` of the config (src/switch/config.ts), whose defaults are the constants below;
 *   the flows read them from there (`FlowContext.codes`), never a literal.
 *
 * What a code means once it is given (approval, decline, error) is decided in src/iso8583/response-codes.ts.
 * The code of a request no route takes is the rules' (`no_route_decline_code`, docs/routing.md), not the config's.
 */
import type { SwitchConfig } from './config.js';

/** 00: approved; a capture or reversal done, a network request (0800) answered. */
export const APPROVED = '00';
/** 03: invalid merchant (default of `responseCodes.unknownMerchant`). */
export const INVALID_MERCHANT = '03';
/** 05: do not honour (default of `responseCodes.reversedBeforeArrival`). */
export const DO_NOT_HONOUR = '05';
/** 12: invalid transaction: an MTI the switch does not work, an 0800 it does not know, a capture or reversal the original's state refuses. */
export const INVALID_TRANSACTION = '12';
/** Exceeds amount limit: a merchant over its turnover amount (docs/routing.md, "Turnover limits"). */
export const EXCEEDS_AMOUNT_LIMIT = '61';
/** Exceeds frequency limit: a merchant over its turnover count. */
export const EXCEEDS_FREQUENCY_LIMIT = '65';
/** 13: invalid amount: a capture above the authorization, or of zero. */
export const INVALID_AMOUNT = '13';
/** 25: unable to locate record: a capture whose original is not found. */
export const NO_SUCH_RECORD = '25';
/** 30: format error (default of `responseCodes.formatError`). */
export const FORMAT_ERROR = '30';
/** 91: issuer or switch inoperative (default of `responseCodes.unavailable`); also an intent recovered after a crash. */
export const ISSUER_INOPERATIVE = '91';
/** 94: duplicate transmission (default of `responseCodes.duplicate`). */
export const DUPLICATE_TRANSMISSION = '94';
/** 96: system malfunction (default of `responseCodes.systemError` and `responseCodes.pinError`); also an acquirer answer without DE39. */
export const SYSTEM_MALFUNCTION = '96';

/** The configurable codes, as the config holds them (`responseCodes`). */
export type ConfiguredCodes = SwitchConfig['responseCodes'];
