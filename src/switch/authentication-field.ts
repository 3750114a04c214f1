/** The e-commerce indicator a PSP sends, read from the configured field (config `authentication`, docs/routing.md "Authentication"). */
import type { IsoMessage } from '../iso8583/index.js';
import type { SwitchConfig } from './config.js';

/** The two ECI digits at `eciOffset` of field `eciField`, or undefined when the field is off, absent or too short. */
export function eciOf(msg: IsoMessage, cfg: SwitchConfig['authentication']): string | undefined {
  if (cfg.eciField === 0) return undefined;
  const v = msg.getString(cfg.eciField);
  if (v === undefined || v.length < cfg.eciOffset + 2) return undefined;
  return v.slice(cfg.eciOffset, cfg.eciOffset + 2);
}
