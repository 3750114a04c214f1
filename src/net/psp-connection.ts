import type { Socket } from 'node:net';
import { IsoMessage, isResponseMti, responseMti } from '../iso8583/message.js';
import { errorSummary, SwitchError } from '../errors.js';
import { swapTpdu } from '../wire/framer.js';
import { Reassembler } from '../wire/reassembler.js';
import { BatchWriter } from './batch-writer.js';
import { peekMti } from './mti.js';
import type { PspRequestContext, PspServer } from './psp-server.js';

type PauseReason = 'inflight' | 'drain' | 'shutdown';

/**
 * One PSP connection of a PspServer (docs/network.md, "PSP server"): reads frames, hands requests to the
 * server's handler, writes their answers in any order, and keeps the in-flight accounting below.
 *
 * In-flight accounting: every request counted on the way in is finished exactly once (`finish()`), whatever
 * happens to it, also after the connection is gone (its answer is then dropped and counted).
 *
 *   frame ──► unpack ─┬─ fails ─────────────► answer formatError (request MTI readable) or drop: not counted
 *                     ├─ response MTI ───────► drop: not counted
 *                     └─ request
 *                          │
 *                          ├─ server full (Σ inFlight ≥ maxInFlight) ──► +1 ──► finish(unavailable) at once
 *                          ├─ its PSP's share in flight reached (quotas, across servers) ──► +1 ──► finish(unavailable) at once
 *                          │
 *                          └─ +1 (this.inFlight and server.stats.inFlight; the PSP's share too, with quotas)
 *                               │  this.inFlight reaches maxInFlightPerConnection ──► pause('inflight')
 *                               ▼
 *                           handler(msg) ── resolves ──► finish(resp | null)
 *                               └───────── rejects ───► finish(systemError)       ─┐
 *                                                                                  ▼
 *                 finish: −1 (both, and the PSP's share) ─► write the answer unless closed ─► below the cap: resume('inflight')
 *                                                                   ─► server draining and 0 left: end('shutdown')
 *
 *   invariants: server.stats.inFlight = Σ connection.inFlight; 0 ≤ inFlight; reading is paused while any
 *   reason in `pausedFor` holds (in flight at the cap, socket not drained, shutting down).
 */
export class PspConnection {
  inFlight = 0;
  /** When the last complete frame (or keep-alive) was read: what the idle timeout counts from. */
  lastFrameAt = Date.now();
  closed = false;
  readonly pausedFor = new Set<PauseReason>();
  readonly reassembler: Reassembler;
  readonly writer: BatchWriter;
  readonly ctxBase: { connectionId: string; psp: string; remoteAddress: string };
  closeReason = 'peer-closed';
  private stallTimer: NodeJS.Timeout | null = null;

  constructor(
    readonly server: PspServer,
    readonly id: string,
    readonly socket: Socket,
    /** The identity of every request on this connection (the server's identify()). */
    readonly psp: string,
  ) {
    const o = server.options;
    this.ctxBase = { connectionId: id, psp, remoteAddress: `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}` };
    this.reassembler = new Reassembler(o.framer, {
      maxFrameBytes: o.maxFrameBytes,
      onFrame: (payload, tpdu) => this.onFrame(payload, tpdu),
      onKeepAlive: () => {
        server.stats.keepAlives++;
        this.lastFrameAt = Date.now();
      },
    });
    this.writer = new BatchWriter(socket, o.framer, (ok) => {
      if (!ok && !this.closed) {
        server.stats.writePauses++;
        this.pause('drain');
      }
      this.checkBuffered();
    });
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 30_000);
    socket.on('data', (chunk: Buffer) => {
      server.stats.bytesIn += chunk.length;
      try {
        this.reassembler.push(chunk);
      } catch (e) {
        server.stats.frameErrors++;
        server.emit('limit', { kind: 'frame', connectionId: id });
        server.log.warn({ connectionId: id, ...errorSummary(e) }, 'bad frame header, closing the connection');
        this.destroy('frame-error');
      }
    });
    socket.on('drain', () => this.resume('drain'));
    socket.on('error', (e) => server.log.debug({ connectionId: id, ...errorSummary(e) }, 'socket error'));
    socket.on('close', () => this.onClose());
  }

  /** The server's idle sweep: nothing in flight and no complete frame for idleTimeoutMs → closed. */
  checkIdle(now: number): void {
    const ms = this.server.options.idleTimeoutMs;
    if (this.closed || this.inFlight > 0 || now - this.lastFrameAt < ms) return;
    this.server.stats.idleTimeouts++;
    this.server.raise(
      'info',
      new SwitchError('SW_ERR_NET_IDLE_TIMEOUT', { connection: this.id, ms }),
      this.id,
      { ms },
      'idle connection closed (no complete frame)',
    );
    this.end('idle');
  }

  private onFrame(payload: Buffer, tpdu: Buffer | undefined): void {
    if (this.closed) return;
    const server = this.server;
    const st = server.stats;
    st.framesIn++;
    const receivedAt = Date.now();
    this.lastFrameAt = receivedAt;
    const replyTpdu = tpdu ? swapTpdu(tpdu) : undefined;
    let msg: IsoMessage;
    try {
      msg = server.options.codec.unpack(payload);
    } catch (e) {
      this.onUnpackError(payload, replyTpdu, e);
      return;
    }
    if (isResponseMti(msg.mti)) {
      // an answer to nothing the switch asked: there is no one to answer
      this.dropFrame('response MTI from a client', msg.mti, undefined);
      return;
    }
    if (st.inFlight >= server.options.maxInFlight) {
      // the switch as a whole is full: refuse fast, without reading it further or asking anyone
      st.inFlightRefused++;
      server.emit('limit', { kind: 'inflight-total', connectionId: this.id });
      this.inFlight++;
      st.inFlight++;
      this.finish(msg, server.formedResponse(msg, server.options.answers.unavailable), replyTpdu, receivedAt);
      return;
    }
    const quotas = server.quotas;
    const share = quotas ? quotas.acquire(this.psp) : 'ok';
    if (share !== 'ok') {
      // this PSP has its share in flight: refused fast, while the other PSPs are still served
      st.pspInFlightRefused++;
      server.emit('limit', { kind: 'psp-inflight', connectionId: this.id, psp: this.psp });
      if (share === 'first') {
        const max = quotas!.shareOf(this.psp).maxInFlight;
        server.raise(
          'warn',
          new SwitchError('SW_ERR_NET_PSP_INFLIGHT_LIMIT', { psp: this.psp, max }),
          this.id,
          { psp: this.psp, max },
          'PSP in-flight share reached, answering unavailable',
        );
      }
      this.inFlight++;
      st.inFlight++;
      this.finish(msg, server.formedResponse(msg, server.options.answers.unavailable), replyTpdu, receivedAt);
      return;
    }
    this.inFlight++;
    st.inFlight++;
    if (this.inFlight >= server.options.maxInFlightPerConnection && !this.pausedFor.has('inflight')) {
      const max = server.options.maxInFlightPerConnection;
      st.inFlightLimitHits++;
      server.emit('limit', { kind: 'inflight', connectionId: this.id });
      server.raise(
        'warn',
        new SwitchError('SW_ERR_NET_INFLIGHT_LIMIT', { connection: this.id, max }),
        this.id,
        { max },
        'in-flight limit reached, reading paused',
      );
      this.pause('inflight');
    }
    const ctx: PspRequestContext = { ...this.ctxBase, receivedAt };
    let p: Promise<IsoMessage | null>;
    try {
      p = server.options.handler(msg, ctx);
    } catch (e) {
      p = Promise.reject(e);
    }
    p.then(
      (resp) => this.finish(msg, resp, replyTpdu, receivedAt, quotas !== undefined),
      (e: unknown) => {
        st.handlerErrors++;
        const cause = errorSummary(e);
        const err = new SwitchError('SW_ERR_NET_HANDLER_FAILED', { connection: this.id, mti: msg.mti, reason: cause.code ?? 'error' }, { cause: e });
        server.raise('error', err, this.id, { mti: msg.mti, cause }, err.message);
        this.finish(msg, server.formedResponse(msg, server.options.answers.systemError), replyTpdu, receivedAt, quotas !== undefined);
      },
    );
  }

  private onUnpackError(payload: Buffer, replyTpdu: Buffer | undefined, e: unknown): void {
    const server = this.server;
    const st = server.stats;
    st.unpackErrors++;
    server.emit('unpackError', { connectionId: this.id, code: errorSummary(e).code ?? 'unknown' });
    const mti = peekMti(server.options.codec, payload);
    if (mti === null || isResponseMti(mti)) {
      // A whole frame, so the stream is still in step: drop this one, keep the connection and what is in flight
      // on it. Only a framing error (a length header that cannot be right) closes a connection.
      this.dropFrame(mti === null ? 'no MTI' : 'response MTI from a client', mti, e);
      return;
    }
    const code = server.options.answers.formatError;
    server.log.warn({ connectionId: this.id, mti, cause: errorSummary(e) }, `frame failed to unpack, answering with a format error (${code})`);
    let bytes: Buffer;
    try {
      bytes = server.options.codec.pack(new IsoMessage(responseMti(mti), { 39: code }));
    } catch (pe) {
      st.packErrors++;
      server.log.error({ connectionId: this.id, cause: errorSummary(pe) }, 'format-error response could not be packed, closing');
      this.destroy('unreadable-frame');
      return;
    }
    st.formatErrorResponses++;
    this.send(bytes, replyTpdu);
  }

  private dropFrame(reason: string, mti: string | null, cause: unknown): void {
    this.server.stats.unreadableFrames++;
    this.server.raise(
      'warn',
      new SwitchError('SW_ERR_NET_UNREADABLE_FRAME', { connection: this.id, reason }, cause === undefined ? undefined : { cause }),
      this.id,
      { reason, ...(mti ? { mti } : {}), ...(cause ? { cause: errorSummary(cause) } : {}) },
      'frame dropped, connection kept',
    );
  }

  /** `held`: the request counts toward its PSP's share (quotas), released here. */
  private finish(req: IsoMessage, resp: IsoMessage | null, replyTpdu: Buffer | undefined, receivedAt: number, held = false): void {
    const server = this.server;
    const st = server.stats;
    this.inFlight--;
    st.inFlight--;
    if (held) server.quotas!.release(this.psp);
    if (this.closed) {
      if (resp) st.droppedResponses++;
      return;
    }
    if (resp) {
      let bytes: Buffer | null = null;
      try {
        bytes = server.options.codec.pack(resp);
      } catch (e) {
        st.packErrors++;
        server.emit('packError', { connectionId: this.id, code: errorSummary(e).code ?? 'unknown' });
        const code = server.options.answers.systemError;
        server.log.error({ connectionId: this.id, mti: resp.mti, cause: errorSummary(e) }, `response could not be packed, answering ${code}`);
        try {
          bytes = server.options.codec.pack(server.formedResponse(req, code));
        } catch {
          bytes = null;
        }
      }
      if (bytes) {
        this.send(bytes, replyTpdu);
        server.emit('response', { connectionId: this.id, mti: req.mti, responseMti: resp.mti, latencyMs: Date.now() - receivedAt });
      }
    }
    if (this.inFlight < server.options.maxInFlightPerConnection) this.resume('inflight');
    if (server.draining && this.inFlight === 0) this.end('shutdown');
  }

  private send(bytes: Buffer, tpdu: Buffer | undefined): void {
    if (this.closed) return;
    this.server.stats.framesOut++;
    this.server.stats.bytesOut += bytes.length + this.server.options.framer.headerBytes + (tpdu ? tpdu.length : 0);
    this.writer.write(bytes, tpdu);
    this.checkBuffered();
  }

  private checkBuffered(): void {
    const max = this.server.options.maxBufferedBytes;
    const pending = this.writer.pendingBytes;
    if (!this.closed && pending > max) this.cutOff(pending, 'buffered output over the cap');
  }

  private cutOff(pending: number, why: string): void {
    const server = this.server;
    const max = server.options.maxBufferedBytes;
    server.stats.slowReaderCutoffs++;
    server.emit('limit', { kind: 'slow-reader', connectionId: this.id });
    server.raise(
      'warn',
      new SwitchError('SW_ERR_NET_SLOW_READER', { connection: this.id, bytes: pending, max }),
      this.id,
      { bytes: pending, max, why },
      'peer is not reading, cut off',
    );
    this.destroy('slow-reader');
  }

  pause(reason: PauseReason): void {
    if (reason === 'drain' && !this.stallTimer && this.server.options.writeStallTimeoutMs > 0) {
      this.stallTimer = setTimeout(() => {
        this.stallTimer = null;
        if (this.pausedFor.has('drain')) this.cutOff(this.writer.pendingBytes, 'no drain within the write stall timeout');
      }, this.server.options.writeStallTimeoutMs);
      this.stallTimer.unref();
    }
    if (this.pausedFor.size === 0) {
      this.socket.pause();
      this.reassembler.pause();
    }
    this.pausedFor.add(reason);
  }

  resume(reason: PauseReason): void {
    if (reason === 'drain' && this.stallTimer) {
      clearTimeout(this.stallTimer);
      this.stallTimer = null;
    }
    if (!this.pausedFor.delete(reason) || this.pausedFor.size > 0 || this.closed) return;
    this.socket.resume();
    this.reassembler.resume();
  }

  /** Flushes what is queued, then half-closes. */
  end(reason: string): void {
    if (this.closed) return;
    this.closeReason = reason;
    this.writer.flush();
    this.closed = true;
    this.pause('shutdown');
    this.socket.end();
    // a peer that never closes its side: do not wait forever
    setTimeout(() => this.socket.destroy(), 2000).unref();
  }

  destroy(reason: string): void {
    if (this.closed) return;
    this.closeReason = reason;
    this.closed = true;
    this.writer.discard();
    this.socket.destroy();
  }

  private onClose(): void {
    this.closed = true;
    if (this.stallTimer) clearTimeout(this.stallTimer);
    this.writer.discard();
    this.server.connectionClosed(this, this.closeReason);
  }
}
