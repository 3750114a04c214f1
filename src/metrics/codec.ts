/** Codec errors (by SW_ERR_* code and direction) and unpack failures read from the PSP server and links on scrape. */
import client from 'prom-client';
import { registry, type Unbind } from './registry.js';

export const codecErrors = new client.Counter({
  name: 'switch_codec_errors_total',
  help: 'Messages that failed to unpack or pack, by SW_ERR_* code and direction (psp_in, acquirer_in, out)',
  labelNames: ['code', 'direction'] as const,
  registers: [registry],
});

interface UnpackSource {
  direction: 'psp_in' | 'acquirer_in';
  source: string;
  count: () => number;
}
const unpackSources = new Set<UnpackSource>();

export const unpackErrors = new client.Counter({
  name: 'switch_unpack_errors_total',
  help: 'Frames that did not unpack (or had no readable MTI), by direction and PSP server / acquirer link',
  labelNames: ['direction', 'source'] as const,
  registers: [registry],
  collect() {
    this.reset();
    for (const u of unpackSources) this.inc({ direction: u.direction, source: u.source }, u.count());
  },
});

/** Count `source`'s unpack failures (read on every scrape) until the returned function is called. */
export function addUnpackSource(source: UnpackSource): Unbind {
  unpackSources.add(source);
  return () => {
    unpackSources.delete(source);
  };
}

/** A message that failed to (un)pack; `code` is its SW_ERR_* code. */
export function recordCodecError(code: string, direction: 'psp_in' | 'acquirer_in' | 'out'): void {
  codecErrors.inc({ code: /^SW_ERR_[A-Z0-9_]{1,60}$/.test(code) ? code : 'unknown', direction });
}
