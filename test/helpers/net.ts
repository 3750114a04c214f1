import type { EventEmitter } from 'node:events';
import { IsoMessage } from '../../src/iso8583/message.js';
import { transmissionDateTime } from '../../src/net/mti.js';

/** An authorization request with the usual fields; PAN is a test card. */
export function authRequest(stan: string, opts: { mti?: string; terminal?: string; amount?: string; pan?: string } = {}): IsoMessage {
  return new IsoMessage(opts.mti ?? '0100', {
    2: opts.pan ?? '4111111111111111',
    3: '000000',
    4: opts.amount ?? '000000001000',
    7: transmissionDateTime(),
    11: stan,
    12: '120000',
    13: '1122',
    22: '051',
    37: '000000' + stan,
    41: opts.terminal ?? 'TERM0001',
    42: 'MERCHANT0000001',
    49: '978',
  });
}

export const stanOf = (i: number): string => String(i).padStart(6, '0');

/** Resolves when `pred` holds; polls every 10 ms; rejects after timeoutMs (generous: the machine is busy). */
export async function waitFor(pred: () => boolean, timeoutMs = 20_000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The next `event` from `em` (its first argument); rejects after timeoutMs. */
export function nextEvent<T = unknown>(em: EventEmitter, event: string, timeoutMs = 20_000, filter: (v: T) => boolean = () => true): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      em.off(event, on);
      reject(new Error(`timed out waiting for event ${event}`));
    }, timeoutMs);
    const on = (v: T): void => {
      if (!filter(v)) return;
      clearTimeout(timer);
      em.off(event, on);
      resolve(v);
    };
    em.on(event, on);
  });
}

/** Settles a promise into a result object, so tests can assert on rejections without unhandled ones. */
export async function settle<T>(p: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: Error & { code?: string } }> {
  try {
    return { ok: true, value: await p };
  } catch (e) {
    return { ok: false, error: e as Error & { code?: string } };
  }
}
