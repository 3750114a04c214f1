export { IsoMessage, responseMti, isResponseMti, MAX_FIELD } from './message.js';
export type { FieldValue, TlvEntry, SubfieldValues } from './message.js';
export type { Codec, DialectSpec, FieldSpec, FieldType, Encoding, PrefixKind, PrefixEncoding, LengthUnit, TagSpec } from './codec-types.js';
export { compileDialect, loadDialect, SPECS_DIR } from './dialect.js';
export { CodecError } from './errors.js';
export { maskPan, maskMessage, maskTrack2, SENSITIVE_FIELDS } from './mask.js';
export { approvalKind, isApproval, responseClass, SAF_DONE_CODES, type ApprovalKind, type ResponseClass } from './response-codes.js';
export { loadWireCodec, iso93Codec, Iso93Translation, ACTION_CODES, mti87, mti93, type Iso93Options } from './iso93.js';
