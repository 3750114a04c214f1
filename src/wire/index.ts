export { createFramer, framerByName, frameSize, writeFrame, encodeFrame, keepAliveFrame, swapTpdu, LENGTH_HEADER_KINDS, TPDU_BYTES } from './framer.js';
export type { Framer, FramerOptions, LengthHeaderKind } from './framer.js';
export { Reassembler, DEFAULT_MAX_FRAME_BYTES } from './reassembler.js';
export type { ReassemblerOptions } from './reassembler.js';
