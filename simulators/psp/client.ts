import { EventEmitter } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import type { Socket } from 'node:net';
import type { Codec } from '../../src/iso8583/codec-types.js';
import type { IsoMessage } from '../../src/iso8583/message.js';
import { loadDialect } from '../../src/iso8583/index.js';
import { SwitchError } from '../../src/errors.js';
import { createFramer, type Framer, type FramerOptions } from '../../src/wire/framer.js';
import { Reassembler } from '../../src/wire/reassembler.js';
import { BatchWriter } from '../../src/net/batch-writer.js';
import { StanGenerator } from '../../src/net/mti.js';
import { compileMatchKey, type MatchKeyFn, type MatchKeySpec } from '../../src/net/link/matcher.js';

export interface PspClientOptions {
  host?: string;
  port: number;
  /** Dialect name (default iso87-ascii-bbitmap, the PSP server's default) or a codec. */
  dialect?: string;
  codec?: Codec;
  framer?: Framer | FramerOptions;
  /** Connect with TLS (node:tls). */
  tls?: tls.ConnectionOptions;
  /** Default per-request timeout (30 000 ms). */
  timeoutMs?: number;
  matchKey?: MatchKeySpec | MatchKeyFn;
  /** Name used in errors (default "psp-client"). */
  name?: string;
}

interface Pending {
  resolve: (m: IsoMessage) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
  mti: string;
}

export interface PspClientEvents {
  /** A response that matched no request in flight. */
  unmatched: [IsoMessage];
  /** A frame that did not unpack. */
  garbage: [Buffer];
  close: [];
}

/**
 * One PSP connection: sends pipelined requests, matches responses by key (default response-class MTI + DE41
 * + DE11). Used by `send`, `load`, tests and benchmarks.
 */
export class PspClient extends EventEmitter<PspClientEvents> {
  readonly codec: Codec;
  readonly framer: Framer;
  readonly stan = new StanGenerator();
  readonly name: string;
  private readonly pending = new Map<string, Pending>();
  private readonly keyOf: MatchKeyFn;
  private readonly writer: BatchWriter;
  private readonly reassembler: Reassembler;
  private closedFlag = false;

  private constructor(
    readonly socket: Socket,
    codec: Codec,
    framer: Framer,
    private readonly timeoutMs: number,
    matchKey: MatchKeySpec | MatchKeyFn | undefined,
    name: string,
  ) {
    super();
    this.codec = codec;
    this.framer = framer;
    this.name = name;
    this.keyOf = compileMatchKey(matchKey);
    this.writer = new BatchWriter(socket, framer);
    this.reassembler = new Reassembler(framer, {
      maxFrameBytes: framer.maxLength,
      onFrame: (payload) => this.onFrame(payload),
    });
    socket.setNoDelay(true);
    socket.on('data', (c: Buffer) => {
      try {
        this.reassembler.push(c);
      } catch {
        socket.destroy();
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closedFlag = true;
      for (const p of this.pending.values()) {
        clearTimeout(p.timer);
        p.reject(new SwitchError('SW_ERR_LINK_CONNECTION_LOST', { link: this.name, connection: 'client', reason: 'closed' }));
      }
      this.pending.clear();
      this.emit('close');
    });
  }

  static async connect(opts: PspClientOptions): Promise<PspClient> {
    const codec = opts.codec ?? loadDialect(opts.dialect ?? 'iso87-ascii-bbitmap');
    const framer = opts.framer && 'readLength' in opts.framer ? opts.framer : createFramer((opts.framer as FramerOptions | undefined) ?? {});
    const host = opts.host ?? '127.0.0.1';
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = opts.tls ? tls.connect({ host, port: opts.port, ...opts.tls }) : net.connect({ host, port: opts.port });
      s.once(opts.tls ? 'secureConnect' : 'connect', () => {
        s.off('error', reject);
        resolve(s);
      });
      s.once('error', reject);
    });
    return new PspClient(socket, codec, framer, opts.timeoutMs ?? 30_000, opts.matchKey, opts.name ?? 'psp-client');
  }

  get inFlight(): number {
    return this.pending.size;
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  /** Sends a request and resolves with its matched response. */
  send(msg: IsoMessage, opts: { timeoutMs?: number } = {}): Promise<IsoMessage> {
    if (this.closedFlag) return Promise.reject(new SwitchError('SW_ERR_LINK_CLOSED', { link: this.name }));
    const key = this.keyOf(msg);
    if (key === null) return Promise.reject(new SwitchError('SW_ERR_LINK_MISSING_KEY_FIELD', { link: this.name, mti: msg.mti, field: 'all' }));
    if (this.pending.has(key)) return Promise.reject(new SwitchError('SW_ERR_LINK_DUPLICATE_KEY', { link: this.name, mti: msg.mti }));
    let bytes: Buffer;
    try {
      bytes = this.codec.pack(msg);
    } catch (e) {
      return Promise.reject(e);
    }
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(key);
        reject(new SwitchError('SW_ERR_LINK_TIMEOUT', { link: this.name, mti: msg.mti, timeoutMs }));
      }, timeoutMs);
      this.pending.set(key, { resolve, reject, timer, mti: msg.mti });
      this.writer.write(bytes);
    });
  }

  /** Writes bytes as they are (already framed, or deliberately broken). */
  sendRaw(bytes: Buffer): void {
    this.writer.writeRaw(bytes);
  }

  private onFrame(payload: Buffer): void {
    let msg: IsoMessage;
    try {
      msg = this.codec.unpack(payload);
    } catch {
      this.emit('garbage', Buffer.from(payload));
      return;
    }
    const key = this.keyOf(msg);
    const p = key === null ? undefined : this.pending.get(key);
    if (!p || key === null) {
      this.emit('unmatched', msg);
      return;
    }
    clearTimeout(p.timer);
    this.pending.delete(key);
    p.resolve(msg);
  }

  close(): Promise<void> {
    if (this.closedFlag) return Promise.resolve();
    return new Promise((r) => {
      this.socket.once('close', () => r());
      this.writer.flush();
      this.socket.end();
      setTimeout(() => this.socket.destroy(), 1000).unref();
    });
  }
}
