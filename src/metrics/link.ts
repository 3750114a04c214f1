/** The acquirer side: messages, round trips and response classes per link, link events, in flight, ready connections. */
import client from 'prom-client';
import type { AcquirerLink } from '../net/link/link.js';
import { responseClass } from '../iso8583/response-codes.js';
import { registry, LATENCY_BUCKETS, mtiLabel, nameLabel, type Unbind } from './registry.js';
import { addUnpackSource, recordCodecError } from './codec.js';
import { breakerTransitions } from './health.js';

export const acquirerRoundTrip = new client.Histogram({
  name: 'switch_acquirer_roundtrip_seconds',
  help: 'Acquirer round trip: request written to matched response read',
  labelNames: ['acquirer', 'mti'] as const,
  buckets: LATENCY_BUCKETS,
  registers: [registry],
});

export const acquirerResponses = new client.Counter({
  name: 'switch_acquirer_responses_total',
  help: 'Outcome of requests sent to acquirers: approved, declined, error (answered), timeout, rejected (no answer)',
  labelNames: ['acquirer', 'mti', 'class'] as const,
  registers: [registry],
});

export const linkMessages = new client.Counter({
  name: 'switch_link_messages_total',
  help: 'Application messages on acquirer links by direction (out = sent, in = matched response, unmatched)',
  labelNames: ['acquirer', 'direction'] as const,
  registers: [registry],
});

export const linkEvents = new client.Counter({
  name: 'switch_link_events_total',
  help: 'Acquirer link connection events (connected, ready, closed, failed)',
  labelNames: ['acquirer', 'event'] as const,
  registers: [registry],
});

const links = new Map<string, AcquirerLink>();

export const linkInFlight = new client.Gauge({
  name: 'switch_link_inflight',
  help: 'Application requests in flight per acquirer link',
  labelNames: ['acquirer'] as const,
  registers: [registry],
  collect() {
    this.reset();
    for (const [name, l] of links) this.set({ acquirer: name }, l.inFlight);
  },
});

export const linkReadyConnections = new client.Gauge({
  name: 'switch_link_ready_connections',
  help: 'Signed-on connections per acquirer link',
  labelNames: ['acquirer'] as const,
  registers: [registry],
  collect() {
    this.reset();
    for (const [name, l] of links) this.set({ acquirer: name }, l.readyCount);
  },
});

export const linkUp = new client.Gauge({
  name: 'switch_link_up',
  help: 'Link state: 1 when at least one connection is signed on, 0 when the acquirer is unreachable',
  labelNames: ['acquirer'] as const,
  registers: [registry],
  collect() {
    this.reset();
    for (const [name, l] of links) this.set({ acquirer: name }, l.readyCount > 0 ? 1 : 0);
  },
});

/** Subscribe to an acquirer link's events; its in-flight and connection gauges are read on every scrape. */
export function bindLinkMetrics(link: AcquirerLink): Unbind {
  const acquirer = nameLabel(link.name);
  links.set(acquirer, link);
  const onSent = (e: { mti: string }): void => {
    linkMessages.inc({ acquirer, direction: 'out' });
    void e;
  };
  const onAnswered = (e: { mti: string; responseCode: string | undefined; latencyMs: number }): void => {
    const mti = mtiLabel(e.mti);
    linkMessages.inc({ acquirer, direction: 'in' });
    acquirerRoundTrip.observe({ acquirer, mti }, e.latencyMs / 1000);
    acquirerResponses.inc({ acquirer, mti, class: responseClass(e.responseCode) });
  };
  const onTimeout = (e: { mti: string }): void => {
    acquirerResponses.inc({ acquirer, mti: mtiLabel(e.mti), class: 'timeout' });
  };
  const onRejected = (e: { mti: string }): void => {
    acquirerResponses.inc({ acquirer, mti: mtiLabel(e.mti), class: 'rejected' });
  };
  const onUnpackError = (e: { code: string }): void => recordCodecError(e.code, 'acquirer_in');
  const onPackError = (e: { code: string }): void => recordCodecError(e.code, 'out');
  const onUnmatched = (): void => {
    linkMessages.inc({ acquirer, direction: 'unmatched' });
  };
  const ev = (event: string) => (): void => {
    linkEvents.inc({ acquirer, event });
  };
  for (const c of ['approved', 'declined', 'error', 'timeout', 'rejected']) acquirerResponses.inc({ acquirer, mti: '0100', class: c }, 0);
  for (const e of ['connected', 'ready', 'closed', 'failed']) linkEvents.inc({ acquirer, event: e }, 0);
  for (const st of ['open', 'half_open', 'closed']) breakerTransitions.inc({ acquirer, state: st }, 0);
  const offUnpack = addUnpackSource({ direction: 'acquirer_in', source: acquirer, count: () => link.stats.unpackErrors });
  const onConnected = ev('connected');
  const onReady = ev('ready');
  const onClosed = ev('closed');
  const onFailed = ev('failed');
  link.on('sent', onSent);
  link.on('answered', onAnswered);
  link.on('timeout', onTimeout);
  link.on('rejected', onRejected);
  link.on('unmatched', onUnmatched);
  link.on('unpackError', onUnpackError);
  link.on('packError', onPackError);
  link.on('connected', onConnected);
  link.on('ready', onReady);
  link.on('closed', onClosed);
  link.on('failed', onFailed);
  return () => {
    if (links.get(acquirer) === link) links.delete(acquirer);
    offUnpack();
    link.off('sent', onSent);
    link.off('answered', onAnswered);
    link.off('timeout', onTimeout);
    link.off('unpackError', onUnpackError);
    link.off('packError', onPackError);
    link.off('rejected', onRejected);
    link.off('unmatched', onUnmatched);
    link.off('connected', onConnected);
    link.off('ready', onReady);
    link.off('closed', onClosed);
    link.off('failed', onFailed);
  };
}
