/**
 * `npm start`: the switch on its embedded defaults (embedded PostgreSQL without DATABASE_URL, in-memory
 * detector without REDIS_URL, built-in acquirer simulators for acquirers configured with port 0).
 * The process entry is bin/switch.ts: it calls `runMain` with the built-in simulators, which live in simulators/
 * (nothing in src/ imports them; docs/architecture.md).
 * Config: SWITCH_CONFIG=file.json or --config file.json, then environment variables (docs/switch.md).
 * A start-up failure ends with one line on stderr naming the cause and the fix, and exit code 1
 * (src/switch/start-failure.ts).
 */
import path from 'node:path';
import { loadConfig, type SwitchConfig } from './switch/config.js';
import { createLogger } from './log.js';
import { logFlowOutcome, switchObservers } from './app/observers.js';
import { startAdminForSwitch } from './app/admin.js';
import { SwitchSafQueries, SwitchTrafficQueries, SwitchTransactionQueries } from './switch/store/index.js';
import { startSwitch, type SwitchHandle, type StartOptions } from './app/runtime.js';
import type { StartBuiltInSimulator } from './switch/acquirers.js';
import { startFailureLine } from './switch/start-failure.js';
import { SwitchError } from './errors.js';
import { redactUrl } from './store/postgres.js';
import { parseCli } from './cli/args.js';
import { newRunToken, runTokenFile, shownToken, writeRunTokenFile } from './admin/run-token.js';
import { loadAdminTls } from './admin/tls.js';

export const START_USAGE = `usage: npm start [-- --config file.json]

Starts the switch: PSP listener, admin API and metrics, acquirer links (built-in simulators for acquirers
with port 0 in rules/acquirers.yaml). With no configuration it needs nothing: an embedded PostgreSQL
(data/, see README.md), failure detector and velocity counts in memory, a generated PAN hash key.

options:
  --config FILE   JSON config file (also SWITCH_CONFIG); unknown keys are refused
  -h, --help      this text

environment: DATABASE_URL, REDIS_URL, PSP_HOST, PSP_PORT, ADMIN_HOST, ADMIN_PORT, ADMIN_TOKENS, RULES_DIR,
  PAN_HASH_KEY, LOG_LEVEL, SWITCH_DATA_DIR, ACQUIRER_TIMEOUT_MS (docs/switch.md)
admin: with no admin.tokens / ADMIN_TOKENS, a one-run operator token is written to data/admin.token (mode 0600)
  and printed in full only to a terminal; admin.tls, admin.metricsAccess, admin.docsAccess (docs/admin.md)
exit codes: 0 stopped cleanly (Ctrl-C, SIGTERM), 1 failed to start or to stop, 2 usage
`;

let startingCfg: Pick<SwitchConfig, 'rulesDir'> | undefined;

/** What the entry point hands in: how to start the stand-in host of an acquirer with port 0. */
export interface MainExtras {
  startSimulator?: StartBuiltInSimulator;
}

export async function main(argv = process.argv.slice(2), extras: MainExtras = {}): Promise<SwitchHandle> {
  const { values } = parseCli({ name: 'start', usage: START_USAGE, options: { config: { type: 'string' } } }, argv);
  const cfg = loadConfig(values.config ? { file: values.config } : {});
  startingCfg = cfg;
  // admin TLS files that cannot be used stop the start before anything starts (the admin server reads them again)
  if (cfg.admin.enabled && cfg.admin.tls) await loadAdminTls(cfg.admin.tls);
  // No admin tokens configured (the quick start): one operator token for this run, written to data/admin.token
  // (mode 0600) once the switch is up, and printed in full below only to a terminal (src/admin/run-token.ts).
  let runToken: { token: string; file: string } | null = null;
  if (cfg.admin.enabled && cfg.admin.tokens.length === 0) {
    const { token, entry } = newRunToken();
    runToken = { token, file: runTokenFile(cfg.database.dataDir) };
    cfg.admin.tokens = [{ ...entry, expires: '' }];
  }
  const log = createLogger({ name: 'switch', level: cfg.logLevel });
  // Test-only crash points (docs/faults.md): SWITCH_TEST_CRASH_AT names a point of the authorization flow where
  // the process kills itself with SIGKILL, as a crash would. Unset (always, outside tests): no hook at all.
  const crashAt = process.env.SWITCH_TEST_CRASH_AT;
  const opts: StartOptions = {
    ...(crashAt ? { faultHook: (point: string) => void (point === crashAt && process.kill(process.pid, 'SIGKILL')) } : {}),
    log,
    ...(extras.startSimulator ? { startSimulator: extras.startSimulator } : {}),
    ...switchObservers(log, logFlowOutcome),
    startAdmin: (h) =>
      startAdminForSwitch(h, {
        transactions: new SwitchTransactionQueries(h.pool),
        saf: new SwitchSafQueries(h.pool, h.saf),
        traffic: new SwitchTrafficQueries(h.pool),
        logger: log.child({ module: 'admin' }),
      }).catch((e: unknown) => {
        // the listen error of the admin server, named like the PSP server's (src/switch/start-failure.ts)
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
          throw new SwitchError('SW_ERR_NET_LISTEN_FAILED', { server: 'admin', host: cfg.admin.host, port: cfg.admin.port, reason: code }, { cause: e });
        }
        throw e;
      }),
  };
  const h = await startSwitch(cfg, opts);
  if (runToken) {
    // only a switch that came up leaves a token file; one that cannot be written stops it again (a start failure)
    try {
      await writeRunTokenFile(runToken.file, runToken.token);
    } catch (e) {
      await h.stop().catch(() => undefined);
      throw e;
    }
  }
  const lines = [
    `ISO 8583 switch is up.`,
    `  PSPs connect to      ${cfg.psp.host}:${h.pspPort}  (${cfg.psp.dialect}, ${cfg.psp.framer} length header, PSP "${cfg.psp.name}")`,
    ...h.pspListeners
      .slice(1)
      .map(
        (l) =>
          `  PSP listener ${l.id.padEnd(7)} ${l.config.host}:${l.server.port}  (${l.config.dialect}, ${l.config.framer} length header, ${l.config.name ? `PSP "${l.config.name}"` : 'PSP named by its client certificate'}${l.config.tls ? ', TLS' : ''})`,
      ),
    h.adminPort !== null
      ? `  admin and metrics    ${cfg.admin.tls ? 'https' : 'http'}://${cfg.admin.host}:${h.adminPort}/  (console /console/, API docs /docs, health /health/ready, metrics /metrics)`
      : '  admin                disabled',
    ...(runToken
      ? [
          `  admin token          ${shownToken(runToken.token, process.stdout.isTTY === true)}  (operator, this run only, ${process.stdout.isTTY ? 'also ' : 'in full '}in ${runToken.file}, mode 0600: set admin.tokens or ADMIN_TOKENS to keep your own)`,
        ]
      : []),
    h.database.source === 'embedded'
      ? `  database             embedded PostgreSQL ${redactUrl(h.databaseUrl).replace(/^postgres:\/\/[^@]*@/, '')}, files in ${h.database.pgData}${h.database.pgData && path.resolve(cfg.database.dataDir) !== h.database.pgData ? ` (${cfg.database.dataDir} links there)` : ''}; npm run reset removes it`
      : `  database             ${redactUrl(h.databaseUrl)}`,
    ...h.acquirers
      .all()
      .map(
        (a) =>
          `  acquirer ${a.def.id.padEnd(11)} ${a.simulator ? `built-in simulator 127.0.0.1:${a.simulator.port} (control ${a.simulator.controlUrl})` : `${a.def.link.host}:${a.def.link.port}`}, ${a.def.link.dialect}`,
      ),
    `  try: npm run send -- --pan 4761739001010119 --amount 12.34`,
    `Ctrl-C stops it.`,
  ];
  process.stdout.write(lines.join('\n') + '\n');
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    h.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGHUP', () => stop('SIGHUP'));
  return h;
}

/** Runs `main` as the process: a start-up failure is one line on stderr and exit code 1. */
export function runMain(extras: MainExtras = {}): void {
  const failed = (e: unknown) => {
    process.stderr.write(`${startFailureLine(e, startingCfg ? { rulesDir: startingCfg.rulesDir } : {})}\n`);
    process.exit(1);
  };
  // until the switch is up, anything thrown or rejected out of band is a start-up failure too: one line, exit 1
  process.on('uncaughtException', failed);
  process.on('unhandledRejection', failed);
  main(process.argv.slice(2), extras).then(() => {
    process.off('uncaughtException', failed);
    process.off('unhandledRejection', failed);
  }, failed);
}
