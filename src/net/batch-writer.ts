import type { Socket } from 'node:net';
import { frameSize, writeFrame, type Framer } from '../wire/framer.js';

/** Flush at once when this many bytes are waiting, without waiting for the end of the tick. */
const FLUSH_AT_BYTES = 256 * 1024;

/**
 * Frames written in the same event-loop turn go out as one buffer and one socket.write(): a pipelined
 * link or a busy PSP connection pays one syscall per turn instead of one per message. Frames are copied
 * once, into the batch buffer, with their length header in front.
 */
export class BatchWriter {
  /** Bytes handed to the socket over the writer's life. */
  bytesOut = 0;
  framesOut = 0;
  private payloads: Buffer[] = [];
  private tpdus: (Buffer | undefined)[] = [];
  private pending = 0;
  private scheduled = false;
  private readonly flushBound = (): void => {
    this.scheduled = false;
    this.flush();
  };

  constructor(
    private readonly socket: Socket,
    private readonly framer: Framer,
    /** Called with false when socket.write() asked us to stop (wait for 'drain'). */
    private readonly onWrite?: (ok: boolean) => void,
  ) {}

  /** Queues one message; it is framed and written at the end of this event-loop turn. */
  write(payload: Buffer, tpdu?: Buffer): void {
    this.payloads.push(payload);
    this.tpdus.push(tpdu);
    this.pending += frameSize(this.framer, payload.length);
    if (this.pending >= FLUSH_AT_BYTES) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flushBound);
    }
  }

  /** Writes a raw, already framed buffer in order with the queued frames (keep-alives, tests). */
  writeRaw(bytes: Buffer): void {
    this.flush();
    if (this.socket.destroyed) return;
    this.bytesOut += bytes.length;
    const ok = this.socket.write(bytes);
    this.onWrite?.(ok);
  }

  /** Bytes queued here plus bytes the socket has not yet handed to the kernel. */
  get pendingBytes(): number {
    return this.pending + this.socket.writableLength;
  }

  flush(): void {
    const n = this.payloads.length;
    if (n === 0) return;
    const payloads = this.payloads;
    const tpdus = this.tpdus;
    const total = this.pending;
    this.payloads = [];
    this.tpdus = [];
    this.pending = 0;
    if (this.socket.destroyed || !this.socket.writable) return;
    const out = Buffer.allocUnsafe(total);
    let o = 0;
    for (let i = 0; i < n; i++) o = writeFrame(this.framer, out, o, payloads[i]!, tpdus[i]);
    this.bytesOut += total;
    this.framesOut += n;
    const ok = this.socket.write(out);
    this.onWrite?.(ok);
  }

  /** Drops what is queued (the connection is going away). */
  discard(): void {
    this.payloads = [];
    this.tpdus = [];
    this.pending = 0;
  }
}
