/**
 * Generic group commit (docs/architecture.md, "Durable writes"): requests from concurrent callers are written
 * by ONE `flush(client, reqs)` call inside ONE transaction, so the hot path pays one commit (one WAL flush)
 * per batch instead of per request. A batch goes out as soon as a slot is free (`maxWaitMs` 0, the default:
 * no fixed wait at low load; requests arriving while a batch is in flight ride the next one), or after at
 * most `maxWaitMs` when set.
 *
 * Two modes:
 * - transaction (`begin`, default 'begin'): flush runs inside BEGIN … COMMIT on `client`;
 * - statement (`begin: null`): flush sends ONE statement, its own implicit transaction: no BEGIN/COMMIT
 *   round trips. A connection lost while that statement runs leaves the outcome unknown, like a lost COMMIT.
 *
 * Contract for `flush`:
 * - it returns one entry per request, in order: a result, or an Error for a request it rejects — and for a
 *   rejected request it must have written nothing;
 * - it may be called again with the same requests (after a transient failure, or one by one when the whole
 *   batch failed), so it must not keep state between calls.
 *
 * Failure handling: serialization failures and deadlocks retry the batch; a batch that fails for any other
 * database reason is re-run one request per transaction, so one bad request fails alone and its neighbours
 * still commit. A connection lost before COMMIT was sent is retried on a fresh connection; a connection lost
 * during COMMIT leaves the outcome unknown: retried only when `idempotent` is set (a replay then returns the
 * recorded answer), otherwise the callers get SW_ERR_GROUP_COMMIT_UNKNOWN and must replay themselves.
 */
import type pg from 'pg';
import { SwitchError, isSwitchError } from '../errors.js';
import { guardClientErrors } from './postgres.js';

export interface GroupCommitOptions<Req, Res> {
  pool: pg.Pool;
  /** Used in errors and stats. */
  name?: string;
  /** Longest time the first request of a batch waits for company. Default 0: sent as soon as a slot is free. */
  maxWaitMs?: number;
  /** Most requests per transaction. Default 512. */
  maxBatch?: number;
  /** Batches in flight at once (each on its own connection). Default 1. */
  maxInFlight?: number;
  /** Requests allowed to wait; beyond this submit() fails fast with SW_ERR_GROUP_COMMIT_OVERLOADED. Default 100,000. */
  maxQueue?: number;
  /** Retries of a batch after a transient failure (serialization, deadlock, lost connection). Default 5. */
  retries?: number;
  /**
   * SQL that opens each transaction, sent as one simple query (no parameters): e.g.
   * `begin; set local plan_cache_mode = force_generic_plan`. Default `begin`. `null`: statement mode (above).
   */
  begin?: string | null;
  /** flush is idempotent (replaying a committed request returns its recorded answer). Default false. */
  idempotent?: boolean;
  flush: (client: pg.PoolClient, reqs: readonly Req[]) => Promise<Array<Res | Error>>;
  /** Observer for metrics. */
  onBatch?: (info: BatchInfo) => void;
}

export interface BatchInfo {
  size: number;
  ms: number;
  /** The batch failed as a whole and was re-run one request per transaction. */
  isolated: boolean;
  retries: number;
}

export interface GroupCommitStats {
  batches: number;
  requests: number;
  isolatedBatches: number;
  retries: number;
  maxBatchSeen: number;
  queued: number;
  inFlight: number;
}

export interface GroupCommitter<Req, Res> {
  submit(req: Req): Promise<Res>;
  stats(): GroupCommitStats;
  /** Stop accepting requests, finish what is queued and in flight. */
  close(): Promise<void>;
}

interface Item<Req, Res> {
  req: Req;
  at: number;
  resolve: (r: Res) => void;
  reject: (e: Error) => void;
}

type Phase = 'connect' | 'begin' | 'flush' | 'commit';

class TxError extends Error {
  constructor(
    readonly phase: Phase,
    readonly inner: unknown,
  ) {
    super(inner instanceof Error ? inner.message : String(inner));
  }
}

const TRANSIENT_SQLSTATES = new Set(['40001', '40P01', '55P03']);

/** Connection-level failure: server gone, socket closed, backend terminated, too many connections. */
export function isConnectionError(e: unknown): boolean {
  if (!(e instanceof Error)) return false;
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03' || code === '53300') return true;
    if (/^E[A-Z]+$/.test(code)) return true; // ECONNRESET, ECONNREFUSED, EPIPE, ETIMEDOUT ...
    if (/^[0-9A-Z]{5}$/.test(code)) return false;
  }
  return /Connection terminated|connection (?:error|closed)|Client has encountered a connection error|timeout exceeded when trying to connect|not queryable/i.test(
    e.message,
  );
}

export function isTransientError(e: unknown): boolean {
  const code = e instanceof Error ? (e as { code?: unknown }).code : undefined;
  return typeof code === 'string' && TRANSIENT_SQLSTATES.has(code);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function createGroupCommit<Req, Res>(opts: GroupCommitOptions<Req, Res>): GroupCommitter<Req, Res> {
  const name = opts.name ?? 'group-commit';
  const maxWaitMs = Math.max(0, opts.maxWaitMs ?? 0);
  const maxBatch = Math.max(1, opts.maxBatch ?? 512);
  const maxInFlight = Math.max(1, opts.maxInFlight ?? 1);
  const maxQueue = Math.max(1, opts.maxQueue ?? 100_000);
  const retries = Math.max(0, opts.retries ?? 5);
  const beginSql = opts.begin === undefined ? 'begin' : opts.begin;
  guardClientErrors(opts.pool);
  const queue: Array<Item<Req, Res>> = [];
  let head = 0;
  let timer: NodeJS.Timeout | undefined;
  let inFlight = 0;
  let closed = false;
  let drainWaiters: Array<() => void> = [];
  const stats = { batches: 0, requests: 0, isolatedBatches: 0, retries: 0, maxBatchSeen: 0 };

  const queued = () => queue.length - head;

  function schedule(): void {
    if (inFlight >= maxInFlight || queued() === 0) {
      if (inFlight === 0 && queued() === 0) {
        const w = drainWaiters;
        drainWaiters = [];
        for (const f of w) f();
      }
      return;
    }
    const waited = Date.now() - queue[head]!.at;
    if (queued() >= maxBatch || waited >= maxWaitMs || closed) {
      dispatch();
      return;
    }
    if (!timer) {
      timer = setTimeout(() => {
        timer = undefined;
        schedule();
      }, maxWaitMs - waited);
    }
  }

  function dispatch(): void {
    if (timer) {
      clearTimeout(timer);
      timer = undefined;
    }
    const items = queue.slice(head, head + maxBatch);
    // Let go of the taken items at once: kept until the next compaction, every request lived seconds in this
    // array (thousands at a time), so each young-generation GC copied and promoted them all.
    queue.fill(undefined as unknown as Item<Req, Res>, head, head + items.length);
    head += items.length;
    if (head === queue.length) {
      queue.length = 0;
      head = 0;
    } else if (head > 4096 && head * 2 > queue.length) {
      queue.splice(0, head);
      head = 0;
    }
    inFlight++;
    void runBatch(items).finally(() => {
      inFlight--;
      schedule();
    });
    // Another slot free and enough waiting: start the next batch at once.
    if (inFlight < maxInFlight && queued() >= maxBatch) dispatch();
  }

  async function runTx(reqs: readonly Req[]): Promise<Array<Res | Error>> {
    let client: pg.PoolClient;
    try {
      client = await opts.pool.connect();
    } catch (e) {
      throw new TxError('connect', e);
    }
    let phase: Phase = 'begin';
    let broken = false;
    // A connection killed while we hold the client between queries is emitted as 'error' on the client; without
    // a listener that would crash the process. The next query on it fails and is handled below.
    const onError = () => {
      broken = true;
    };
    client.on('error', onError);
    try {
      if (beginSql !== null) await client.query(beginSql);
      // statement mode: the flush's one statement is its own commit
      phase = beginSql === null ? 'commit' : 'flush';
      const results = await opts.flush(client, reqs);
      if (!Array.isArray(results) || results.length !== reqs.length) {
        throw new SwitchError('SW_ERR_GROUP_COMMIT_FLUSH', { name, got: Array.isArray(results) ? results.length : 0, want: reqs.length });
      }
      if (beginSql !== null) {
        phase = 'commit';
        await client.query('commit');
      }
      return results;
    } catch (e) {
      if (isConnectionError(e)) broken = true;
      else if (phase !== 'commit' && beginSql !== null) {
        await client.query('rollback').catch(() => {
          broken = true;
        });
      }
      throw new TxError(phase, e);
    } finally {
      client.removeListener('error', onError);
      client.release(broken ? true : undefined);
    }
  }

  async function runBatch(items: Array<Item<Req, Res>>, isolated = false): Promise<void> {
    const t0 = performance.now();
    const reqs = items.map((i) => i.req);
    let attempt = 0;
    for (;;) {
      try {
        const results = await runTx(reqs);
        stats.batches++;
        stats.requests += items.length;
        stats.maxBatchSeen = Math.max(stats.maxBatchSeen, items.length);
        try {
          opts.onBatch?.({ size: items.length, ms: performance.now() - t0, isolated, retries: attempt });
        } catch {
          // an observer must not break the commit path
        }
        items.forEach((it, i) => {
          const r = results[i];
          if (r instanceof Error) it.reject(r);
          else it.resolve(r as Res);
        });
        return;
      } catch (err) {
        const tx = err as TxError;
        const inner = tx.inner;
        const conn = isConnectionError(inner);
        const retryable = isTransientError(inner) || (conn && (tx.phase !== 'commit' || opts.idempotent === true));
        if (retryable && attempt < retries) {
          attempt++;
          stats.retries++;
          await sleep(Math.min(200, 5 * 2 ** attempt) * (0.5 + Math.random()));
          continue;
        }
        if (conn) {
          const e =
            tx.phase === 'commit'
              ? new SwitchError('SW_ERR_GROUP_COMMIT_UNKNOWN', { name, reason: tx.message.slice(0, 200) }, { cause: inner })
              : new SwitchError('SW_ERR_DB_UNAVAILABLE', { target: name, reason: tx.message.slice(0, 200) }, { cause: inner });
          for (const it of items) it.reject(e);
          return;
        }
        if (items.length > 1 && !isSwitchError(inner, 'SW_ERR_GROUP_COMMIT_FLUSH')) {
          // The batch failed as a whole: run each request in its own transaction so only the bad one fails.
          stats.isolatedBatches++;
          for (const it of items) await runBatch([it], true);
          return;
        }
        const e = inner instanceof Error ? inner : new Error(String(inner));
        for (const it of items) it.reject(e);
        return;
      }
    }
  }

  return {
    submit(req: Req): Promise<Res> {
      if (closed) return Promise.reject(new SwitchError('SW_ERR_GROUP_COMMIT_CLOSED', { name }));
      if (queued() >= maxQueue) return Promise.reject(new SwitchError('SW_ERR_GROUP_COMMIT_OVERLOADED', { name, max: maxQueue }));
      return new Promise<Res>((resolve, reject) => {
        queue.push({ req, at: Date.now(), resolve, reject });
        schedule();
      });
    },
    stats: () => ({ ...stats, queued: queued(), inFlight }),
    async close() {
      closed = true;
      if (inFlight === 0 && queued() === 0) return;
      await new Promise<void>((r) => {
        drainWaiters.push(r);
        schedule();
      });
    },
  };
}
