/**
 * The one prom-client Registry of the switch (served at /metrics by the admin server) and the label helpers every
 * area's metrics use. Labels stay low-cardinality (docs/architecture.md, "Conventions"): psp, acquirer, mti,
 * response class, direction, rule, terminal, state, level, op — never a PAN, STAN, RRN or amount.
 * Each area of metrics has its own file beside this one (docs/observability.md lists them).
 */
import client, { Registry } from 'prom-client';

export const registry = new Registry();
client.collectDefaultMetrics({ register: registry });

/** Stops what a bind* adapter subscribed to. */
export type Unbind = () => void;

/** MTIs are a closed set of 4 digits; anything else is folded into "other" so a bad peer cannot add series. */
export function mtiLabel(mti: string | undefined): string {
  return mti !== undefined && /^[0-9]{4}$/.test(mti) ? mti : 'other';
}

/** Names (psp, acquirer, terminal, rule ids) come from config; cap them defensively. */
export function nameLabel(s: string | null | undefined): string {
  if (!s) return 'none';
  return s.length > 64 ? s.slice(0, 64) : s;
}

export const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
export const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512];

/** Prometheus exposition text of the registry. */
export function metricsText(): Promise<string> {
  return registry.metrics();
}
