import type { IsoMessage } from '../../iso8583/message.js';

/**
 * A hook on every message of an acquirer link, in both directions (docs/security.md, "MAC"): the link stays free
 * of keys and cryptography, the switch passes in what signs outgoing bytes and checks incoming ones.
 *
 *   send:    prepare(msg) ─► codec.pack ─► seal(packed) ─► framer ─► socket      (writes keep their order per connection)
 *   receive: socket ─► framer ─► codec.unpack ─► check(packed, msg) ─► match     (deliveries keep their order per connection)
 */
export interface LinkGuard {
  /** Before packing: the message to pack (a copy, e.g. with the MAC field's filler); never the caller's message changed. */
  prepare(msg: IsoMessage): IsoMessage;
  /** The packed message, before framing: the bytes to send (e.g. the MAC written over the filler). A rejection: nothing is sent. */
  seal(packed: Buffer): Promise<Buffer>;
  /**
   * A received message with its bytes as received, before it is matched or answered: true when it may be used. A
   * false (or a rejection) makes it count as never received: a response is not matched (its request times out), an
   * inbound 0800 is answered 0810 with `refusedCode`. `packed` may be a view of a buffer the reassembler reuses:
   * take what is needed from it before the first await.
   */
  check(packed: Buffer, msg: IsoMessage): Promise<boolean>;
  /** DE39 of the 0810 answering an inbound 0800 that fails `check` (default "30", format error). */
  readonly refusedCode?: string;
}

export interface NetworkRequestInfo {
  link: string;
  connectionId: string;
}

/**
 * An inbound 0800 other than the link's own business (echo 301, sign-on 001, sign-off 002): e.g. a key exchange
 * (DE70 161/162). Returns the 0810 to send, or undefined to let the link answer it as it answers an echo.
 */
export type NetworkRequestHandler = (msg: IsoMessage, info: NetworkRequestInfo) => Promise<IsoMessage> | undefined;
