import { SwitchError, type ErrorCode, type ErrorParams } from '../errors.js';

/**
 * An error raised while packing or unpacking. It names the field path (e.g. "55.9F02") and the byte
 * offset; it never carries a value from the message.
 */
export class CodecError extends SwitchError {
  readonly field: string;
  readonly offset: number;
  constructor(code: ErrorCode, field: string, offset: number, params: ErrorParams = {}) {
    super(code, { field, offset, ...params });
    this.field = field;
    this.offset = offset;
  }
}
