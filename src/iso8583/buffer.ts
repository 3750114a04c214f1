/** A growable output buffer reused across pack calls (pack is synchronous, so one per codec is safe). */
export class Writer {
  buf: Buffer;
  pos = 0;
  constructor(size = 4096) {
    this.buf = Buffer.allocUnsafe(size);
  }
  ensure(n: number): void {
    if (this.pos + n > this.buf.length) {
      const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
      this.buf.copy(next, 0, 0, this.pos);
      this.buf = next;
    }
  }
  /** A copy of what was written: the caller owns it. */
  take(): Buffer {
    const n = this.pos;
    const out = Buffer.allocUnsafe(n);
    if (n <= 64) for (let i = 0; i < n; i++) out[i] = this.buf[i]!;
    else out.set(this.buf.subarray(0, n));
    return out;
  }
}

/** Cursor over an input message. `end` bounds the current region (a message or an enclosing field). */
export interface Reader {
  buf: Buffer;
  pos: number;
  end: number;
  /**
   * The whole input read as latin1 (one native call per message), or null. Text fields are cut from it with
   * substring, which costs far less than building each short string from its bytes (docs/codec.md, "Speed").
   * Offsets are the same: latin1 gives one character per byte.
   */
  text: string | null;
}
