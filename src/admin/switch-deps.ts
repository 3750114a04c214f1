/**
 * Wiring the admin server and the metrics adapters to a running switch (src/switch/runtime.ts):
 *
 *   const log = createLogger({ name: 'switch' });
 *   const h = await startSwitch(cfg, {
 *     ...switchObservers(log, logFlowOutcome),
 *     startAdmin: (h) => startAdminForSwitch(h, { transactions, saf, traffic }),
 *   });
 *
 * The transaction, SAF and traffic queries come from the switch core (its tables); without them those
 * areas answer 501 SW_ERR_ADMIN_NOT_CONFIGURED.
 */
import type { Logger } from 'pino';
import type { SwitchHandle } from '../switch/runtime.js';
import { bindBreakerMetrics, bindDetectorMetrics, bindGroupCommitStats, bindLinkMetrics, bindPspServerMetrics, instrumentLedgerInPlace, responseClass, rulesVersion, type FlowOutcome, type TxLogger, type Unbind } from '../metrics.js';
import { txLogLine } from '../log.js';
import { startAdminServer, type AdminServer } from './app.js';
import { parseTokens } from './auth.js';
import { LinkStatusBoard } from './acquirer-status.js';
import type { AdminDeps, SafQueries, TrafficQueries, TransactionQueries } from './deps.js';

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

/** Bind every scrape-time metric source of a running switch (and time its ledger operations); returns one unbind. */
export function bindSwitchMetrics(h: SwitchHandle): Unbind {
  const links = h.acquirers.all().map((a) => a.link);
  const offs: Unbind[] = links.map((l) => bindLinkMetrics(l));
  offs.push(bindPspServerMetrics(h.psp));
  offs.push(bindBreakerMetrics(h.breakers));
  offs.push(bindGroupCommitStats('ledger', () => h.ledger.stats()));
  offs.push(bindGroupCommitStats('switch-intent', () => h.store.stats().intent));
  offs.push(bindGroupCommitStats('switch-answer', () => h.store.stats().answer));
  instrumentLedgerInPlace(h.ledger);
  offs.push(
    bindDetectorMetrics(h.detector, () => {
      let terminals: string[] = [];
      try {
        terminals = [...h.watcher.current().terminals.keys()];
      } catch {
        terminals = [];
      }
      return [...links.map((l) => l.name), ...terminals];
    }),
  );
  const timer = setInterval(() => {
    if (h.watcher.version !== null) rulesVersion.set(h.watcher.version);
  }, 1000);
  timer.unref();
  if (h.watcher.version !== null) rulesVersion.set(h.watcher.version);
  return () => {
    clearInterval(timer);
    for (const off of offs) off();
  };
}

export interface SwitchAdminExtras {
  transactions?: TransactionQueries;
  saf?: SafQueries;
  traffic?: TrafficQueries;
  logger?: Logger;
}

/** AdminDeps from a switch handle (tokens from cfg.admin.tokens). */
export function adminDepsForSwitch(h: SwitchHandle, extras: SwitchAdminExtras = {}): AdminDeps & { board: LinkStatusBoard } {
  const board = new LinkStatusBoard({ links: h.acquirers.all().map((a) => a.link), detector: h.detector, breakers: h.breakers });
  return {
    pool: h.pool,
    tokens: parseTokens(h.config.admin.tokens),
    rules: h.versions,
    acquirers: board,
    ledger: h.ledger,
    board,
    readiness: async () => ({ psp: h.psp.port > 0, acquirers: h.acquirers.all().some((a) => a.link.readyCount > 0) }),
    ...(extras.transactions ? { transactions: extras.transactions } : {}),
    ...(extras.saf ? { saf: extras.saf } : {}),
    ...(extras.traffic ? { traffic: extras.traffic } : {}),
    ...(extras.logger ? { logger: extras.logger } : {}),
  };
}

/** For StartOptions.startAdmin: the admin server on cfg.admin host/port, with the switch's metrics bound. */
export async function startAdminForSwitch(h: SwitchHandle, extras: SwitchAdminExtras = {}): Promise<{ port: number; url: string; server: AdminServer; close(): Promise<void> }> {
  const deps = adminDepsForSwitch(h, extras);
  const unbind = bindSwitchMetrics(h);
  const server = await startAdminServer(deps, { host: h.config.admin.host, port: h.config.admin.port });
  return {
    port: server.port,
    url: server.url,
    server,
    close: async () => {
      unbind();
      deps.board.close();
      await server.close();
    },
  };
}
