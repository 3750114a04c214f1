// Node's Buffer has had latin1Write/latin1Slice since v0.x (Buffer#write and #toString dispatch to them);
// calling them directly skips the encoding dispatch on the codec's hot path.
declare global {
  interface Buffer {
    latin1Write(s: string, offset?: number, length?: number): number;
    latin1Slice(start?: number, end?: number): string;
  }
}
export {};
