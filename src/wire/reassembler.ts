import { SwitchError } from '../errors.js';
import type { Framer } from './framer.js';

export interface ReassemblerOptions {
  /**
   * Largest length header accepted (TPDU + message bytes). A larger one is a connection-level error
   * (SW_ERR_FRAME_TOO_LARGE): the stream cannot be trusted after it. Default: min(framer.maxLength, 8192).
   */
  maxFrameBytes?: number;
  /** A complete message. `payload` may be a view into a socket chunk: copy it to keep it past the call. */
  onFrame: (payload: Buffer, tpdu: Buffer | undefined) => void;
  /** A zero-length frame arrived (skipped, counted). */
  onKeepAlive?: () => void;
}

interface Pending {
  buf: Buffer;
  off: number;
}

export const DEFAULT_MAX_FRAME_BYTES = 8192;

/**
 * Turns a byte stream into frames. Handles fragments of any size (down to 1 byte, inside the header too),
 * many frames per chunk, zero-length keep-alives and a length cap.
 *
 * Frames that lie wholly inside one chunk are handed out as zero-copy views; only a frame split across chunks
 * is copied, once, into a buffer of its exact size (allocated when its header is known). No per-chunk
 * Buffer.concat.
 *
 * Delivery can be paused from inside `onFrame` (the PSP server does this at its in-flight limit): the rest of
 * the chunk and later chunks are kept, without copying, until `resume()`.
 */
export class Reassembler {
  readonly framer: Framer;
  readonly maxFrameBytes: number;
  /** Complete frames handed out (keep-alives excluded). */
  frames = 0;
  /** Zero-length keep-alive frames skipped. */
  keepAlives = 0;
  /** Bytes pushed in. */
  bytesIn = 0;

  private readonly onFrame: ReassemblerOptions['onFrame'];
  private readonly onKeepAlive: (() => void) | undefined;
  private readonly hdr: Buffer;
  private hdrHave = 0;
  private body: Buffer | null = null;
  private bodyHave = 0;
  private queue: Pending[] = [];
  private isPaused = false;
  private draining = false;
  private failure: SwitchError | null = null;

  constructor(framer: Framer, opts: ReassemblerOptions) {
    this.framer = framer;
    this.maxFrameBytes = Math.min(opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES, framer.maxLength);
    this.onFrame = opts.onFrame;
    this.onKeepAlive = opts.onKeepAlive;
    this.hdr = Buffer.alloc(framer.headerBytes);
  }

  get paused(): boolean {
    return this.isPaused;
  }

  /** Bytes held: a partial frame plus data queued while paused. */
  get buffered(): number {
    let n = this.hdrHave + this.bodyHave;
    for (const p of this.queue) n += p.buf.length - p.off;
    return n;
  }

  /** Feeds a chunk. Throws SW_ERR_FRAME_TOO_LARGE / SW_ERR_FRAME_BAD_HEADER; after that every push throws. */
  push(chunk: Buffer): void {
    if (this.failure) throw this.failure;
    this.bytesIn += chunk.length;
    if (this.isPaused || this.draining) {
      this.queue.push({ buf: chunk, off: 0 });
      return;
    }
    this.draining = true;
    try {
      if (this.queue.length > 0) {
        this.queue.push({ buf: chunk, off: 0 });
      } else {
        const off = this.consume(chunk, 0);
        if (off < chunk.length) this.queue.push({ buf: chunk, off });
      }
      if (!this.isPaused) this.drainQueue();
    } finally {
      this.draining = false;
    }
  }

  /** Stops delivering frames (callable from inside onFrame). */
  pause(): void {
    this.isPaused = true;
  }

  /** Delivers what was held back, then continues with new chunks. */
  resume(): void {
    if (!this.isPaused) return;
    this.isPaused = false;
    if (this.draining || this.failure) return;
    this.draining = true;
    try {
      this.drainQueue();
    } finally {
      this.draining = false;
    }
  }

  /** Drops all state (after a reconnect the stream starts afresh). */
  reset(): void {
    this.hdrHave = 0;
    this.body = null;
    this.bodyHave = 0;
    this.queue = [];
    this.isPaused = false;
    this.failure = null;
  }

  private drainQueue(): void {
    while (this.queue.length > 0 && !this.isPaused) {
      const p = this.queue[0]!;
      p.off = this.consume(p.buf, p.off);
      if (p.off >= p.buf.length) this.queue.shift();
    }
  }

  /** Consumes from `buf` starting at `off` until it is used up or delivery is paused; returns the new offset. */
  private consume(buf: Buffer, off: number): number {
    const hb = this.framer.headerBytes;
    const end = buf.length;
    while (off < end && !this.isPaused) {
      // 1. finishing a frame split across chunks
      if (this.body !== null) {
        const need = this.body.length - this.bodyHave;
        const take = Math.min(need, end - off);
        buf.copy(this.body, this.bodyHave, off, off + take);
        this.bodyHave += take;
        off += take;
        if (this.bodyHave === this.body.length) {
          const body = this.body;
          this.body = null;
          this.bodyHave = 0;
          this.deliver(body, 0, body.length);
        }
        continue;
      }
      // 2. a header split across chunks
      if (this.hdrHave > 0 || end - off < hb) {
        const take = Math.min(hb - this.hdrHave, end - off);
        buf.copy(this.hdr, this.hdrHave, off, off + take);
        this.hdrHave += take;
        off += take;
        if (this.hdrHave < hb) continue;
        this.hdrHave = 0;
        const len = this.checkLength(this.framer.readLength(this.hdr, 0));
        if (len === 0) this.keepAlive();
        else {
          this.body = Buffer.allocUnsafe(len);
          this.bodyHave = 0;
        }
        continue;
      }
      // 3. header wholly in this chunk
      const len = this.checkLength(this.framer.readLength(buf, off));
      off += hb;
      if (len === 0) {
        this.keepAlive();
        continue;
      }
      if (end - off >= len) {
        const start = off;
        off += len;
        this.deliver(buf, start, off);
      } else {
        this.body = Buffer.allocUnsafe(len);
        buf.copy(this.body, 0, off, end);
        this.bodyHave = end - off;
        off = end;
      }
    }
    return off;
  }

  private checkLength(len: number): number {
    if (len < 0) this.fail(new SwitchError('SW_ERR_FRAME_BAD_HEADER', { framer: this.framer.name }));
    if (len > this.maxFrameBytes) this.fail(new SwitchError('SW_ERR_FRAME_TOO_LARGE', { length: len, max: this.maxFrameBytes }));
    if (len !== 0 && len <= this.framer.tpduBytes) this.fail(new SwitchError('SW_ERR_FRAME_BAD_HEADER', { framer: this.framer.name }));
    return len;
  }

  private fail(e: SwitchError): never {
    this.failure = e;
    throw e;
  }

  private keepAlive(): void {
    this.keepAlives++;
    this.onKeepAlive?.();
  }

  private deliver(buf: Buffer, start: number, end: number): void {
    this.frames++;
    const t = this.framer.tpduBytes;
    if (t === 0) this.onFrame(start === 0 && end === buf.length ? buf : buf.subarray(start, end), undefined);
    else this.onFrame(buf.subarray(start + t, end), buf.subarray(start, start + t));
  }
}
