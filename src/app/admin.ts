/**
 * Wiring the admin server and the scrape-time metrics adapters to a running switch (src/app/runtime.ts):
 *
 *   const log = createLogger({ name: 'switch' });
 *   const h = await startSwitch(cfg, {
 *     ...switchObservers(log, logFlowOutcome),          // src/app/observers.ts: passed in at construction
 *     startAdmin: (h) => startAdminForSwitch(h, { transactions, saf, traffic }),
 *   });
 *
 * The transaction, SAF and traffic queries come from the switch core (its tables); without them those
 * areas answer 501 SW_ERR_ADMIN_NOT_CONFIGURED.
 */
import type { Logger } from 'pino';
import type { SwitchHandle } from './runtime.js';
import {
  bindBreakerMetrics,
  bindControlMetrics,
  bindDetectorMetrics,
  bindGroupCommitStats,
  bindPspServerMetrics,
  bindRulesVersion,
  bindSafMetrics,
  type Unbind,
} from '../metrics/index.js';
import { startAdminServer, type AdminServer } from '../admin/app.js';
import { parseTokens } from '../admin/auth.js';
import { LinkStatusBoard } from '../admin/acquirer-status.js';
import type { AdminDeps, SafQueries, TrafficQueries, TransactionQueries } from '../admin/deps.js';

/** Bind every scrape-time metric source of a running switch; returns one unbind. What happens is observed at construction (src/app/observers.ts). */
export function bindSwitchMetrics(h: SwitchHandle): Unbind {
  // the links' own metrics are bound at construction (switchObservers().observeLink), before they connect
  const offs: Unbind[] = [];
  // every PSP listener, each under its own PSP name (docs/network.md, "PSP server")
  for (const l of h.pspListeners) offs.push(bindPspServerMetrics(l.server));
  offs.push(bindBreakerMetrics(h.breakers));
  offs.push(bindControlMetrics(h.controls));
  offs.push(bindGroupCommitStats('ledger', () => h.ledger.stats()));
  offs.push(bindGroupCommitStats('switch-intent', () => h.store.stats().intent));
  offs.push(bindGroupCommitStats('switch-answer', () => h.store.stats().answer));
  // the queue's own tables are the one source of its depth and dead letters, whichever instance sends
  offs.push(bindSafMetrics({ depth: () => h.store.saf.depth(), deadLetters: () => h.store.saf.deadLetterCount() }));
  offs.push(
    bindDetectorMetrics(h.detector, () => {
      let terminals: string[] = [];
      try {
        terminals = [...h.watcher.current().terminals.keys()];
      } catch {
        terminals = [];
      }
      return [...h.acquirers.all().map((a) => a.def.id), ...terminals];
    }),
  );
  offs.push(bindRulesVersion(() => h.watcher.version));
  return () => {
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
  const tokens = parseTokens(h.config.admin.tokens);
  const board = new LinkStatusBoard({
    links: () => h.acquirers.all().map((a) => a.link),
    detector: h.detector,
    breakers: h.breakers,
    controls: h.controls,
  });
  return {
    pool: h.pool,
    tokens,
    // maker-checker: on, off, or on when an approver exists to approve (docs/admin.md, "Maker-checker")
    makerChecker: h.config.admin.makerChecker === 'on' || (h.config.admin.makerChecker === 'auto' && tokens.some((x) => x.role === 'approver')),
    heavyRequestsPerMinute: h.config.admin.heavyRequestsPerMinute,
    rules: h.versions,
    acquirers: board,
    ledger: h.ledger,
    controls: h.controls,
    board,
    readiness: async () => ({ psp: h.pspListeners.every((l) => l.server.port > 0), acquirers: h.acquirers.all().some((a) => a.link.readyCount > 0) }),
    ...(extras.transactions ? { transactions: extras.transactions } : {}),
    ...(extras.saf ? { saf: extras.saf } : {}),
    ...(extras.traffic ? { traffic: extras.traffic } : {}),
    ...(extras.logger ? { logger: extras.logger } : {}),
  };
}

/** For StartOptions.startAdmin: the admin server as cfg.admin says (address, TLS, access), with the switch's metrics bound. */
export async function startAdminForSwitch(
  h: SwitchHandle,
  extras: SwitchAdminExtras = {},
): Promise<{ port: number; url: string; server: AdminServer; close(): Promise<void> }> {
  const deps = adminDepsForSwitch(h, extras);
  const unbind = bindSwitchMetrics(h);
  // host, port, and the security settings: admin.tls, admin.metricsAccess, admin.docsAccess (docs/admin.md)
  const server = await startAdminServer(deps, h.config.admin);
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
