/**
 * Store-and-forward: queue depth and dead letters, each read from one source on scrape (the SAF queue's own
 * tables), and SAF events as they happen.
 */
import client from 'prom-client';
import { registry, type Unbind } from './registry.js';

export interface SafMetricsSource {
  /** Reversals waiting to be (re)sent. */
  depth(): number | Promise<number>;
  /** Entries in the dead-letter table. */
  deadLetters(): number | Promise<number>;
}
const safSources = new Set<SafMetricsSource>();

async function sumOf(f: (s: SafMetricsSource) => number | Promise<number>): Promise<number | null> {
  if (safSources.size === 0) return null;
  let n = 0;
  for (const s of safSources) n += await f(s);
  return n;
}

export const safDepth = new client.Gauge({
  name: 'switch_saf_depth',
  help: 'Store-and-forward queue depth (reversal advices not yet acknowledged)',
  registers: [registry],
  async collect() {
    const n = await sumOf((s) => s.depth()).catch(() => null);
    if (n !== null) this.set(n);
  },
});

export const deadLetters = new client.Gauge({
  name: 'switch_dead_letters',
  help: 'Entries in the dead-letter table (expired SAF entries needing an operator)',
  registers: [registry],
  async collect() {
    const n = await sumOf((s) => s.deadLetters()).catch(() => null);
    if (n !== null) this.set(n);
  },
});

export const safEvents = new client.Counter({
  name: 'switch_saf_events_total',
  help: 'SAF events: queued, sent, acknowledged, retried, dead_lettered',
  labelNames: ['event'] as const,
  registers: [registry],
});

for (const event of ['queued', 'sent', 'acknowledged', 'retried', 'dead_lettered'] as const) safEvents.inc({ event }, 0);

export function recordSafEvent(event: 'queued' | 'sent' | 'acknowledged' | 'retried' | 'dead_lettered'): void {
  safEvents.inc({ event });
}

/** SAF depth and dead letters read on every scrape (async sources are awaited). */
export function bindSafMetrics(source: SafMetricsSource): Unbind {
  safSources.add(source);
  return () => {
    safSources.delete(source);
  };
}
