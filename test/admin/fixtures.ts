/**
 * Test implementations of the admin API's switch-core interfaces (TransactionQueries, SafQueries,
 * TrafficQueries), backed by real Postgres tables created in the test's own schema. The lead implements the
 * real ones in src/switch; these pin the contract the admin API relies on.
 */
import type pg from 'pg';
import { SwitchError } from '../../src/errors.js';
import { hashToken } from '../../src/admin/auth.js';
import { maskPan } from '../../src/iso8583/mask.js';
import type { PastDecision } from '../../src/routing/backtest.js';
import type {
  SafEntry,
  SafQueries,
  TokenEntry,
  TrafficQueries,
  TransactionDetail,
  TransactionFilter,
  TransactionQueries,
  TransactionSummary,
} from '../../src/admin/deps.js';

export const TOKENS = { viewer: 'viewer-token-0123456789', editor: 'editor-token-0123456789', operator: 'operator-token-0123456789' };
export const TOKEN_ENTRIES: TokenEntry[] = [
  { name: 'vera', role: 'viewer', sha256: hashToken(TOKENS.viewer) },
  { name: 'rita', role: 'risk-editor', sha256: hashToken(TOKENS.editor) },
  { name: 'otto', role: 'operator', sha256: hashToken(TOKENS.operator) },
];

export async function createSwitchTables(pool: pg.Pool): Promise<void> {
  await pool.query(`
    create table test_tx (
      id text primary key, at timestamptz not null, psp text not null, mti text not null, stan text not null, rrn text,
      terminal text not null, merchant text not null, pan_masked text not null, amount bigint not null, currency text not null,
      response_code text, class text, acquirer text, routed_terminal text, state text not null,
      explanation jsonb, context jsonb not null, risk_level text);
    create table test_tx_event (tx_id text not null references test_tx(id), seq serial, at timestamptz not null, type text not null, detail jsonb not null default '{}');
    create table test_saf (id text primary key, tx_id text, acquirer text not null, mti text not null, attempts int not null default 0,
      state text not null check (state in ('pending', 'dead')), next_attempt_at timestamptz, last_error text, created_at timestamptz not null default now());`);
}

export interface SeedTx {
  id: string;
  at: Date;
  psp?: string;
  stan: string;
  rrn: string;
  terminal?: string;
  merchant?: string;
  pan: string;
  amount: number;
  currency?: string;
  responseCode: string;
  acquirer: string | null;
  routedTerminal: string | null;
  bin?: string;
  mcc?: string;
}

export async function seedTx(pool: pg.Pool, s: SeedTx): Promise<void> {
  const cls = s.responseCode === '00' ? 'approved' : s.responseCode === '91' ? 'error' : 'declined';
  const context = {
    bin: s.bin ?? s.pan.slice(0, 8),
    cardToken: `tok-${s.pan.slice(-4)}-${s.id}`,
    amountMinor: s.amount,
    currency: s.currency ?? '978',
    merchantId: s.merchant ?? 'SHOP00000000001',
    psp: s.psp ?? 'psp-alpha',
    at: s.at.toISOString(),
    ...(s.mcc ? { mcc: s.mcc } : {}),
  };
  const explanation = {
    rulesVersion: 1,
    rulesHash: 'x',
    ruleId: 'eur',
    risk: { level: 'low', reasons: [] },
    bin: null,
    candidates: [],
    rejected: [],
    ideal: s.routedTerminal,
  };
  await pool.query(`insert into test_tx values ($1,$2,$3,'0100',$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,'done',$15,$16,'low')`, [
    s.id,
    s.at,
    s.psp ?? 'psp-alpha',
    s.stan,
    s.rrn,
    s.terminal ?? 'TERM0001',
    s.merchant ?? 'SHOP00000000001',
    maskPan(s.pan),
    s.amount,
    s.currency ?? '978',
    s.responseCode,
    cls,
    s.acquirer,
    s.routedTerminal,
    JSON.stringify(explanation),
    JSON.stringify(context),
  ]);
  await pool.query(`insert into test_tx_event (tx_id, at, type, detail) values ($1, $2, 'received', '{}'), ($1, $2, 'routed', $3), ($1, $2, 'answered', $4)`, [
    s.id,
    s.at,
    JSON.stringify({ terminal: s.routedTerminal, acquirer: s.acquirer }),
    JSON.stringify({ responseCode: s.responseCode }),
  ]);
}

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

function summary(r: Record<string, any>): TransactionSummary {
  return {
    id: r.id,
    at: r.at.toISOString(),
    psp: r.psp,
    mti: r.mti,
    stan: r.stan,
    rrn: r.rrn,
    terminal: r.terminal,
    merchant: r.merchant,
    panMasked: r.pan_masked,
    amountMinor: String(r.amount),
    currency: r.currency,
    responseCode: r.response_code,
    class: r.class,
    acquirer: r.acquirer,
    routedTerminal: r.routed_terminal,
    state: r.state,
  };
}

export class PgTransactions implements TransactionQueries {
  constructor(private readonly pool: pg.Pool) {}
  async search(f: TransactionFilter): Promise<TransactionSummary[]> {
    const r = await this.pool.query(
      `select * from test_tx where ($1::text is null or rrn = $1) and ($2::text is null or stan = $2) and ($3::text is null or terminal = $3)
        and ($4::text is null or merchant = $4) and ($5::text is null or pan_masked = $5) and ($6::timestamptz is null or at >= $6)
        and ($7::timestamptz is null or at < $7) order by at desc, id desc limit $8`,
      [f.rrn ?? null, f.stan ?? null, f.terminal ?? null, f.merchant ?? null, f.panMasked ?? null, f.from ?? null, f.to ?? null, f.limit],
    );
    return r.rows.map(summary);
  }
  async get(id: string): Promise<TransactionDetail | null> {
    const r = await this.pool.query('select * from test_tx where id = $1', [id]);
    if (!r.rows[0]) return null;
    const ev = await this.pool.query('select at, type, detail from test_tx_event where tx_id = $1 order by seq', [id]);
    return {
      ...summary(r.rows[0]),
      events: ev.rows.map((e) => ({ at: e.at.toISOString(), type: e.type, detail: e.detail })),
      explanation: r.rows[0].explanation,
      messages: [],
      cardToken: null,
    };
  }
}

function safRow(r: Record<string, any>): SafEntry {
  return {
    id: r.id,
    txId: r.tx_id,
    acquirer: r.acquirer,
    mti: r.mti,
    attempts: r.attempts,
    state: r.state,
    nextAttemptAt: iso(r.next_attempt_at),
    lastError: r.last_error,
    createdAt: r.created_at.toISOString(),
  };
}

export class PgSaf implements SafQueries {
  constructor(private readonly pool: pg.Pool) {}
  async list(limit: number): Promise<SafEntry[]> {
    return (await this.pool.query(`select * from test_saf where state = 'pending' order by created_at, id limit $1`, [limit])).rows.map(safRow);
  }
  async deadLetters(limit: number): Promise<SafEntry[]> {
    return (await this.pool.query(`select * from test_saf where state = 'dead' order by created_at, id limit $1`, [limit])).rows.map(safRow);
  }
  async retry(id: string): Promise<SafEntry | null> {
    const cur = await this.pool.query('select state from test_saf where id = $1', [id]);
    if (!cur.rows[0]) return null;
    if (cur.rows[0].state !== 'dead') throw new SwitchError('SW_ERR_ADMIN_CONFLICT', { what: 'SAF entry', id, reason: 'it is not a dead letter' });
    const r = await this.pool.query(`update test_saf set state = 'pending', attempts = 0, next_attempt_at = now() where id = $1 returning *`, [id]);
    return safRow(r.rows[0]);
  }
  async counts(): Promise<{ depth: number; dead: number }> {
    const r = await this.pool.query(
      `select count(*) filter (where state = 'pending')::int as depth, count(*) filter (where state = 'dead')::int as dead from test_saf`,
    );
    return r.rows[0];
  }
}

export class PgTraffic implements TrafficQueries {
  constructor(private readonly pool: pg.Pool) {}
  async recent(limit: number): Promise<PastDecision[]> {
    const r = await this.pool.query('select context, routed_terminal, class, risk_level from test_tx order by at desc limit $1', [limit]);
    return r.rows.map((x) => ({
      context: { ...x.context, at: new Date(x.context.at) },
      routedTo: x.routed_terminal,
      outcome: x.class === 'approved' ? 'approved' : x.class === 'declined' ? 'declined' : 'failed',
      riskLevel: x.risk_level,
    }));
  }
}

export const TEST_PANS = ['4111111111111111', '5555555555554444', '4000056655665556', '5105105105105100'];

/** Some history: EUR traffic routed to a-eur-1, a few declines. */
export async function seedHistory(pool: pg.Pool, n = 40): Promise<void> {
  const t0 = Date.now() - 3600_000;
  for (let i = 0; i < n; i++) {
    const pan = TEST_PANS[i % TEST_PANS.length]!;
    await seedTx(pool, {
      id: `tx-${String(i).padStart(4, '0')}`,
      at: new Date(t0 + i * 1000),
      stan: String(100000 + i),
      rrn: `RRN${String(i).padStart(9, '0')}`,
      terminal: i % 2 ? 'TERM0001' : 'TERM0002',
      merchant: 'SHOP00000000001',
      pan,
      amount: 1000 + i,
      responseCode: i % 10 === 9 ? '05' : '00',
      acquirer: 'acq-a',
      routedTerminal: 'a-eur-1',
      bin: pan.slice(0, 8),
    });
  }
}
