/** The PSP side: requests and their response class, latency the switch adds, limit hits, connections, in flight. */
import client from 'prom-client';
import type { PspServer } from '../net/psp-server.js';
import { responseClass, type ResponseClass } from '../iso8583/response-codes.js';
import { registry, LATENCY_BUCKETS, mtiLabel, nameLabel, type Unbind } from './registry.js';
import { addUnpackSource, recordCodecError } from './codec.js';

export const requestsTotal = new client.Counter({
  name: 'switch_requests_total',
  help: 'Requests answered to PSPs, by PSP, request MTI and response class (approved, declined, error)',
  labelNames: ['psp', 'mti', 'class'] as const,
  registers: [registry],
});

export const switchLatency = new client.Histogram({
  name: 'switch_added_latency_seconds',
  help: 'Time the switch itself adds to a request (total minus the acquirer round trip)',
  labelNames: ['psp', 'mti'] as const,
  buckets: LATENCY_BUCKETS,
  registers: [registry],
});

export const pspResponseLatency = new client.Histogram({
  name: 'switch_psp_response_seconds',
  help: 'Time from reading a PSP request to queueing its response (total, acquirer included)',
  labelNames: ['psp', 'mti'] as const,
  buckets: LATENCY_BUCKETS,
  registers: [registry],
});

export const pspLimitsTotal = new client.Counter({
  name: 'switch_psp_limit_hits_total',
  help: 'PSP server limits hit (connections, inflight, inflight-total, frame, slow-reader)',
  labelNames: ['psp', 'kind'] as const,
  registers: [registry],
});

const pspServers = new Map<PspServer, string>();

export const pspConnections = new client.Gauge({
  name: 'switch_psp_connections',
  help: 'Open PSP connections per PSP server',
  labelNames: ['psp'] as const,
  registers: [registry],
  collect() {
    this.reset();
    for (const [s, psp] of pspServers) this.inc({ psp }, s.connectionCount);
  },
});

export const pspInFlight = new client.Gauge({
  name: 'switch_psp_inflight',
  help: 'PSP requests being handled per PSP server',
  labelNames: ['psp'] as const,
  registers: [registry],
  collect() {
    this.reset();
    for (const [s, psp] of pspServers) this.inc({ psp }, s.stats.inFlight);
  },
});

/**
 * Subscribe to a PSP server: response latency per MTI, limit hits; connections and in-flight on scrape.
 * The server's 'response' event carries no DE39, so the switch records the response class itself
 * with recordRequest().

/** One request answered to a PSP; `responseCode` is DE39 of the answer, undefined when none was formed. */
export function recordRequest(psp: string, mti: string, responseCode: string | undefined): ResponseClass {
  const cls = responseClass(responseCode);
  requestsTotal.inc({ psp: nameLabel(psp), mti: mtiLabel(mti), class: cls });
  return cls;
}

/** Time the switch added to a request, in ms (total minus acquirer round trip). */
export function recordSwitchLatency(psp: string, mti: string, ms: number): void {
  if (Number.isFinite(ms) && ms >= 0) switchLatency.observe({ psp: nameLabel(psp), mti: mtiLabel(mti) }, ms / 1000);
}

/**
 * Subscribe to a PSP server: response latency per MTI, limit hits; connections and in-flight on scrape.
 * The server's 'response' event carries no DE39, so the switch records the response class itself
 * with recordRequest().
 */
export function bindPspServerMetrics(server: PspServer): Unbind {
  const psp = nameLabel(server.options.psp);
  pspServers.set(server, psp);
  const onResponse = (e: { mti: string; latencyMs: number }): void => {
    pspResponseLatency.observe({ psp, mti: mtiLabel(e.mti) }, e.latencyMs / 1000);
  };
  const onLimit = (e: { kind: string }): void => {
    pspLimitsTotal.inc({ psp, kind: e.kind });
  };
  const onUnpackError = (e: { code: string }): void => recordCodecError(e.code, 'psp_in');
  const onPackError = (e: { code: string }): void => recordCodecError(e.code, 'out');
  server.on('response', onResponse);
  server.on('limit', onLimit);
  server.on('unpackError', onUnpackError);
  server.on('packError', onPackError);
  for (const cls of ['approved', 'declined', 'error'] as const) requestsTotal.inc({ psp, mti: '0100', class: cls }, 0);
  for (const kind of ['connections', 'inflight', 'inflight-total', 'frame', 'slow-reader']) pspLimitsTotal.inc({ psp, kind }, 0);
  const offUnpack = addUnpackSource({ direction: 'psp_in', source: psp, count: () => server.stats.unpackErrors + server.stats.unreadableFrames });
  return () => {
    offUnpack();
    pspServers.delete(server);
    server.off('response', onResponse);
    server.off('limit', onLimit);
    server.off('unpackError', onUnpackError);
    server.off('packError', onPackError);
  };
}
