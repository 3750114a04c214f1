/**
 * Every metric of the switch, defined once, on one prom-client Registry (`registry`, served at /metrics by the
 * admin server). Labels stay low-cardinality (docs/architecture.md, "Conventions"): psp, acquirer, mti, response class, direction,
 * rule, terminal, state, level, op — never a PAN, STAN, RRN or amount.
 *
 * Other modules record through the small helpers below (recordRequest, recordRoutingDecision, …) or through
 * adapters that subscribe to the event emitters and views that already exist:
 *   bindLinkMetrics(link)            AcquirerLink events + in-flight / ready connections on scrape
 *   bindPspServerMetrics(server)     PspServer events + connections / in-flight on scrape
 *   bindDetectorMetrics(det, ids)    failure score and alive flag per acquirer / terminal on scrape
 *   bindBreakerMetrics(breakers)     breaker state per acquirer on scrape (+ breakerStateListener)
 *   groupCommitObserver(name)        an `onBatch` for createGroupCommit: batch size and latency
 *   instrumentLedger(ledger)         a Ledger wrapper counting and timing every operation
 *   bindSafMetrics(source)           SAF depth and dead letters on scrape
 * Each bind* returns an unbind function (the switch calls it when a link or server goes away).
 */
import client, { Registry } from 'prom-client';
import type { AcquirerLink } from './net/link/link.js';
import type { PspServer } from './net/psp-server.js';
import type { LinkBreakers, BreakerState } from './routing/breakers.js';
import type { Decision, RiskLevel } from './routing/types.js';
import type { BatchInfo } from './store/group-commit.js';
import type { Ledger } from './ledger/ledger.js';

export const registry = new Registry();
client.collectDefaultMetrics({ register: registry });

import { responseClass, type ResponseClass } from './iso8583/response-codes.js';

export { responseClass, type ResponseClass };

/** MTIs are a closed set of 4 digits; anything else is folded into "other" so a bad peer cannot add series. */
export function mtiLabel(mti: string | undefined): string {
  return mti !== undefined && /^[0-9]{4}$/.test(mti) ? mti : 'other';
}

/** Names (psp, acquirer, terminal, rule ids) come from config; cap them defensively. */
function nameLabel(s: string | null | undefined): string {
  if (!s) return 'none';
  return s.length > 64 ? s.slice(0, 64) : s;
}

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512];

// ── PSP side ────────────────────────────────────────────────────────────────────────────────────────────

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

// ── acquirer side ───────────────────────────────────────────────────────────────────────────────────────

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

// ── health: detector and breakers ───────────────────────────────────────────────────────────────────────

interface DetectorSource {
  health(id: string): { alive: boolean; score: number };
  ids: () => readonly string[];
}
const detectors = new Set<DetectorSource>();

export const detectorScore = new client.Gauge({
  name: 'switch_detector_score',
  help: 'Failure detector score per service (acquirer or terminal): 0 healthy .. 1 failing',
  labelNames: ['service'] as const,
  registers: [registry],
  collect() {
    this.reset();
    for (const d of detectors) for (const id of d.ids()) this.set({ service: nameLabel(id) }, d.health(id).score);
  },
});

export const detectorAlive = new client.Gauge({
  name: 'switch_detector_alive',
  help: 'Failure detector verdict per service: 1 alive, 0 dead',
  labelNames: ['service'] as const,
  registers: [registry],
  collect() {
    this.reset();
    for (const d of detectors) for (const id of d.ids()) this.set({ service: nameLabel(id) }, d.health(id).alive ? 1 : 0);
  },
});

const BREAKER_VALUE: Record<BreakerState, number> = { closed: 0, half_open: 1, open: 2 };
const breakerSources = new Set<Pick<LinkBreakers, 'states'>>();

export const breakerState = new client.Gauge({
  name: 'switch_breaker_state',
  help: 'Circuit breaker per acquirer: 0 closed, 1 half-open, 2 open',
  labelNames: ['acquirer'] as const,
  registers: [registry],
  collect() {
    this.reset();
    for (const b of breakerSources) for (const [id, s] of Object.entries(b.states())) this.set({ acquirer: nameLabel(id) }, BREAKER_VALUE[s]);
  },
});

export const breakerTransitions = new client.Counter({
  name: 'switch_breaker_transitions_total',
  help: 'Circuit breaker state changes per acquirer and new state',
  labelNames: ['acquirer', 'state'] as const,
  registers: [registry],
});

// ── routing and risk ────────────────────────────────────────────────────────────────────────────────────

export const routingDecisions = new client.Counter({
  name: 'switch_routing_decisions_total',
  help: 'Routing decisions by rule and chosen terminal ("declined" when the rules declined)',
  labelNames: ['rule', 'terminal', 'outcome'] as const,
  registers: [registry],
});

export const riskLevels = new client.Counter({
  name: 'switch_risk_levels_total',
  help: 'Risk levels assigned to authorizations',
  labelNames: ['level'] as const,
  registers: [registry],
});

export const rulesVersion = new client.Gauge({
  name: 'switch_rules_version',
  help: 'Routing rules version in use by this instance',
  registers: [registry],
});

// ── SAF and dead letters ────────────────────────────────────────────────────────────────────────────────

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

// ── ledger and group commit ─────────────────────────────────────────────────────────────────────────────

export const ledgerOperations = new client.Counter({
  name: 'switch_ledger_operations_total',
  help: 'Ledger operations by kind and result (ok, error)',
  labelNames: ['op', 'result'] as const,
  registers: [registry],
});

export const ledgerOperationLatency = new client.Histogram({
  name: 'switch_ledger_operation_seconds',
  help: 'Ledger operation latency as the caller sees it (group commit wait included)',
  labelNames: ['op'] as const,
  buckets: LATENCY_BUCKETS,
  registers: [registry],
});

export const groupCommitBatchSize = new client.Histogram({
  name: 'switch_group_commit_batch_size',
  help: 'Requests per group-commit transaction',
  labelNames: ['committer'] as const,
  buckets: BATCH_BUCKETS,
  registers: [registry],
});

export const groupCommitLatency = new client.Histogram({
  name: 'switch_group_commit_seconds',
  help: 'Duration of one group-commit transaction',
  labelNames: ['committer'] as const,
  buckets: LATENCY_BUCKETS,
  registers: [registry],
});

export const groupCommitIsolated = new client.Counter({
  name: 'switch_group_commit_isolated_total',
  help: 'Group-commit batches that failed as a whole and were re-run one request per transaction',
  labelNames: ['committer'] as const,
  registers: [registry],
});

// ── codec ───────────────────────────────────────────────────────────────────────────────────────────────

export const codecErrors = new client.Counter({
  name: 'switch_codec_errors_total',
  help: 'Messages that failed to unpack or pack, by SW_ERR_* code and direction (psp_in, acquirer_in, out)',
  labelNames: ['code', 'direction'] as const,
  registers: [registry],
});

// ── counters read from module stats on scrape ───────────────────────────────────────────────────────────

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

interface GroupCommitSource {
  committer: string;
  stats: () => { batches: number; requests: number; isolatedBatches: number; queued: number };
}
const gcSources = new Set<GroupCommitSource>();

export const groupCommitBatches = new client.Counter({
  name: 'switch_group_commit_batches_total',
  help: 'Group-commit transactions (from the committer stats)',
  labelNames: ['committer'] as const,
  registers: [registry],
  collect() {
    this.reset();
    for (const g of gcSources) this.inc({ committer: g.committer }, g.stats().batches);
  },
});

export const groupCommitRequests = new client.Counter({
  name: 'switch_group_commit_requests_total',
  help: 'Requests written by group commit (from the committer stats); requests / batches = mean batch size',
  labelNames: ['committer'] as const,
  registers: [registry],
  collect() {
    this.reset();
    for (const g of gcSources) this.inc({ committer: g.committer }, g.stats().requests);
  },
});

export const groupCommitQueued = new client.Gauge({
  name: 'switch_group_commit_queued',
  help: 'Requests waiting for the next group-commit batch',
  labelNames: ['committer'] as const,
  registers: [registry],
  collect() {
    this.reset();
    for (const g of gcSources) this.set({ committer: g.committer }, g.stats().queued);
  },
});

/** Export a group committer's running stats (e.g. ledger.stats(), the switch store's stats()). */
export function bindGroupCommitStats(committer: string, stats: GroupCommitSource['stats']): Unbind {
  const src: GroupCommitSource = { committer: nameLabel(committer), stats };
  gcSources.add(src);
  return () => {
    gcSources.delete(src);
  };
}

// Known label sets start at 0, so rates and alerts have a series before the first event.
for (const level of ['trusted', 'low', 'high', 'fatal'] as const) riskLevels.inc({ level }, 0);
for (const event of ['queued', 'sent', 'acknowledged', 'retried', 'dead_lettered'] as const) safEvents.inc({ event }, 0);
for (const op of ['hold', 'addBatch', 'commit', 'rollback', 'release'] as const) for (const result of ['ok', 'error'] as const) ledgerOperations.inc({ op, result }, 0);

// ── recording helpers ───────────────────────────────────────────────────────────────────────────────────

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

/** A routing decision: counts the rule and terminal, and the risk level. */
export function recordRoutingDecision(d: Decision): void {
  const rule = nameLabel(d.explanation.ruleId ?? 'none');
  if (d.kind === 'route') routingDecisions.inc({ rule, terminal: nameLabel(d.routes[0]?.terminal), outcome: 'route' });
  else routingDecisions.inc({ rule, terminal: 'declined', outcome: 'decline' });
  recordRiskLevel(d.explanation.risk.level);
  if (d.explanation.rulesVersion !== null) rulesVersion.set(d.explanation.rulesVersion);
}

export function recordRiskLevel(level: RiskLevel): void {
  riskLevels.inc({ level });
}

/** A message that failed to (un)pack; `code` is its SW_ERR_* code. */
export function recordCodecError(code: string, direction: 'psp_in' | 'acquirer_in' | 'out'): void {
  codecErrors.inc({ code: /^SW_ERR_[A-Z0-9_]{1,60}$/.test(code) ? code : 'unknown', direction });
}

export function recordSafEvent(event: 'queued' | 'sent' | 'acknowledged' | 'retried' | 'dead_lettered'): void {
  safEvents.inc({ event });
}

/** Direct setters, for a switch that tracks SAF depth itself instead of through bindSafMetrics. */
export function setSafDepth(n: number): void {
  safDepth.set(n);
}
export function setDeadLetters(n: number): void {
  deadLetters.set(n);
}

// ── adapters ────────────────────────────────────────────────────────────────────────────────────────────

export type Unbind = () => void;

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
  const onUnmatched = (): void => {
    linkMessages.inc({ acquirer, direction: 'unmatched' });
  };
  const ev = (event: string) => (): void => {
    linkEvents.inc({ acquirer, event });
  };
  for (const c of ['approved', 'declined', 'error', 'timeout', 'rejected']) acquirerResponses.inc({ acquirer, mti: '0100', class: c }, 0);
  for (const e of ['connected', 'ready', 'closed', 'failed']) linkEvents.inc({ acquirer, event: e }, 0);
  for (const st of ['open', 'half_open', 'closed']) breakerTransitions.inc({ acquirer, state: st }, 0);
  const unpack: UnpackSource = { direction: 'acquirer_in', source: acquirer, count: () => link.stats.unpackErrors };
  unpackSources.add(unpack);
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
  link.on('connected', onConnected);
  link.on('ready', onReady);
  link.on('closed', onClosed);
  link.on('failed', onFailed);
  return () => {
    if (links.get(acquirer) === link) links.delete(acquirer);
    unpackSources.delete(unpack);
    link.off('sent', onSent);
    link.off('answered', onAnswered);
    link.off('timeout', onTimeout);
    link.off('unpackError', onUnpackError);
    link.off('rejected', onRejected);
    link.off('unmatched', onUnmatched);
    link.off('connected', onConnected);
    link.off('ready', onReady);
    link.off('closed', onClosed);
    link.off('failed', onFailed);
  };
}

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
  server.on('response', onResponse);
  server.on('limit', onLimit);
  server.on('unpackError', onUnpackError);
  for (const cls of ['approved', 'declined', 'error'] as const) requestsTotal.inc({ psp, mti: '0100', class: cls }, 0);
  for (const kind of ['connections', 'inflight', 'inflight-total', 'frame', 'slow-reader']) pspLimitsTotal.inc({ psp, kind }, 0);
  const unpack: UnpackSource = { direction: 'psp_in', source: psp, count: () => server.stats.unpackErrors + server.stats.unreadableFrames };
  unpackSources.add(unpack);
  return () => {
    unpackSources.delete(unpack);
    pspServers.delete(server);
    server.off('response', onResponse);
    server.off('limit', onLimit);
    server.off('unpackError', onUnpackError);
  };
}

/**
 * Export a failure detector's verdicts (acquirer and terminal ids from `ids`, e.g. the active rules'
 * terminals and acquirers). Read on every scrape; nothing is recorded in between.
 */
export function bindDetectorMetrics(detector: { health(id: string): { alive: boolean; score: number } }, ids: readonly string[] | (() => readonly string[])): Unbind {
  const src: DetectorSource = { health: (id) => detector.health(id), ids: typeof ids === 'function' ? ids : () => ids };
  detectors.add(src);
  return () => {
    detectors.delete(src);
  };
}

/** Export breaker states (read on scrape). Pass breakerStateListener as LinkBreakers' onStateChange to count transitions. */
export function bindBreakerMetrics(breakers: Pick<LinkBreakers, 'states'>): Unbind {
  breakerSources.add(breakers);
  return () => {
    breakerSources.delete(breakers);
  };
}

export function breakerStateListener(acquirer: string, state: BreakerState): void {
  breakerTransitions.inc({ acquirer: nameLabel(acquirer), state });
}

/** An `onBatch` observer for createGroupCommit: batch size, transaction latency, isolation. */
export function groupCommitObserver(committer: string): (info: BatchInfo) => void {
  const c = nameLabel(committer);
  return (info) => {
    groupCommitBatchSize.observe({ committer: c }, info.size);
    groupCommitLatency.observe({ committer: c }, info.ms / 1000);
    if (info.isolated) groupCommitIsolated.inc({ committer: c });
  };
}

/** SAF depth and dead letters read on every scrape (async sources are awaited). */
export function bindSafMetrics(source: SafMetricsSource): Unbind {
  safSources.add(source);
  return () => {
    safSources.delete(source);
  };
}

type LedgerOp = 'hold' | 'addBatch' | 'commit' | 'rollback' | 'release';

/** A Ledger whose hold / addBatch / commit / rollback are counted and timed; everything else passes through. */
export function instrumentLedger(ledger: Ledger): Ledger {
  const timed = <A extends unknown[], R>(op: LedgerOp, f: (...a: A) => Promise<R>) =>
    async (...a: A): Promise<R> => {
      const end = ledgerOperationLatency.startTimer({ op });
      try {
        const r = await f(...a);
        ledgerOperations.inc({ op, result: 'ok' });
        return r;
      } catch (e) {
        ledgerOperations.inc({ op, result: 'error' });
        throw e;
      } finally {
        end();
      }
    };
  return {
    ...ledger,
    ensureAccount: ledger.ensureAccount.bind(ledger),
    accountCode: ledger.accountCode.bind(ledger),
    feesAccountCode: ledger.feesAccountCode.bind(ledger),
    balances: ledger.balances.bind(ledger),
    plan: ledger.plan.bind(ledger),
    check: ledger.check.bind(ledger),
    reconcile: ledger.reconcile.bind(ledger),
    stats: ledger.stats.bind(ledger),
    close: ledger.close.bind(ledger),
    hold: timed('hold', ledger.hold.bind(ledger)),
    addBatch: timed('addBatch', ledger.addBatch.bind(ledger)),
    commit: timed('commit', ledger.commit.bind(ledger)),
    rollback: timed('rollback', ledger.rollback.bind(ledger)),
  };
}

/**
 * Instrument a ledger object in place (its hold / addBatch / commit / rollback are replaced by timed, counted
 * versions): for a ledger already handed to other modules, e.g. the switch's flows.
 */
export function instrumentLedgerInPlace(ledger: Ledger): Ledger {
  const marked = ledger as Ledger & { [INSTRUMENTED]?: true };
  if (marked[INSTRUMENTED]) return ledger;
  const w = instrumentLedger(ledger);
  Object.assign(ledger, { hold: w.hold, addBatch: w.addBatch, commit: w.commit, rollback: w.rollback, [INSTRUMENTED]: true });
  return ledger;
}
const INSTRUMENTED = Symbol('metrics.instrumented');

/** Prometheus exposition text of the registry. */
export function metricsText(): Promise<string> {
  return registry.metrics();
}

// ── switch observers ────────────────────────────────────────────────────────────────────────────────────

/** What the switch's FlowObserver.outcome hands over (src/switch/flows.ts), structurally. */
export interface FlowOutcome {
  psp: string;
  mti: string;
  responseCode: string;
  acquirer: string | null;
  terminal: string | null;
  rule: string | null;
  /** Rules version that routed it (null when declined before routing). */
  rulesVersion?: number | null;
  risk: string | null;
  switchMs: number;
  acquirerMs: number | null;
  panMasked: string | null;
  txnId: string | null;
}

export interface TxLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

/**
 * The switch's FlowObserver and SafObserver, recording metrics and (with a logger) one masked JSON line per
 * transaction outcome: `startSwitch(cfg, { ...switchObservers(log), startAdmin })`.
 */
export function switchObservers(txLog?: TxLogger, writeLine?: (log: TxLogger, o: FlowOutcome) => void): {
  observer: {
    outcome(o: FlowOutcome): void;
    lateResponse(o: { acquirer: string; mti: string; responseCode: string | undefined }): void;
    ledger(o: { op: LedgerOp; ok: boolean; ms: number }): void;
  };
  safObserver: { sent(o: { acquirer: string; mti: string; ok: boolean }): void; deadLetter(o: { acquirer: string; reason: string }): void; depth(n: number): void };
  onBreakerChange: (acquirer: string, state: BreakerState) => void;
} {
  return {
    onBreakerChange: breakerStateListener,
    observer: {
      outcome(o) {
        recordRequest(o.psp, o.mti, o.responseCode);
        recordSwitchLatency(o.psp, o.mti, o.switchMs);
        if (o.rule !== null || o.terminal !== null) {
          routingDecisions.inc({ rule: nameLabel(o.rule ?? 'none'), terminal: o.terminal ? nameLabel(o.terminal) : 'declined', outcome: o.terminal ? 'route' : 'decline' });
        }
        if (o.risk === 'trusted' || o.risk === 'low' || o.risk === 'high' || o.risk === 'fatal') recordRiskLevel(o.risk);
        if (txLog && writeLine) writeLine(txLog, o);
      },
      lateResponse(o) {
        linkMessages.inc({ acquirer: nameLabel(o.acquirer), direction: 'late' });
      },
      // the switch's own ledger work (holds in its answer statement, commits and releases in its transactions)
      ledger(o) {
        ledgerOperations.inc({ op: o.op, result: o.ok ? 'ok' : 'error' });
        ledgerOperationLatency.observe({ op: o.op }, o.ms / 1000);
      },
    },
    safObserver: {
      sent(o) {
        recordSafEvent(o.ok ? 'acknowledged' : 'retried');
      },
      deadLetter() {
        recordSafEvent('dead_lettered');
        deadLetters.inc();
      },
      depth(n) {
        safDepth.set(n);
      },
    },
  };
}
