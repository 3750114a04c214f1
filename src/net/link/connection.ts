import type { Socket } from 'node:net';
import type { Codec } from '../../iso8583/codec-types.js';
import type { IsoMessage } from '../../iso8583/message.js';
import type { SwitchError } from '../../errors.js';
import type { Framer } from '../../wire/framer.js';
import { Reassembler } from '../../wire/reassembler.js';
import { BatchWriter } from '../batch-writer.js';

export type ConnectionState = 'signing-on' | 'ready' | 'down';
export type DownKind = 'closed' | 'failed';

export interface ConnectionHost {
  /** `payload`: the message's bytes as received (for LinkGuard.check). */
  onMessage(conn: LinkConnection, msg: IsoMessage, payload: Buffer): void;
  onUnpackError(conn: LinkConnection, e: unknown): void;
  onDown(conn: LinkConnection, kind: DownKind, reason: string, error: SwitchError | Error | undefined): void;
}

/**
 * One socket of an acquirer link: framing in and out, unpacking, and the bookkeeping the link needs to
 * find what was in flight on it when it goes down.
 */
export class LinkConnection {
  state: ConnectionState = 'signing-on';
  /** Match keys of requests sent on this connection and not yet settled. */
  readonly pendingKeys = new Set<string>();
  lastReadAt = Date.now();
  echoOutstanding = false;
  /** With a LinkGuard: the last write (sealing is asynchronous; writes leave in the order they were asked for). */
  outbound: Promise<void> = Promise.resolve();
  /** With a LinkGuard: the last delivery (checks run at once, deliveries in the order the frames arrived). */
  inbound: Promise<void> = Promise.resolve();
  readonly writer: BatchWriter;
  private readonly reassembler: Reassembler;
  private downKind: DownKind | null = null;
  private downReason = 'peer-closed';
  private downError: SwitchError | Error | undefined;
  private reported = false;

  constructor(
    private readonly host: ConnectionHost,
    readonly id: string,
    readonly slot: number,
    readonly socket: Socket,
    framer: Framer,
    maxFrameBytes: number,
    codec: Codec,
  ) {
    this.writer = new BatchWriter(socket, framer);
    this.reassembler = new Reassembler(framer, {
      maxFrameBytes,
      onFrame: (payload) => {
        let msg: IsoMessage;
        try {
          msg = codec.unpack(payload);
        } catch (e) {
          this.host.onUnpackError(this, e);
          return;
        }
        this.host.onMessage(this, msg, payload);
      },
    });
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.lastReadAt = Date.now();
      if (this.state === 'down') return;
      try {
        this.reassembler.push(chunk);
      } catch (e) {
        this.fail('frame-error', e as SwitchError);
      }
    });
    socket.on('error', (e) => {
      if (!this.downKind) {
        this.downKind = 'failed';
        this.downReason = (e as NodeJS.ErrnoException).code ?? 'socket-error';
        this.downError = e;
      }
    });
    socket.on('close', () => this.report());
  }

  get isReady(): boolean {
    return this.state === 'ready';
  }

  send(bytes: Buffer): void {
    this.writer.write(bytes);
  }

  /** Closed by us (link shutdown): the 'closed' event, not 'failed'. */
  close(reason: string): void {
    if (this.downKind) return;
    this.downKind = 'closed';
    this.downReason = reason;
    this.state = 'down';
    this.writer.flush();
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  /** Failed (half-open, sign-on refused, bad frame…): the 'failed' event. */
  fail(reason: string, error?: SwitchError | Error): void {
    if (this.downKind) return;
    this.downKind = 'failed';
    this.downReason = reason;
    this.downError = error;
    this.state = 'down';
    this.writer.discard();
    this.socket.destroy();
  }

  private report(): void {
    if (this.reported) return;
    this.reported = true;
    this.state = 'down';
    this.writer.discard();
    this.host.onDown(this, this.downKind ?? 'failed', this.downReason, this.downError);
  }
}
