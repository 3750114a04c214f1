/**
 * Composition root: database (DATABASE_URL or embedded), migrations, rule versions, detector (Redis or
 * memory), acquirer links (and built-in simulators), ledger, the switch's store, flows, store-and-forward,
 * sweeper, the PSP server and the admin server. `startSwitch()` returns a handle that stops it all cleanly.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import pino, { type Logger } from 'pino';
import type pg from 'pg';
import { loadDialect } from '../iso8583/index.js';
import type { AcquirerLink } from '../net/index.js';
import { PspQuotas, startPspServer, type PspHandler, type PspServer } from '../net/psp-server.js';
import type { PspListenerStatus, PspShareStatus } from '../read-model.js';
import { framerByName } from '../wire/index.js';
import { checkDatabase, createPool, resolveDatabaseUrl, redactUrl } from '../store/postgres.js';
import { connectRedis, closeRedis, type Redis } from '../store/redis.js';
import { checkFeeTerminals, createLedger, feeSchedule, loadFeeSchedule, type FeeSchedule, type Ledger, type LedgerWriteOp } from '../ledger/index.js';
import { RoutingEngine } from '../routing/engine.js';
import { RiskScorer } from '../risk/scorer.js';
import { MemoryVelocityStore, RedisVelocityStore } from '../risk/velocity.js';
import { MemoryTurnoverStore, RedisTurnoverStore, type TurnoverStore } from '../risk/turnover.js';
import { MemoryFailureDetector, type FailureDetector } from '../routing/detector.js';
import { RedisFailureDetector } from '../routing/detector-redis.js';
import { LinkBreakers, type BreakerState } from '../routing/breakers.js';
import { SuccessRateTracker } from '../routing/success-rate.js';
import { RedisSuccessRateTracker } from '../routing/success-rate-redis.js';
import { RuleVersionStore, RulesWatcher, migrateRouting } from '../routing/versions.js';
import { loadRuleSet } from '../routing/rules-loader.js';
import type { CompiledRules } from '../routing/compiler.js';
import { ManualControls } from '../routing/manual-controls.js';
import type { RuleSet } from '../routing/types.js';
import { pspListeners, type PspListenerConfig, type SwitchConfig } from '../switch/config.js';
import type { BatchInfo } from '../store/group-commit.js';
import { AcquirerSet, isLocalRefusal, type StartBuiltInSimulator } from '../switch/acquirers.js';
import type { KeyStore } from '../security/key-store.js';
import { masterKeyFromEnv } from '../security/master-key.js';
import { SoftHsm } from '../security/soft-hsm.js';
import { Flows, type FlowObserver, type FaultPoint } from '../switch/flows/index.js';
import { errorSummary } from '../errors.js';
import { SwitchStore } from '../switch/store/index.js';
import { SafWorker, type SafObserver } from '../switch/saf.js';
import { Sweeper } from '../switch/sweeper.js';
import { CutoverTotals } from '../switch/cutover-totals.js';
import { cutoversOf } from '../ledger/recon.js';
import { recordAcquirerChanges, recordCutoverResult } from '../metrics/index.js';
import { resolvePanHashKeys, warnMissingPanKeys } from '../switch/pan-key.js';
import type { PanKeyRing } from '../ledger/pan.js';

export interface SwitchHandle {
  config: SwitchConfig;
  /** The PAN hash keys (ids only when logged): the current one hashes, every one compares (src/switch/pan-key.ts). */
  panKeys: PanKeyRing;
  pool: pg.Pool;
  databaseUrl: string;
  /** Where the database is: DATABASE_URL, or the embedded cluster and its files (printed by npm start). */
  database: { source: 'env' | 'embedded'; pgData: string | null };
  /** The first PSP listener (the psp group), the quick start's: `psp` and `pspPort` keep naming it. */
  psp: PspServer;
  pspPort: number;
  /** Every PSP listener, the psp group first (docs/network.md, "PSP server"). */
  pspListeners: PspListener[];
  /** Bound port of each PSP listener, by id ("psp" for the psp group). */
  pspPorts: Record<string, number>;
  /** Each PSP's share and use across the listeners (psp.perPsp; docs/security.md, "PSP identity"). */
  pspQuotas: PspQuotas;
  /** The listeners and the PSPs' shares, as admin and health show them. */
  pspStatus(): { listeners: PspListenerStatus[]; psps: PspShareStatus[] };
  adminPort: number | null;
  ledger: Ledger;
  store: SwitchStore;
  flows: Flows;
  saf: SafWorker;
  sweeper: Sweeper;
  /** Cut-over totals (0500/0510) per acquirer after each business day (docs/switch.md, "Cut-over totals"). */
  cutoverTotals: CutoverTotals;
  acquirers: AcquirerSet;
  engine: RoutingEngine;
  detector: FailureDetector;
  breakers: LinkBreakers;
  successRate: SuccessRateTracker;
  watcher: RulesWatcher;
  /** Turnover limits' counters (docs/routing.md, "Turnover limits"). */
  turnover: TurnoverStore;
  /** Operators' drains and forced states of terminals and acquirers (docs/routing.md, "Manual controls"). */
  controls: ManualControls;
  versions: RuleVersionStore;
  redis: Redis | null;
  log: Logger;
  stop(): Promise<void>;
}

export interface StartOptions {
  log?: Logger;
  /** Metrics and admin wiring, attached by main (src/admin, src/metrics). */
  observer?: FlowObserver;
  safObserver?: SafObserver;
  /** Each circuit breaker state change (closed, open, half_open) of an acquirer link, for metrics. */
  onBreakerChange?: (acquirer: string, state: BreakerState) => void;
  /** Each call of the ledger's write API (hold, commit, …) as it settles, for metrics (LedgerOptions.onOperation). */
  onLedgerOperation?: (o: { op: LedgerWriteOp; ok: boolean; ms: number }) => void;
  /** Observer of the switch's write-stream batches (size, latency) for metrics. */
  onStoreBatch?: (info: BatchInfo & { stream: 'intent' | 'answer' }) => void;
  /** Test-only crash points of the flows (docs/faults.md); off unless a test sets it. */
  faultHook?: (point: FaultPoint, txnId: string) => void | Promise<void>;
  /** Subscribes to each acquirer link before it connects, for metrics; returns its unsubscribe. */
  observeLink?: (link: AcquirerLink) => () => void;
  /** Starts the stand-in host of each acquirer configured with port 0 (npm start passes the built-in simulators). */
  startSimulator?: StartBuiltInSimulator;
  /**
   * The card-security key store (docs/security.md, "Key store"): needed by acquirers with `mac` or `key_exchange` and
   * for PIN translation; absent, the soft HSM of `security.keyFile` when set (opened and closed by the switch).
   */
  keys?: KeyStore;
  /** Starts the admin server once the switch is up; returns its port. */
  startAdmin?: (h: SwitchHandle) => Promise<{ port: number; close(): Promise<void> }>;
}

export async function startSwitch(cfg: SwitchConfig, o: StartOptions = {}): Promise<SwitchHandle> {
  const log = o.log ?? pino({ level: cfg.logLevel, name: 'switch' });
  const cleanup: Array<() => Promise<unknown>> = [];
  const undo = async () => {
    for (const f of cleanup.reverse()) await f().catch(() => undefined);
  };
  try {
    // configured, or generated for the embedded database; refused before anything starts (src/switch/pan-key.ts)
    const panKeys = await resolvePanHashKeys(cfg, log);
    // the soft HSM of security.keyFile under SW_MASTER_KEY: a wrong master key or a damaged file stops the start here
    // with its own error (docs/security.md, "Key store"); a store the caller passes (o.keys) is the caller's to close
    let keys = o.keys;
    if (!keys && cfg.security.keyFile) {
      const hsm = await SoftHsm.open(path.resolve(cfg.security.keyFile), { masterKey: masterKeyFromEnv(), log: log.child({ module: 'security' }) });
      cleanup.push(() => hsm.close());
      log.info({ keyFile: cfg.security.keyFile, keys: (await hsm.keyNames()).length }, 'key store opened');
      keys = hsm;
    }
    const db = await resolveDatabaseUrl({ env: cfg.database.url ? { DATABASE_URL: cfg.database.url } : {}, dataDir: path.resolve(cfg.database.dataDir) });
    cleanup.push(() => db.stop());
    log.info({ database: redactUrl(db.url), source: db.source, ...(db.pgData ? { pgData: db.pgData } : {}) }, 'database');
    if (db.source === 'env') await checkDatabase(db.url); // unreachable or login refused: named, not a pg error from the first migration
    const pool = createPool(db.url, { max: cfg.database.poolSize });
    cleanup.push(() => pool.end());

    await migrateRouting(pool);
    const versions = new RuleVersionStore(pool);
    if (!(await versions.active())) {
      const set = loadRuleSet(path.resolve(cfg.rulesDir));
      const v = await versions.create(set, { author: 'bootstrap', comment: `imported from ${cfg.rulesDir}` });
      await versions.activate(v.version, { actor: 'bootstrap', comment: 'first start' });
      log.info({ version: v.version }, 'rules imported from files and activated');
    }
    // The acquirers follow each activated acquirers.yaml (docs/switch.md, "Acquirers on activation"): new and changed
    // links are built and signed on before the rules that route to them are swapped in; removed ones retire after.
    let acquirerSet: AcquirerSet | undefined;
    const acquirerDefs = (r: CompiledRules) => r.ruleSet.files.acquirers.acquirers;
    const watcher = await RulesWatcher.start({
      pool,
      logger: log.child({ module: 'rules' }),
      prepare: async (next) => {
        await acquirerSet?.apply(acquirerDefs(next), { remove: false });
      },
      onChange: (next) => void acquirerSet?.apply(acquirerDefs(next), { build: false }),
    });
    cleanup.push(() => watcher.close());

    let redis: Redis | null = null;
    let detector: FailureDetector;
    if (cfg.redis.url) {
      redis = await connectRedis({ url: cfg.redis.url });
      cleanup.push(() => closeRedis(redis!));
      detector = new RedisFailureDetector({ redis, prefix: cfg.redis.prefix, logger: log.child({ module: 'detector' }) });
    } else {
      detector = new MemoryFailureDetector();
    }
    cleanup.push(() => detector.close());
    // a request this switch refused to send (its own caps, a message it could not pack) is no failure of the acquirer
    const breakers = new LinkBreakers({ errorFilter: isLocalRefusal, ...(o.onBreakerChange ? { onStateChange: o.onBreakerChange } : {}) });
    cleanup.push(async () => breakers.shutdown());
    // shared by every instance through Redis when configured (docs/routing.md, "Failure detector, breakers, success rate")
    const successRate = redis
      ? new RedisSuccessRateTracker({ redis, prefix: cfg.redis.prefix, log: log.child({ module: 'success-rate' }) })
      : new SuccessRateTracker();
    cleanup.push(() => successRate.close());
    // with Redis away, velocity is counted in memory: said once a minute at most, not per authorization
    let fellBackAt = 0;
    const onFallback = (e: unknown) => {
      if (Date.now() - fellBackAt < 60_000) return;
      fellBackAt = Date.now();
      log.warn({ module: 'risk', err: errorSummary(e) }, 'velocity store unreachable: counting in this instance until it is back');
    };
    const scorer = new RiskScorer({
      velocity: redis ? new RedisVelocityStore(redis, cfg.redis.prefix, { onFallback }) : new MemoryVelocityStore(),
      logger: log.child({ module: 'risk' }),
    });
    // operators' drains and forced states, read by every instance every 250 ms (docs/routing.md, "Manual controls")
    const controls = await ManualControls.start({
      pool,
      known: (kind, id) => {
        const r = watcher.current();
        return kind === 'terminal' ? r.terminals.has(id) : r.ruleSet.files.acquirers.acquirers.some((a) => a.id === id);
      },
      log: log.child({ module: 'controls' }),
    });
    cleanup.push(() => controls.close());
    const engine = new RoutingEngine({ rules: () => watcher.current(), scorer, health: detector, breakers, successRate, controls });

    // Fees are a rule file (docs/ledger.md, "Fees"): the active version's, swapped when another is activated. A
    // version stored before fees.yaml was one has none: then rules/fees.yaml, checked against its terminals.
    const feesFile = path.resolve(cfg.rulesDir, 'fees.yaml');
    const feesOf = (rs: RuleSet): FeeSchedule => {
      const terminals = rs.files.terminals.terminals;
      if (rs.files.fees) return feeSchedule(rs.files.fees, 'fees.yaml', terminals);
      const f = loadFeeSchedule(feesFile, terminals);
      checkFeeTerminals(f, terminals);
      return f;
    };
    let feesNow = feesOf(watcher.current().ruleSet);
    let feesVersion = watcher.version;
    // the watcher swaps the compiled rules; the fees follow at the next fee asked (a plain version compare)
    const current = (): FeeSchedule => {
      const v = watcher.version;
      if (v !== feesVersion) {
        feesVersion = v;
        try {
          feesNow = feesOf(watcher.current().ruleSet);
        } catch (e) {
          log.error({ module: 'fees', err: errorSummary(e), version: v }, 'fees of the activated version unusable: the previous ones stay');
        }
      }
      return feesNow;
    };
    const fees: FeeSchedule = {
      get doc() {
        return current().doc;
      },
      fee: (a, t, amount) => current().fee(a, t, amount),
      refundFee: (a, t, amount) => current().refundFee(a, t, amount),
    };
    const ledger = await createLedger({
      pool,
      fees,
      maxWaitMs: cfg.groupCommitMs,
      ...(o.onLedgerOperation ? { onOperation: o.onLedgerOperation } : {}),
    });
    cleanup.push(() => ledger.close());
    // The authorization's two durable writes each have a connection of their own (docs/switch.md, "The durable record").
    // Their statements are prepared and every lookup is a key probe: a generic plan is always right, and
    // re-planning the multi-CTE statements for each batch would be most of their cost.
    const session = { plan_cache_mode: 'force_generic_plan' };
    // Never closed when idle: the first authorization after a quiet minute must not pay a new connection.
    const intentPool = createPool(db.url, { max: 1, applicationName: 'iso8583-switch intents', session, idleTimeoutMs: 0 });
    const answerPool = createPool(db.url, { max: 1, applicationName: 'iso8583-switch answers', session, idleTimeoutMs: 0 });
    cleanup.push(() => intentPool.end());
    cleanup.push(() => answerPool.end());
    const store = await SwitchStore.open({
      pool,
      intentPool,
      answerPool,
      ledger,
      maxWaitMs: cfg.groupCommitMs,
      duplicateWindowMs: cfg.duplicateWindowMs,
      ...(o.onStoreBatch ? { onBatch: o.onStoreBatch } : {}),
    });
    cleanup.push(() => store.close());
    // rows hashed with a key no longer in the set: counted in the background and warned about (docs/security.md)
    const keyCheck = warnMissingPanKeys(pool, panKeys, log.child({ module: 'pan-keys' }));
    cleanup.push(() => keyCheck);
    // Day partitions ahead of time, for both modules (idempotent; a new day's partitions exist days before it starts).
    const partitions = setInterval(() => {
      void Promise.all([store.ensurePartitions(), ledger.ensurePartitions()]).catch((e: unknown) =>
        log.error({ err: errorSummary(e) }, 'could not create day partitions'),
      );
    }, 3_600_000);
    partitions.unref();
    cleanup.push(async () => clearInterval(partitions));

    let flows: Flows | undefined;
    const acquirers = await AcquirerSet.start({
      acquirers: watcher.current().ruleSet.files.acquirers.acquirers,
      detector,
      breakers,
      successRate,
      builtInSimulators: cfg.builtInSimulators,
      ...(o.startSimulator ? { startSimulator: o.startSimulator } : {}),
      ...(o.observeLink ? { observeLink: o.observeLink } : {}),
      timeoutOverrideMs: cfg.acquirerTimeoutMs,
      onUnmatched: (m, info) => flows?.onUnmatched(m, info),
      ...(keys ? { keys } : {}),
      onApplied: recordAcquirerChanges,
      log: log.child({ module: 'link' }),
    });
    acquirerSet = acquirers;
    // a version activated while the links were starting: caught up now (nothing to do when none was)
    void acquirers.apply(acquirerDefs(watcher.current()));
    // Shutdown, in this order (docs/switch.md, "Stopping"): the PSP server drains (answers go out for up to
    // psp.drainTimeoutMs), then the links close, failing what is still at an acquirer as lost, then every flow
    // still running writes its outcome (a reversal queued for those) before the database goes.
    cleanup.push(async () => flows?.drained());
    cleanup.push(() => acquirers.close());
    await acquirers.waitReady(5000);

    // turnover limits counted across instances in Redis, else by this instance (docs/routing.md, "Turnover limits")
    const turnover: TurnoverStore = redis ? new RedisTurnoverStore(redis, cfg.redis.prefix) : new MemoryTurnoverStore();
    let saf: SafWorker | undefined;
    flows = new Flows({
      config: cfg,
      panKeys,
      store,
      ledger,
      engine,
      acquirers,
      ...(keys ? { keys } : {}),
      log: log.child({ module: 'flows' }),
      merchants: () => watcher.current().merchants,
      terminals: (id) => watcher.current().terminals.get(id)?.def,
      turnover,
      kickSaf: () => saf?.kick(),
      ...(o.observer ? { observer: o.observer } : {}),
      ...(o.faultHook ? { faultHook: o.faultHook } : {}),
    });
    saf = new SafWorker(store.saf, acquirers, cfg.saf, log.child({ module: 'saf' }), o.safObserver).start();
    saf.held = (acquirer) => controls.get('acquirer', acquirer)?.state === 'down';
    cleanup.push(() => saf!.stop());
    // read at each sweep: an activation may have raised a timeout
    const maxTimeout = () => Math.max(...acquirers.all().map((a) => a.timeoutMs), 1000);
    const sweeper = new Sweeper(
      store,
      ledger,
      acquirers,
      {
        holdAgeMs: cfg.expiry.holdAgeMs,
        intervalMs: cfg.expiry.sweepIntervalMs,
        staleSentMs: () => maxTimeout() + 5000,
        safExpireMs: cfg.saf.expireAfterMs,
        unavailableCode: cfg.responseCodes.unavailable,
        kickSaf: () => saf?.kick(),
      },
      log.child({ module: 'sweeper' }),
    );
    sweeper.terminalIds = (t) => {
      const ct = watcher.current().terminals.get(t);
      return { terminalId: ct?.terminalId ?? '', merchantId: ct?.merchantId ?? '' };
    };
    await sweeper.run();
    sweeper.start();
    cleanup.push(async () => sweeper.stop());
    const cutoverTotals = new CutoverTotals(
      pool,
      acquirers,
      { ...cfg.cutoverTotals, cutovers: () => cutoversOf(acquirers.all().map((a) => a.def)), onResult: recordCutoverResult },
      log.child({ module: 'cutover-totals' }),
    ).start();
    cleanup.push(async () => cutoverTotals.stop());

    // Every PSP listener drains at shutdown (in parallel), also the ones started before one that failed to.
    const listeners: PspListener[] = [];
    cleanup.push(() => Promise.all(listeners.map((l) => l.server.close())));
    const pspQuotas = await startPspListeners(cfg, listeners, (m, ctx) => flows!.handle(m, ctx), log);
    const psp = listeners[0]!.server;
    const pspPort = psp.port;

    const handle: SwitchHandle = {
      config: cfg,
      panKeys,
      pool,
      databaseUrl: db.url,
      database: { source: db.source, pgData: db.pgData ?? null },
      psp,
      pspPort,
      pspListeners: listeners,
      pspPorts: Object.fromEntries(listeners.map((l) => [l.id, l.server.port])),
      pspQuotas,
      pspStatus: () => ({ listeners: listeners.map(listenerStatus), psps: pspQuotas.snapshot() }),
      adminPort: null,
      ledger,
      store,
      flows,
      saf,
      sweeper,
      cutoverTotals,
      acquirers,
      engine,
      detector,
      breakers,
      successRate,
      watcher,
      controls,
      turnover,
      versions,
      redis,
      log,
      stop: async () => {
        flows!.stop();
        await undo();
      },
    };
    if (o.startAdmin && cfg.admin.enabled) {
      const admin = await o.startAdmin(handle);
      handle.adminPort = admin.port;
      // The admin server closes first (before the PSP server): it goes at the end of the undo list.
      cleanup.push(() => admin.close());
    }
    return handle;
  } catch (e) {
    log.error({ err: errorSummary(e) }, 'switch failed to start');
    await undo();
    throw e;
  }
}

/** One PSP listener of a running switch: its config (with its id) and its server. */
export interface PspListener {
  id: string;
  config: PspListenerConfig;
  server: PspServer;
}

/**
 * Starts every PSP listener (docs/network.md, "PSP server"): the psp group, then psp.listeners, each with its own
 * dialect, framer, TLS, identities and limits, all sharing one PspQuotas (psp.perPsp), so that a PSP's share counts
 * across the listeners it connects to. Each started server is pushed to `into` at once (the caller closes them).
 */
async function startPspListeners(cfg: SwitchConfig, into: PspListener[], handler: PspHandler, log: Logger): Promise<PspQuotas> {
  const quotas = new PspQuotas({
    default: { maxConnections: cfg.psp.perPsp.maxConnections, maxInFlight: cfg.psp.perPsp.maxInFlight },
    perPsp: cfg.psp.perPsp.overrides,
  });
  for (const l of pspListeners(cfg.psp)) {
    const t = l.tls;
    const tls = t
      ? {
          cert: readFileSync(t.certFile),
          key: readFileSync(t.keyFile),
          ...(t.caFile ? { ca: readFileSync(t.caFile) } : {}),
          requestClientCert: t.requestClientCert || t.requireClientCert,
          requireClientCert: t.requireClientCert,
          minVersion: t.minVersion,
        }
      : undefined;
    const server = await startPspServer({
      codec: loadDialect(l.dialect),
      framer: framerByName(l.framer),
      host: l.host,
      port: l.port,
      // 'psp' for the first: a start failure names psp.port / PSP_PORT (src/switch/start-failure.ts)
      name: l.id,
      // a listener of certificate identities only has no name of its own: its id labels its metrics
      psp: l.name || l.id,
      identities: l.identities,
      quotas,
      maxConnections: l.maxConnections,
      maxInFlightPerConnection: l.maxInFlightPerConnection,
      maxInFlight: l.maxInFlight,
      idleTimeoutMs: l.idleTimeoutMs,
      shutdownTimeoutMs: cfg.psp.drainTimeoutMs,
      // the answers the PSP server forms itself carry the switch's configured codes
      answers: { formatError: cfg.responseCodes.formatError, systemError: cfg.responseCodes.systemError, unavailable: cfg.responseCodes.unavailable },
      handler,
      logger: log.child({ module: 'psp', listener: l.id }),
      ...(tls ? { tls } : {}),
    });
    into.push({ id: l.id, config: l, server });
  }
  return quotas;
}

function listenerStatus(l: PspListener): PspListenerStatus {
  const st = l.server.stats;
  const t = l.config.tls;
  return {
    id: l.id,
    host: l.config.host,
    port: l.server.port,
    dialect: l.config.dialect,
    framer: l.config.framer,
    tls: !!t,
    clientCerts: !t ? 'off' : t.requireClientCert ? 'required' : t.requestClientCert ? 'requested' : 'off',
    connections: l.server.connectionCount,
    inFlight: st.inFlight,
    refused: {
      noCertificate: st.clientCertMissing,
      untrusted: st.clientCertUntrusted,
      unmapped: st.clientCertUnmapped,
      pspConnections: st.pspConnectionsRefused,
    },
  };
}
