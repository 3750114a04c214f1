/**
 * Every metric of the switch, defined once on one registry (registry.ts), one file per area. Modules record
 * through small helpers (recordRequest, recordRoutingDecision, …) or adapters that subscribe to the events and
 * views that exist already, each returning an Unbind:
 *   bindLinkMetrics(link)            AcquirerLink events + in-flight / ready connections on scrape   (link.ts)
 *   bindPspServerMetrics(server)     PspServer events + connections / in-flight on scrape            (psp.ts)
 *   bindDetectorMetrics(det, ids)    failure score and alive flag per acquirer / terminal on scrape   (health.ts)
 *   bindBreakerMetrics(breakers)     breaker state per acquirer on scrape (+ breakerStateListener)   (health.ts)
 *   groupCommitObserver(name)        an `onBatch` for createGroupCommit: batch size and latency       (ledger.ts)
 *   recordLedgerOperation            LedgerOptions.onOperation and the switch's own ledger work      (ledger.ts)
 *   bindSafMetrics(source)           SAF depth and dead letters on scrape                            (saf.ts)
 *   recordCutoverResult              each cut-over totals verdict                                    (cutover.ts)
 *   bindControlMetrics(controls)     operators' manual controls in force on scrape                   (controls.ts)
 *   recordAcquirerChanges            what an activated acquirers.yaml changed                        (acquirer-changes.ts)
 */
export * from './registry.js';
export * from './codec.js';
export * from './psp.js';
export * from './link.js';
export * from './health.js';
export * from './routing.js';
export * from './saf.js';
export * from './ledger.js';
export * from './cutover.js';
export * from './acquirer-changes.js';
export * from './controls.js';
export { responseClass, type ResponseClass } from '../iso8583/response-codes.js';
