/**
 * The switch's observers, handed to startSwitch at construction (src/app/runtime.ts): metrics for each flow
 * outcome, SAF delivery, breaker change, ledger operation and store batch, and (with a logger) the one masked
 * JSON line per transaction outcome.
 */
import { txLogLine } from '../log.js';
import {
  bindLinkMetrics,
  breakerStateListener,
  groupCommitObserver,
  linkMessages,
  nameLabel,
  recordLedgerOperation,
  recordRequest,
  recordRiskLevel,
  recordSafEvent,
  recordRouteOutcome,
  recordSwitchLatency,
  responseClass,
} from '../metrics/index.js';
import type { BreakerState } from '../routing/breakers.js';
import type { AcquirerLink } from '../net/index.js';
import type { LedgerWriteOp } from '../ledger/types.js';
import type { BatchInfo } from '../store/group-commit.js';
import type { FlowOutcome } from '../switch/flows/index.js';

export type { FlowOutcome };

export interface TxLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

/**
 * The switch's FlowObserver and SafObserver, recording metrics and (with a logger) one masked JSON line per
 * transaction outcome: `startSwitch(cfg, { ...switchObservers(log), startAdmin })`.
 */
export function switchObservers(
  txLog?: TxLogger,
  writeLine?: (log: TxLogger, o: FlowOutcome) => void,
): {
  observer: {
    outcome(o: FlowOutcome): void;
    lateResponse(o: { acquirer: string; mti: string; responseCode: string | undefined }): void;
    ledger(o: { op: LedgerWriteOp; ok: boolean; ms: number }): void;
  };
  safObserver: { sent(o: { acquirer: string; mti: string; ok: boolean }): void; deadLetter(o: { acquirer: string; reason: string }): void };
  onBreakerChange: (acquirer: string, state: BreakerState) => void;
  onLedgerOperation: (o: { op: LedgerWriteOp; ok: boolean; ms: number }) => void;
  onStoreBatch: (info: BatchInfo & { stream: 'intent' | 'answer' }) => void;
  observeLink: (link: AcquirerLink) => () => void;
} {
  const intent = groupCommitObserver('switch-intent');
  const answer = groupCommitObserver('switch-answer');
  return {
    onBreakerChange: breakerStateListener,
    onLedgerOperation: recordLedgerOperation,
    // bound before the link starts, so its first connection and sign-on are counted
    observeLink: bindLinkMetrics,
    onStoreBatch: (i) => (i.stream === 'intent' ? intent(i) : answer(i)),
    observer: {
      outcome(o) {
        recordRequest(o.psp, o.mti, o.responseCode);
        recordSwitchLatency(o.psp, o.mti, o.switchMs);
        if (o.rule !== null || o.terminal !== null) {
          recordRouteOutcome(o.rule, o.terminal);
        }
        if (o.risk === 'trusted' || o.risk === 'low' || o.risk === 'high' || o.risk === 'fatal') recordRiskLevel(o.risk);
        if (txLog && writeLine) writeLine(txLog, o);
      },
      lateResponse(o) {
        linkMessages.inc({ acquirer: nameLabel(o.acquirer), direction: 'late' });
      },
      // the switch's own ledger work (holds in its answer statement, commits and releases in its transactions)
      ledger: recordLedgerOperation,
    },
    safObserver: {
      sent(o) {
        recordSafEvent(o.ok ? 'acknowledged' : 'retried');
      },
      // the dead-letter count itself is read from its table on scrape (bindSafMetrics): one writer
      deadLetter() {
        recordSafEvent('dead_lettered');
      },
    },
  };
}

/** The one JSON line per outcome, from a FlowObserver outcome. */
export function logFlowOutcome(log: TxLogger, o: FlowOutcome): void {
  const cls = responseClass(o.responseCode);
  txLogLine(log, {
    psp: o.psp,
    mti: o.mti,
    responseCode: o.responseCode,
    class: cls,
    ...(o.txnId ? { txId: o.txnId } : {}),
    ...(o.panMasked ? { pan: o.panMasked } : {}),
    ...(o.risk ? { risk: o.risk } : {}),
    route: o.acquirer && o.terminal ? { acquirer: o.acquirer, terminal: o.terminal, ruleId: o.rule, rulesVersion: o.rulesVersion ?? null } : null,
    timings: { totalMs: o.switchMs + (o.acquirerMs ?? 0), switchMs: o.switchMs, ...(o.acquirerMs !== null ? { acquirerMs: o.acquirerMs } : {}) },
  });
}
