/**
 * Integration harness: the real switch (src/app/runtime.ts) on a test schema, built-in acquirer
 * simulators, PSP port 0, the admin server on port 0 wired with startAdminForSwitch, every log line written
 * to a file under test-artifacts/logs/ (scanned for card data by test/integration/log-redaction.test.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { startSwitch, type SwitchHandle } from '../../src/app/runtime.js';
import { loadConfig } from '../../src/switch/config.js';
import { createLogger } from '../../src/log.js';
import { logFlowOutcome, switchObservers, type FlowOutcome } from '../../src/app/observers.js';
import { startAdminForSwitch, type SwitchAdminExtras } from '../../src/app/admin.js';
import { loadDialect } from '../../src/iso8583/index.js';
import { framerByName } from '../../src/wire/index.js';
import { PspClient } from '../../simulators/psp/index.js';
import { testDb, type TestDb } from '../helpers/db.js';
import { TEST_PAN_HASH_KEY, builtInSimulators } from '../helpers/switch.js';
import type { AcquirerSimulator } from '../../simulators/acquirer/index.js';
import { TOKEN_ENTRIES } from './fixtures.js';
import { SwitchSafQueries, SwitchTrafficQueries, SwitchTransactionQueries } from '../../src/switch/store/index.js';

const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const ARTIFACTS = path.join(ROOT, 'test-artifacts');
export const LOG_DIR = process.env.SWITCH_TEST_LOG_DIR ?? path.join(ARTIFACTS, 'logs');

interface Teardownable {
  teardown(fn: () => unknown): void;
}

export interface TestSwitch {
  h: SwitchHandle;
  db: TestDb;
  adminUrl: string;
  logFile: string;
  outcomes: FlowOutcome[];
  /** The built-in acquirer simulators, by acquirer id. */
  sims: Map<string, AcquirerSimulator>;
  client(): Promise<PspClient>;
}

/** The switch core's own read side (src/switch/queries.ts), as `npm start` wires it. */
export const realQueries = (h: SwitchHandle): SwitchAdminExtras => ({
  transactions: new SwitchTransactionQueries(h.pool),
  saf: new SwitchSafQueries(h.pool, h.saf),
  traffic: new SwitchTrafficQueries(h.pool),
});

/** Start the switch for a test; everything is stopped at teardown. */
export async function startTestSwitch(
  t: Teardownable,
  name: string,
  extras: (h: SwitchHandle) => SwitchAdminExtras = realQueries,
  overrides: Record<string, unknown> = {},
): Promise<TestSwitch> {
  const db = await testDb(t);
  fs.mkdirSync(LOG_DIR, { recursive: true });
  const logFile = path.join(LOG_DIR, `${name}-${process.pid}.log`);
  const dest = pino.destination({ dest: logFile, sync: true, append: false });
  const log = createLogger({ name: 'switch', level: 'debug', destination: dest });
  const cfg = loadConfig({
    env: {},
    overrides: {
      database: { url: db.url, poolSize: 10 },
      psp: { port: 0 },
      admin: { enabled: true, host: '127.0.0.1', port: 0, tokens: TOKEN_ENTRIES },
      logLevel: 'debug',
      saf: { pollMs: 200 },
      panHashKey: TEST_PAN_HASH_KEY,
      ...overrides,
    },
  });
  const outcomes: FlowOutcome[] = [];
  const obs = switchObservers(log, logFlowOutcome);
  const builtIn = builtInSimulators();
  // every observer npm start passes, with the outcomes also kept for the tests
  const h = await startSwitch(cfg, {
    ...obs,
    log,
    startSimulator: builtIn.startSimulator,
    observer: {
      ...obs.observer,
      outcome: (o) => {
        outcomes.push(o);
        obs.observer.outcome(o);
      },
    },
    startAdmin: (h) => startAdminForSwitch(h, { ...extras(h), logger: log }),
  });
  const clients: PspClient[] = [];
  t.teardown(async () => {
    for (const c of clients) await c.close().catch(() => undefined);
    await h.stop();
    dest.flushSync();
  });
  return {
    h,
    db,
    logFile,
    outcomes,
    sims: builtIn.byId,
    adminUrl: `http://127.0.0.1:${h.adminPort}`,
    client: async () => {
      const c = await PspClient.connect({ port: h.pspPort, codec: loadDialect(cfg.psp.dialect), framer: framerByName(cfg.psp.framer), timeoutMs: 30_000 });
      clients.push(c);
      return c;
    },
  };
}

/** Card data a log line must never hold: test PANs, track data, CVV values, PIN blocks. */
export const FORBIDDEN_PATTERNS: readonly RegExp[] = [
  /(?<![0-9A-Za-z])[2-6][0-9]{14,18}(?![0-9A-Za-z])/, // a PAN-like run (checked with Luhn below)
  /[0-9]{12,19}=[0-9]{4}/, // track 2 (PAN=YYMM…)
  /%?B[0-9]{12,19}\^/, // track 1
  /"(cvv2?|cvc2?|CVV2?)"\s*:\s*"[0-9]{3,4}"/, // CVV under a key
];

function luhn(d: string): boolean {
  let sum = 0;
  for (let i = 0; i < d.length; i++) {
    let x = d.charCodeAt(d.length - 1 - i) - 48;
    if (i % 2 === 1) {
      x *= 2;
      if (x > 9) x -= 9;
    }
    sum += x;
  }
  return sum % 10 === 0;
}

/** Every hit of card data in a text: known secrets verbatim, and the generic patterns. */
export function findCardData(text: string, secrets: readonly string[] = []): string[] {
  const hits: string[] = [];
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    for (const s of secrets) if (s && line.includes(s)) hits.push(`line ${i + 1}: contains a known test secret (${s.slice(0, 4)}…)`);
    const panRe = new RegExp(FORBIDDEN_PATTERNS[0]!.source, 'g');
    for (const m of line.matchAll(panRe)) if (luhn(m[0])) hits.push(`line ${i + 1}: Luhn-valid PAN-like number ${m[0].slice(0, 6)}…${m[0].slice(-4)}`);
    for (const re of FORBIDDEN_PATTERNS.slice(1)) if (re.test(line)) hits.push(`line ${i + 1}: matches ${re.source}`);
  });
  return hits;
}
