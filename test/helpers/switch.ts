/**
 * Switch test harness: a switch started in-process on a fresh test schema (short timeouts, port 0, admin
 * off, the built-in acquirer simulators) with a PSP client connected to it, and the same switch started as
 * a child process (`node --import tsx bin/switch.ts`) for the kill -9 tests.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import type pg from 'pg';
import { IsoMessage } from '../../src/iso8583/message.js';
import { transmissionDateTime } from '../../src/net/mti.js';
import { loadConfig, mergeConfig, type SwitchConfig } from '../../src/switch/config.js';
import { startSwitch, type SwitchHandle } from '../../src/app/runtime.js';
import type { TxnRow } from '../../src/switch/store/index.js';
import { createLedger, type Ledger } from '../../src/ledger/index.js';
import { PspClient } from '../../simulators/psp/client.js';
import { startAcquirerSimulator, startBuiltInSimulator, type AcquirerSimulator, type JournalEntry, type Rule } from '../../simulators/acquirer/index.js';
import type { AcquirerDef } from '../../src/routing/types.js';
import { framerByName } from '../../src/wire/index.js';
import { testDb, type TestDb } from './db.js';
import { childEnv } from './node-args.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

interface Teardownable {
  teardown(fn: () => unknown): void;
}

type Plain = Record<string, unknown>;

/** Tests run on a real DATABASE_URL, where the switch refuses to start without a PAN hash key (src/switch/pan-key.ts). */
export const TEST_PAN_HASH_KEY = 'switch-tests-pan-hash-key-not-a-secret';

/** Short timeouts for tests: an acquirer that does not answer is given up on quickly, SAF retries quickly. */
export function testOverrides(url: string, extra: Plain = {}): Plain {
  const base: Plain = {
    database: { url, poolSize: 12 },
    panHashKey: TEST_PAN_HASH_KEY,
    psp: { port: 0 },
    admin: { enabled: false, port: 0 },
    rulesDir: path.join(ROOT, 'rules'),
    acquirerTimeoutMs: 400,
    expiry: { sweepIntervalMs: 60_000 },
    // each SAF attempt waits 1 s for its answer: an answer slower than that on a loaded machine would be repeated
    saf: { pollMs: 50, retryInitialMs: 50, retryMaxMs: 400, timeoutMs: 1_000 },
    logLevel: 'silent',
  };
  return mergeConfig(base, extra);
}

export interface TestSwitch {
  db: TestDb;
  h: SwitchHandle;
  client: PspClient;
  cfg: SwitchConfig;
  /** Another PSP connection (closed at teardown). */
  connect(): Promise<PspClient>;
  /** The built-in simulator of an acquirer. */
  sim(acquirer: string): AcquirerSimulator;
  sims(): AcquirerSimulator[];
  /** Stops the switch (idempotent); teardown calls it too. */
  stop(): Promise<void>;
}

/**
 * The built-in simulators as `npm start` hands them to the switch (StartOptions.startSimulator; src/ never
 * imports simulators/), each kept by acquirer id so a test can script it.
 */
export function builtInSimulators(): { startSimulator: (def: AcquirerDef) => Promise<AcquirerSimulator>; byId: Map<string, AcquirerSimulator> } {
  const byId = new Map<string, AcquirerSimulator>();
  return {
    byId,
    startSimulator: async (def) => {
      const sim = await startBuiltInSimulator(def);
      byId.set(def.id, sim);
      return sim;
    },
  };
}

/** Starts a switch in-process on a fresh schema; `overrides` are merged over the test defaults. */
export async function startTestSwitch(t: Teardownable, o: { overrides?: Plain; db?: TestDb } = {}): Promise<TestSwitch> {
  const db = o.db ?? (await testDb(t, { max: 4 }));
  const cfg = loadConfig({ env: {}, overrides: testOverrides(db.url, o.overrides) });
  const builtIn = builtInSimulators();
  const h = await startSwitch(cfg, { log: pino({ level: 'silent' }), startSimulator: builtIn.startSimulator });
  const clients: PspClient[] = [];
  const connect = async () => {
    const c = await PspClient.connect({ port: h.pspPort, timeoutMs: 30_000 });
    clients.push(c);
    return c;
  };
  const client = await connect();
  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
      await h.stop();
    })();
    return stopped;
  };
  t.teardown(stop);
  const sim = (id: string) => {
    const s = builtIn.byId.get(id);
    if (!s) throw new Error(`acquirer ${id} has no built-in simulator`);
    return s;
  };
  return { db, h, client, cfg, connect, sim, sims: () => [...builtIn.byId.values()], stop };
}

let stanSeq = Math.floor(Math.random() * 900_000);
/** A fresh DE11 per request (unique inside a test process). */
export function nextStan(): string {
  stanSeq = (stanSeq + 1) % 1_000_000;
  return String(stanSeq).padStart(6, '0');
}

export interface AuthOpts {
  mti?: string;
  pan?: string;
  amount?: bigint | number;
  currency?: string;
  stan?: string;
  terminal?: string;
  merchant?: string;
  dt?: string;
}

let panSeq = Math.floor(Math.random() * 900_000);
/**
 * A test card 411111 xxxxxx 1111 (masked 411111******1111), a new one per call: risk counts authorizations per
 * card (more than 30 an hour is fatal, 59), so tests do not reuse a card by accident.
 */
export function testPan(): string {
  panSeq = (panSeq + 1) % 1_000_000;
  return `411111${String(panSeq).padStart(6, '0')}1111`;
}

/** An authorization (0100) or financial (0200) request from the PSP; default merchant SHOP00000000001, EUR. */
export function auth(o: AuthOpts = {}): IsoMessage {
  const stan = o.stan ?? nextStan();
  return new IsoMessage(o.mti ?? '0100', {
    2: o.pan ?? testPan(),
    3: '000000',
    4: String(o.amount ?? 1000).padStart(12, '0'),
    7: o.dt ?? transmissionDateTime(),
    11: stan,
    12: '120000',
    13: '1122',
    22: '051',
    41: (o.terminal ?? 'TERM0001').padEnd(8).slice(0, 8),
    42: (o.merchant ?? 'SHOP00000000001').padEnd(15).slice(0, 15),
    49: o.currency ?? '978',
  });
}

/** DE90 naming a PSP request: its MTI, DE11, DE7 and two zero institution ids. */
export function de90(orig: IsoMessage): string {
  return `${orig.mti}${orig.getString(11)}${orig.getString(7)}${'0'.repeat(22)}`;
}

/** A completion (0220) of `orig` for `amount`. */
export function capture(orig: IsoMessage, amount: bigint | number, o: { mti?: string; stan?: string } = {}): IsoMessage {
  return new IsoMessage(o.mti ?? '0220', {
    2: orig.getString(2)!,
    3: '000000',
    4: String(amount).padStart(12, '0'),
    7: transmissionDateTime(),
    11: o.stan ?? nextStan(),
    41: orig.getString(41)!,
    42: orig.getString(42)!,
    49: orig.getString(49)!,
    90: de90(orig),
  });
}

/** A refund (0200, processing code 20) of `orig`, named by DE90, for `amount` (docs/switch.md, "Refunds"). */
export function refundOf(orig: IsoMessage, amount: bigint | number): IsoMessage {
  return new IsoMessage('0200', {
    3: '200000',
    4: String(amount).padStart(12, '0'),
    7: transmissionDateTime(),
    11: nextStan(),
    41: orig.getString(41)!,
    42: orig.getString(42)!,
    49: orig.getString(49)!,
    90: de90(orig),
  });
}

/**
 * The shipped rules/fees.yaml restated as an independent oracle: acq-a 1.5 % + 10 (its terminal a-eur-2
 * 1.2 % + 5), acq-b 0.9 %, acq-c nothing; half-up, capped at the amount.
 */
export function shippedFee(acquirer: string, amount: bigint, terminal = ''): bigint {
  const pct = (x: bigint, per10k: bigint) => (x * per10k + 5_000n) / 10_000n;
  const f = acquirer === 'acq-a' ? (terminal === 'a-eur-2' ? pct(amount, 120n) + 5n : pct(amount, 150n) + 10n) : acquirer === 'acq-b' ? pct(amount, 90n) : 0n;
  return f > amount ? amount : f;
}

/** A reversal (0400, or 0420) of `orig`. */
export function reversal(orig: IsoMessage, o: { mti?: string; stan?: string; dt?: string } = {}): IsoMessage {
  return new IsoMessage(o.mti ?? '0400', {
    2: orig.getString(2)!,
    3: '000000',
    4: orig.getString(4)!,
    7: o.dt ?? transmissionDateTime(),
    11: o.stan ?? nextStan(),
    41: orig.getString(41)!,
    42: orig.getString(42)!,
    49: orig.getString(49)!,
    90: de90(orig),
  });
}

export const rc = (m: IsoMessage): string | undefined => m.getString(39);

/** The columns of a switch_txn row (the view over src/switch/store) the tests read. */
export type TxnRowLite = Pick<
  TxnRow,
  'id' | 'kind' | 'state' | 'acquirer' | 'terminal' | 'acq_stan' | 'acq_rrn' | 'acq_dt' | 'response_code' | 'amount' | 'captured_amount' | 'mti' | 'day'
>;

/** The authorization/financial row the PSP request `req` created. */
export async function txnOf(pool: pg.Pool, req: IsoMessage, psp = 'psp-alpha'): Promise<TxnRowLite | undefined> {
  const { rows } = await pool.query<TxnRowLite>(
    `select id, kind, state, acquirer, terminal, acq_stan, acq_rrn, acq_dt, response_code, amount::text, captured_amount::text, mti, to_char(day, 'YYYY-MM-DD') as day
       from switch_txn where psp = $1 and psp_stan = $2 and psp_terminal = $3 and psp_merchant = $4 and psp_dt = $5 and mti = $6`,
    [psp, req.getString(11), req.getString(41), req.getString(42), req.getString(7), req.mti],
  );
  return rows[0];
}

/** A transaction's history, oldest first (the view switch_txn_history). */
export async function eventsOf(pool: pg.Pool, txnId: string): Promise<string[]> {
  const { rows } = await pool.query<{ event: string }>('select event from switch_txn_history where txn_id = $1 order by at, k', [txnId]);
  return rows.map((r) => r.event);
}

/** Journal entries at a simulator for the acquirer-side terminal/STAN of a transaction row. */
export function journalFor(sim: AcquirerSimulator, f: { mti?: string | string[]; stan?: string; rrn?: string; direction?: 'in' | 'out' }): JournalEntry[] {
  return sim.journal.find(f);
}

/** Replaces a simulator's rules, keeping the test-card decline (PAN ending 0002). */
export function setRules(
  sim: AcquirerSimulator,
  rules: Rule[],
  declineCode = sim.behaviour().rules.find((r) => r.when?.panSuffix === '0002')?.respond ?? '05',
): void {
  sim.setBehaviour({ rules: [...rules, { when: { panSuffix: '0002' }, respond: declineCode }] });
}

export { eventually } from './wait.js';
import { eventually } from './wait.js';

/** A copy of the rule files this switch uses, to edit into a new version. */
export function activeFiles(s: TestSwitch): Record<string, any> {
  return JSON.parse(JSON.stringify(s.h.watcher.current().ruleSet.files)) as Record<string, any>;
}

/** Stores `files` as a new version, activates it, and resolves with its number once this switch uses it. */
export async function activateFiles(s: TestSwitch, files: unknown, comment: string, who = 'ops'): Promise<number> {
  const v = await s.h.versions.create(files, { author: who, comment });
  await s.h.versions.activate(v.version, { actor: who, comment });
  await eventually(() => s.h.watcher.version === v.version, `v${v.version} in use`);
  return v.version;
}

/**
 * Authorizations still in between after a fault: sent or timed out without an outcome, or failed with their
 * reversal not yet delivered. Zero once every one has ended approved, declined or reversed.
 */
export async function authorizationsInBetween(pool: pg.Pool): Promise<number> {
  const { rows } = await pool.query<{ n: number }>(
    `select count(*)::int as n from switch_txn v where v.kind = 'auth' and (v.state in ('sent', 'timed_out')
     or (v.state = 'failed' and exists (select 1 from switch_saf q where q.txn_id = v.id and q.done_at is null)))`,
  );
  return rows[0]!.n;
}

/** `npm run ledger:check` on `dbUrl`, run as an operator runs it (a child process): its exit code and the tails of its output. */
export function ledgerCheckCli(dbUrl: string): { status: number | null; output: string } {
  const cli = spawnSync(process.execPath, ['--import', 'tsx', 'src/ledger/cli.ts', 'check'], {
    cwd: ROOT,
    env: childEnv({ DATABASE_URL: dbUrl }),
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: cli.status, output: `${cli.stdout.slice(-300)} ${cli.stderr.slice(-300)}` };
}

/** A ledger on the test schema (for check() and plan()); closed at teardown. */
export async function ledgerOn(t: Teardownable, pool: pg.Pool): Promise<Ledger> {
  const l = await createLedger({ pool, migrate: false });
  t.teardown(() => l.close());
  return l;
}

// ── the switch as a child process ────────────────────────────────────────────────────────────────────────

export interface ChildSwitch {
  proc: ChildProcess;
  pspPort: number;
  /** Acquirer simulator ports (built-in simulators of the child), by acquirer id. */
  simulators: Map<string, { port: number; controlUrl: string }>;
  stdout: () => string;
  stderr: () => string;
  /** SIGKILL and wait for the exit. */
  kill9(): Promise<void>;
  /** SIGTERM and wait for the exit. */
  stop(): Promise<number | null>;
}

/**
 * Starts `node --import tsx bin/switch.ts` with DATABASE_URL on the test schema, PSP_PORT=0, admin on port 0,
 * and a JSON config (SWITCH_CONFIG) with `overrides`; resolves once main has printed its PSP port.
 */
export async function startChildSwitch(t: Teardownable, dbUrl: string, overrides: Plain = {}, extraEnv: Record<string, string> = {}): Promise<ChildSwitch> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'switch-child-'));
  const cfgFile = path.join(dir, 'config.json');
  const o = testOverrides(dbUrl, overrides);
  delete o.database; // DATABASE_URL from the environment, as an operator would set it
  delete (o.psp as Plain).port; // PSP_PORT from the environment
  writeFileSync(cfgFile, JSON.stringify(o));
  const proc = spawn(process.execPath, ['--import', 'tsx', 'bin/switch.ts'], {
    cwd: ROOT,
    env: childEnv({ DATABASE_URL: dbUrl, PSP_PORT: '0', ADMIN_PORT: '0', SWITCH_CONFIG: cfgFile, LOG_LEVEL: 'warn', ...extraEnv }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c));
  proc.stderr!.setEncoding('utf8').on('data', (c: string) => (err += c));
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  let alive = true;
  void exited.then(() => (alive = false));
  t.teardown(async () => {
    if (alive) {
      proc.kill('SIGKILL');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  });
  const end = Date.now() + 60_000;
  let port = 0;
  while (!port) {
    const m = /PSPs connect to\s+[0-9.]+:(\d+)/.exec(out);
    if (m && /Ctrl-C stops it/.test(out)) port = Number(m[1]);
    else if (!alive) throw new Error(`switch child exited before it was up: ${err.slice(-2000)}`);
    else if (Date.now() > end) throw new Error(`switch child not up after 60 s: ${out.slice(-1000)} ${err.slice(-1000)}`);
    else await new Promise((r) => setTimeout(r, 50));
  }
  const simulators = new Map<string, { port: number; controlUrl: string }>();
  for (const m of out.matchAll(/acquirer (\S+)\s+built-in simulator [0-9.]+:(\d+) \(control (\S+)\)/g))
    simulators.set(m[1]!, { port: Number(m[2]), controlUrl: m[3]! });
  return {
    proc,
    pspPort: port,
    simulators,
    stdout: () => out,
    stderr: () => err,
    kill9: async () => {
      if (alive) proc.kill('SIGKILL');
      await exited;
    },
    stop: async () => {
      if (alive) proc.kill('SIGTERM');
      return exited;
    },
  };
}

/**
 * A copy of rules/ whose acquirers point at the given simulators (started by the test, so their journals
 * outlive a killed switch). Returns the directory (removed at teardown).
 */
export function rulesFor(t: Teardownable, ports: Record<string, number>, o: { responseTimeoutMs?: number } = {}): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'switch-rules-'));
  cpSync(path.join(ROOT, 'rules'), dir, { recursive: true });
  const file = path.join(dir, 'acquirers.yaml');
  const doc = parseYaml(readFileSync(file, 'utf8')) as { acquirers: Array<{ id: string; link: { port: number; timeouts_ms: { response: number } } }> };
  for (const a of doc.acquirers) {
    const p = ports[a.id];
    if (p === undefined) continue;
    a.link.port = p;
    if (o.responseTimeoutMs) a.link.timeouts_ms.response = o.responseTimeoutMs;
  }
  writeFileSync(file, stringifyYaml(doc));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Acquirer simulators in the dialects rules/acquirers.yaml gives acq-a/b/c, zero latency, test-card decline. */
export async function startSimulators(t: Teardownable): Promise<Map<string, AcquirerSimulator>> {
  const doc = parseYaml(readFileSync(path.join(ROOT, 'rules', 'acquirers.yaml'), 'utf8')) as {
    acquirers: Array<{ id: string; link: { dialect: string; framer: string }; simulator?: { decline_code?: string } }>;
  };
  const out = new Map<string, AcquirerSimulator>();
  for (const a of doc.acquirers) {
    const sim = await startAcquirerSimulator({
      dialect: a.link.dialect,
      framer: framerByName(a.link.framer),
      port: 0,
      control: false,
      behaviour: { defaultResponseCode: '00', rules: [{ when: { panSuffix: '0002' }, respond: a.simulator?.decline_code ?? '05' }] },
    });
    t.teardown(() => sim.close());
    out.set(a.id, sim);
  }
  return out;
}
