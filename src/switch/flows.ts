/**
 * The switch's message flows (shared/design.md §1): authorization and financial requests, completions
 * (capture), reversals, and network management from PSPs. Money first: the intent is durable before a
 * request leaves for the acquirer; the hold, or the queued reversal, is durable before the PSP's answer.
 */
import type { Logger } from 'pino';
import type pg from 'pg';
import { IsoMessage, maskPan, responseMti } from '../iso8583/index.js';
import type { PspRequestContext } from '../net/index.js';
import { transmissionDateTime } from '../net/index.js';
import { isSwitchError } from '../errors.js';
import type { Ledger } from '../ledger/index.js';
import { protectPan } from '../ledger/index.js';
import type { RoutingEngine } from '../routing/engine.js';
import type { AuthContext, Decision, MerchantDef, RouteChoice } from '../routing/types.js';
import type { SwitchConfig } from './config.js';
import type { AcquirerSet } from './acquirers.js';
import { isFastFailure } from './acquirers.js';
import { newTxnId, RrnGenerator } from './ids.js';
import { KeyedMutex } from './mutex.js';
import { inTransaction } from '../store/tx.js';
import type { NewTxn, SwitchStore, TxnEvent, TxnKind, TxnRow } from './store.js';
import { mapResponseCode, originalData, parseOriginalData, pspResponse, reversalFields, toAcquirer, type AcquirerIds, type ReversalSubject } from './translate.js';

export interface FlowDeps {
  config: SwitchConfig;
  store: SwitchStore;
  ledger: Ledger;
  engine: RoutingEngine;
  acquirers: AcquirerSet;
  /** Merchants by DE42, from the active rule set. */
  merchants: () => ReadonlyMap<string, MerchantDef>;
  log: Logger;
  /** Wakes the store-and-forward worker after a reversal is queued. */
  kickSaf: () => void;
  observer?: FlowObserver;
}

/** Hooks for metrics and the transaction log line. */
export interface FlowObserver {
  outcome(o: { psp: string; mti: string; responseCode: string; acquirer: string | null; terminal: string | null; rule: string | null; rulesVersion: number | null; risk: string | null; switchMs: number; acquirerMs: number | null; panMasked: string | null; txnId: string | null }): void;
  lateResponse?(o: { acquirer: string; mti: string; responseCode: string | undefined }): void;
}

const AUTH_FIELDS = [2, 3, 4, 7, 11, 41, 42, 49] as const;
const APPROVED = '00';

/** The MTI class duplicates and repeats share: 0101 → 0100, 0421 → 0420, 0221 → 0220. */
function mtiClass(mti: string): string {
  return mti.slice(0, 3) + (mti[3] === '1' ? '0' : mti[3]!);
}

function field(msg: IsoMessage, n: number): string | undefined {
  const v = msg.get(n);
  return typeof v === 'string' ? v : undefined;
}

function hasAll(msg: IsoMessage, fields: readonly number[]): boolean {
  for (const f of fields) if (field(msg, f) === undefined) return false;
  return true;
}

/** Key of an authorization as its PSP knows it (DE11, DE41, DE42): what captures and reversals refer to. */
function pspKey(psp: string, stan: string, terminal: string, merchant: string): string {
  return `${psp}|${stan}|${terminal}|${merchant}`;
}

export class Flows {
  private readonly rrn = new RrnGenerator();
  private readonly mutex = new KeyedMutex();
  /** Answers still being worked out, by PSP + duplicate key: a duplicate waits for the original's answer. */
  private readonly inFlight = new Map<string, Promise<IsoMessage>>();
  /** Orphan reversals seen by this instance (and loaded at start): originals arriving later are declined. */
  private readonly orphans = new Set<string>();
  /** Requests that timed out, by acquirer match key, to name the transaction when a late answer arrives. */
  private readonly timedOut = new Map<string, { txnId: string; at: number }>();
  private stopping = false;

  constructor(private readonly d: FlowDeps) {}

  async loadOrphans(): Promise<void> {
    const { rows } = await this.d.store.pool.query<{ psp: string; orig_key: string }>(
      `select psp, orig_key from switch_orphan_reversal where created_at > now() - interval '7 days'`,
    );
    for (const r of rows) this.orphans.add(`${r.psp}|${r.orig_key}`);
  }

  stop(): void {
    this.stopping = true;
  }

  /**
   * The PSP server's handler. A failure below (database down, a write refused) answers `unavailable` (91):
   * nothing was promised, and a request that was already sent is still 'sent' in the database, where the
   * sweeper's recovery queues its reversal once the database is back.
   */
  async handle(msg: IsoMessage, ctx: PspRequestContext): Promise<IsoMessage | null> {
    try {
      return await this.route(msg, ctx);
    } catch (e) {
      this.d.log.error({ err: safeErr(e), mti: msg.mti }, 'request failed: answering unavailable');
      return pspResponse(msg, this.d.config.responseCodes.unavailable);
    }
  }

  private async route(msg: IsoMessage, ctx: PspRequestContext): Promise<IsoMessage | null> {
    const cls = mtiClass(msg.mti);
    switch (cls) {
      case '0100':
      case '0200':
        return this.dedupe(msg, ctx, () => this.authorize(msg, ctx, cls === '0100' ? 'auth' : 'financial'));
      case '0220':
        return this.dedupe(msg, ctx, () => this.capture(msg, ctx));
      case '0400':
      case '0420':
        return this.dedupe(msg, ctx, () => this.reverse(msg, ctx));
      case '0800':
        return this.network(msg);
      default:
        return pspResponse(msg, '12'); // invalid transaction
    }
  }

  /** Same DE11, DE41, DE42, DE7 and MTI class while the original is in flight: wait for its answer. */
  private async dedupe(msg: IsoMessage, ctx: PspRequestContext, run: () => Promise<IsoMessage>): Promise<IsoMessage> {
    const key = `${ctx.psp}|${mtiClass(msg.mti)}|${field(msg, 11)}|${field(msg, 41)}|${field(msg, 42)}|${field(msg, 7)}`;
    const pending = this.inFlight.get(key);
    if (pending) {
      const original = await pending;
      return this.replay(msg, original);
    }
    const p = run();
    this.inFlight.set(key, p);
    try {
      return await p;
    } finally {
      this.inFlight.delete(key);
    }
  }

  /** The original's answer, re-addressed to this request (same response code, RRN and auth code). */
  private replay(msg: IsoMessage, original: IsoMessage): IsoMessage {
    return pspResponse(msg, field(original, 39) ?? this.d.config.responseCodes.duplicate, { rrn: field(original, 37) ?? null, authCode: field(original, 38) ?? null });
  }

  private replayRow(msg: IsoMessage, row: TxnRow): IsoMessage {
    if (row.response_code === null) return pspResponse(msg, this.d.config.responseCodes.duplicate);
    return pspResponse(msg, row.response_code, { rrn: row.acq_rrn, authCode: row.auth_code });
  }

  // ── 0100 / 0200 ──────────────────────────────────────────────────────────────────────────────────────
  private async authorize(msg: IsoMessage, ctx: PspRequestContext, kind: 'auth' | 'financial'): Promise<IsoMessage> {
    const t0 = performance.now();
    const codes = this.d.config.responseCodes;
    if (!hasAll(msg, AUTH_FIELDS) || !/^[0-9]{12,19}$/.test(field(msg, 2)!)) return pspResponse(msg, codes.formatError);
    const pan = field(msg, 2)!;
    const stan = field(msg, 11)!;
    const terminal = field(msg, 41)!;
    const merchantId = field(msg, 42)!;
    const dt = field(msg, 7)!;
    const currency = field(msg, 49)!;
    const amount = BigInt(field(msg, 4)!);
    const { panHash, panMasked } = protectPan(pan, this.d.config.panHashKey);
    return this.mutex.run(pspKey(ctx.psp, stan, terminal, merchantId), async () => {
      const txnId = newTxnId();
      const base: NewTxn = {
        id: txnId, kind, psp: ctx.psp, mti: msg.mti, psp_stan: stan, psp_terminal: terminal, psp_merchant: merchantId,
        psp_dt: dt, dup_key: `${mtiClass(msg.mti)}|${stan}|${terminal}|${merchantId}|${dt}`, original_id: null,
        state: 'declined', amount, currency, pan_hash: panHash, pan_masked: panMasked, merchant: merchantId,
        acquirer: null, terminal: null, acq_stan: null, acq_rrn: null, acq_dt: null, response_code: null,
        auth_code: null, rules_version: null, explanation: null,
      };
      const finish = (res: IsoMessage, route: RouteChoice | null, decision: Decision | null, acquirerMs: number | null): IsoMessage => {
        this.d.observer?.outcome({
          psp: ctx.psp, mti: msg.mti, responseCode: field(res, 39) ?? '', acquirer: route?.acquirer ?? null, terminal: route?.terminal ?? null,
          rule: decision?.explanation.ruleId ?? null, rulesVersion: decision?.explanation.rulesVersion ?? null, risk: decision?.explanation.risk.level ?? null,
          switchMs: performance.now() - t0 - (acquirerMs ?? 0), acquirerMs, panMasked, txnId,
        });
        return res;
      };
      const decline = async (code: string, reason: string, decision: Decision | null): Promise<IsoMessage> => {
        const row: NewTxn = { ...base, state: 'declined', response_code: code, rules_version: decision?.explanation.rulesVersion ?? null, explanation: decision?.explanation ?? null };
        const res = await this.d.store.write({ insert: row, events: [ev(txnId, 'received'), ev(txnId, 'declined', { code, reason })] });
        if (!('inserted' in res) || !res.inserted) return this.duplicate(msg, ctx.psp, row.dup_key);
        return finish(pspResponse(msg, code), null, decision, null);
      };

      if (this.stopping) return pspResponse(msg, codes.unavailable);
      const merchant = this.d.merchants().get(merchantId);
      if (!merchant || !merchant.psps.includes(ctx.psp)) return decline(codes.unknownMerchant, merchant ? 'psp not allowed for merchant' : 'unknown merchant', null);
      if (this.orphans.has(`${ctx.psp}|${stan}|${terminal}|${merchantId}`)) return decline(codes.reversedBeforeArrival, 'reversed before it arrived', null);

      const actx: AuthContext = {
        bin: pan.slice(0, 8), cardToken: panHash.slice(0, 32), amountMinor: amount, currency, merchantId, psp: ctx.psp, at: new Date(),
      };
      const mcc = field(msg, 18);
      if (mcc) actx.mcc = mcc;
      let decision: Decision;
      try {
        decision = await this.d.engine.decide(actx);
      } catch (e) {
        this.d.log.error({ err: safeErr(e), txnId }, 'routing failed');
        return decline(codes.systemError, 'routing failed', null);
      }
      if (decision.kind === 'decline') return decline(decision.code, decision.reason, decision);
      base.rules_version = decision.explanation.rulesVersion;
      base.explanation = decision.explanation;

      let first = true;
      for (const route of decision.routes) {
        const acq = this.d.acquirers.get(route.acquirer);
        const ids = { stan: acq.link.nextStan(), rrn: this.rrn.next(), dt: transmissionDateTime(), terminalId: route.terminalId, merchantId: route.merchantId };
        // The intent: durable before the request leaves.
        const intentEvents = first
          ? [ev(txnId, 'received'), ev(txnId, 'routed', { terminal: route.terminal, rule: decision.explanation.ruleId }), ev(txnId, 'sent', { acquirer: route.acquirer, stan: ids.stan })]
          : [ev(txnId, 'rerouted', { terminal: route.terminal }), ev(txnId, 'sent', { acquirer: route.acquirer, stan: ids.stan })];
        const routeFields = { acquirer: route.acquirer, terminal: route.terminal, acq_stan: ids.stan, acq_rrn: ids.rrn, acq_dt: ids.dt };
        if (first) {
          const res = await this.d.store.write({ insert: { ...base, ...routeFields, state: 'sent' }, events: intentEvents });
          if ('inserted' in res && !res.inserted && res.duplicateOf === '') {
            // Reversed before it arrived, recorded by another instance (or since this one loaded its list).
            this.orphans.add(`${ctx.psp}|${stan}|${terminal}|${merchantId}`);
            return decline(codes.reversedBeforeArrival, 'reversed before it arrived', decision);
          }
          if (!('inserted' in res) || !res.inserted) return this.duplicate(msg, ctx.psp, base.dup_key);
          first = false;
        } else {
          await this.d.store.write({ update: { id: txnId, ...routeFields }, events: intentEvents });
        }
        const acqMsg = toAcquirer(msg, ids);
        const tSend = performance.now();
        let answer: IsoMessage;
        try {
          answer = await this.d.acquirers.request(route.acquirer, acqMsg, [route.acquirer, route.terminal]);
        } catch (e) {
          if (isFastFailure(e)) continue; // never reached the acquirer: next candidate
          const acquirerMs = performance.now() - tSend;
          // Timed out or lost in flight: the acquirer may have approved. Queue the reversal durably, then answer 91.
          this.timedOut.set(`${route.acquirer}|${ids.terminalId}|${ids.stan}`, { txnId, at: Date.now() });
          await this.d.store.write({
            update: { id: txnId, state: 'timed_out', response_code: codes.unavailable },
            saf: this.reversalEntry(txnId, route.acquirer, '0420', sentSubject(msg.mti, acqMsg, ids)),
            events: [ev(txnId, 'timed_out', { code: isSwitchError(e) ? e.code : 'error' }), ev(txnId, 'reversal_queued', { mti: '0420' })],
          });
          this.d.kickSaf();
          this.d.acquirers.recordOutcome(route.terminal, false);
          return finish(pspResponse(msg, codes.unavailable, { rrn: ids.rrn }), route, decision, acquirerMs);
        }
        const acquirerMs = performance.now() - tSend;
        const code = mapResponseCode(acq.def.response_codes, field(answer, 39));
        const authCode = field(answer, 38) ?? null;
        const approved = code === APPROVED;
        this.d.acquirers.recordOutcome(route.terminal, approved);
        if (approved) {
          const payment = { acquirer: route.acquirer, terminal: route.terminal, merchant: merchantId, currency: Number(currency), amount };
          const held = (async () => {
            await this.d.ledger.hold(txnId, payment, { panHash, panMasked });
            if (kind === 'financial') await this.d.ledger.commit(txnId);
          })();
          const recorded = this.d.store.write({
            update: { id: txnId, state: 'approved', response_code: code, ...(authCode ? { auth_code: authCode } : {}), ...(kind === 'financial' ? { captured_amount: amount } : {}) },
            events: [ev(txnId, 'answered', { code }), ev(txnId, 'held', { amount: amount.toString() }), ...(kind === 'financial' ? [ev(txnId, 'captured', { amount: amount.toString() })] : [])],
          });
          const [h, r] = await Promise.allSettled([held, recorded]);
          if (h.status === 'rejected' || r.status === 'rejected') {
            // Approved by the acquirer but not durably held: the PSP must not see an approval. Reverse it.
            const err = h.status === 'rejected' ? h.reason : (r as PromiseRejectedResult).reason;
            this.d.log.error({ err: safeErr(err), txnId }, 'hold failed after approval: reversing');
            await this.queueReversalAfterFailure(txnId, route.acquirer, acqMsg, ids, msg.mti);
            // The hold may have been written even though the rest failed: the PSP is told 91, so no money stays held.
            // (If the database is down, the row is still 'sent' and the sweeper's recovery releases it later.)
            await releaseFunds(this.d.ledger, txnId).catch((e: unknown) => this.d.log.error({ err: safeErr(e), txnId }, 'could not release the hold; recovery will'));
            return finish(pspResponse(msg, codes.unavailable, { rrn: ids.rrn }), route, decision, acquirerMs);
          }
          return finish(pspResponse(msg, code, { rrn: ids.rrn, authCode }), route, decision, acquirerMs);
        }
        await this.d.store.write({ update: { id: txnId, state: 'declined', response_code: code }, events: [ev(txnId, 'answered', { code }), ev(txnId, 'declined', { code })] });
        return finish(pspResponse(msg, code, { rrn: ids.rrn }), route, decision, acquirerMs);
      }
      // Every candidate failed fast (links down, breakers open).
      if (first) return decline(codes.unavailable, 'no acquirer reachable', decision);
      await this.d.store.write({ update: { id: txnId, state: 'failed', response_code: codes.unavailable }, events: [ev(txnId, 'failed', { reason: 'no acquirer reachable' })] });
      return finish(pspResponse(msg, codes.unavailable), null, decision, null);
    });
  }

  private async queueReversalAfterFailure(txnId: string, acquirer: string, acqMsg: IsoMessage, ids: { stan: string; rrn: string; dt: string; terminalId: string; merchantId: string }, mti: string): Promise<void> {
    for (let i = 0; i < 5; i++) {
      try {
        await this.d.store.write({ saf: this.reversalEntry(txnId, acquirer, '0420', sentSubject(mti, acqMsg, ids)), events: [ev(txnId, 'reversal_queued', { mti: '0420', reason: 'hold failed' })] });
        this.d.kickSaf();
        return;
      } catch (e) {
        this.d.log.error({ err: safeErr(e), txnId }, 'could not queue reversal; retrying');
        await new Promise((r) => setTimeout(r, 200 * (i + 1)));
      }
    }
  }

  /** A reversal owed to the acquirer, without card data: the original is named by DE90, DE37, DE41, DE42. */
  private reversalEntry(txnId: string, acquirer: string, mti: '0400' | '0420', subject: ReversalSubject) {
    const fields = reversalFields(this.d.acquirers.nextStan(acquirer), subject);
    return { txn_id: txnId, acquirer, mti, fields, expires_at: new Date(Date.now() + this.d.config.saf.expireAfterMs) };
  }

  /** Another instance (or an earlier life of this one) already has this request: replay its answer. */
  private async duplicate(msg: IsoMessage, psp: string, dupKey: string): Promise<IsoMessage> {
    for (let i = 0; i < 50; i++) {
      const row = await this.d.store.byDupKey(psp, dupKey);
      if (row && row.state !== 'sent' && row.state !== 'received') return this.replayRow(msg, row);
      await new Promise((r) => setTimeout(r, 100));
    }
    return pspResponse(msg, this.d.config.responseCodes.duplicate);
  }

  // ── 0220 completion ──────────────────────────────────────────────────────────────────────────────────
  private async capture(msg: IsoMessage, ctx: PspRequestContext): Promise<IsoMessage> {
    const codes = this.d.config.responseCodes;
    if (!hasAll(msg, [4, 7, 11, 41, 42])) return pspResponse(msg, codes.formatError);
    const orig = parseOriginalData(field(msg, 90));
    const terminal = field(msg, 41)!;
    const merchantId = field(msg, 42)!;
    if (!orig) return pspResponse(msg, codes.formatError);
    const amount = BigInt(field(msg, 4)!);
    return this.mutex.run(pspKey(ctx.psp, orig.stan, terminal, merchantId), () =>
      this.withOriginal(ctx.psp, terminal, merchantId, orig, async (client, original) => {
        const txnId = newTxnId();
        const row = this.childRow(txnId, 'capture', msg, ctx.psp, original, amount);
        if (!original) return this.recordChild(client, row, '25', 'original not found', msg); // unable to locate record
        if (original.kind !== 'auth' || (original.state !== 'approved' && original.state !== 'captured')) {
          return this.recordChild(client, row, '12', `original is ${original.state}`, msg);
        }
        if (original.state === 'captured') {
          const same = original.captured_amount !== null && BigInt(original.captured_amount) === amount;
          return this.recordChild(client, row, same ? APPROVED : '12', same ? 'already captured' : 'captured with another amount', msg, original);
        }
        if (amount <= 0n || amount > BigInt(original.amount ?? '0')) return this.recordChild(client, row, '13', 'amount above the authorization', msg, original);
        const acq = this.d.acquirers.get(original.acquirer!);
        const at = this.terminalIds(original);
        const acqMsg = new IsoMessage('0220', {
          3: field(msg, 3) ?? '000000', 4: amount.toString().padStart(12, '0'), 7: transmissionDateTime(), 11: acq.link.nextStan(), 37: original.acq_rrn!,
          41: at.terminalId, 42: at.merchantId, 49: original.currency ?? '',
          90: originalData(original.mti, original.acq_stan!, original.acq_dt!),
        });
        let answer: IsoMessage;
        try {
          answer = await this.d.acquirers.request(original.acquirer!, acqMsg, [original.acquirer!]);
        } catch (e) {
          this.d.log.warn({ err: safeErr(e), txnId: original.id }, 'capture not answered by the acquirer');
          return this.recordChild(client, row, codes.unavailable, 'acquirer unavailable', msg, original);
        }
        const code = mapResponseCode(acq.def.response_codes, field(answer, 39));
        if (code !== APPROVED) return this.recordChild(client, row, code, 'acquirer declined the capture', msg, original);
        const authorized = BigInt(original.amount ?? '0');
        await this.d.ledger.commit(original.id, amount < authorized ? { amount } : undefined);
        await client.query(`update switch_txn set state = 'captured', captured_amount = $2 where id = $1`, [original.id, amount.toString()]);
        await insertEvents(client, [ev(original.id, 'captured', { amount: amount.toString(), capture: txnId })]);
        return this.recordChild(client, row, APPROVED, 'captured', msg, original);
      }),
    );
  }

  // ── 0400 / 0420 reversal from the PSP ────────────────────────────────────────────────────────────────
  private async reverse(msg: IsoMessage, ctx: PspRequestContext): Promise<IsoMessage> {
    const codes = this.d.config.responseCodes;
    if (!hasAll(msg, [7, 11, 41, 42])) return pspResponse(msg, codes.formatError);
    const orig = parseOriginalData(field(msg, 90)) ?? { mti: '0100', stan: field(msg, 11)!, dt: '' };
    const terminal = field(msg, 41)!;
    const merchantId = field(msg, 42)!;
    const safMti: '0400' | '0420' = mtiClass(msg.mti) === '0400' ? '0400' : '0420';
    return this.mutex.run(pspKey(ctx.psp, orig.stan, terminal, merchantId), () =>
      this.withOriginal(ctx.psp, terminal, merchantId, orig.dt ? orig : { ...orig, dt: null }, async (client, original) => {
        const txnId = newTxnId();
        const amountText = field(msg, 4);
        const row = this.childRow(txnId, 'reversal', msg, ctx.psp, original, amountText ? BigInt(amountText) : null);
        if (!original) {
          // Orphan: acknowledge, record, and decline the original should it arrive later.
          const key = `${orig.stan}|${terminal}|${merchantId}`;
          const res = await this.recordChild(client, row, APPROVED, 'orphan reversal', msg);
          await client.query('insert into switch_orphan_reversal (psp, orig_key, txn_id) values ($1, $2, $3) on conflict do nothing', [ctx.psp, key, txnId]);
          this.orphans.add(`${ctx.psp}|${key}`);
          return res;
        }
        if (original.state === 'approved' || original.state === 'captured') {
          await client.query(`update switch_txn set state = 'reversed' where id = $1`, [original.id]);
          const saf = this.reversalEntry(original.id, original.acquirer!, safMti, {
            mti: original.mti, stan: original.acq_stan!, dt: original.acq_dt!, rrn: original.acq_rrn!, ...this.terminalIds(original),
            processingCode: '000000', amount: original.amount ?? '0', currency: original.currency ?? '',
          });
          await client.query(
            `insert into switch_saf (txn_id, acquirer, mti, fields, expires_at) values ($1, $2, $3, $4, $5) on conflict (txn_id, mti) do nothing`,
            [saf.txn_id, saf.acquirer, saf.mti, JSON.stringify(saf.fields), saf.expires_at],
          );
          await insertEvents(client, [ev(original.id, 'reversal_queued', { mti: safMti, reversal: txnId })]);
          await this.releaseFunds(original);
          await insertEvents(client, [ev(original.id, 'reversed', { by: txnId })]);
          const res = await this.recordChild(client, row, APPROVED, 'reversed', msg, original);
          this.d.kickSaf();
          return res;
        }
        if (original.state === 'sent' || original.state === 'received') {
          // Still in flight (on another instance: this one serializes on the key). Acknowledging now could
          // lose the reversal if the original is approved after it; answer 91 and record nothing, so the
          // PSP's repeat (0401/0421) is worked again once the original has its outcome.
          return pspResponse(msg, codes.unavailable);
        }
        // Timed out (our reversal is already queued), already reversed, declined or failed: nothing to move.
        return this.recordChild(client, row, APPROVED, `original is ${original.state}`, msg, original);
      }),
    );
  }

  private releaseFunds(original: TxnRow): Promise<void> {
    return releaseFunds(this.d.ledger, original.id);
  }

  /** The terminal's DE41/DE42 at the acquirer, from the rules in force now. */
  private terminalIds(original: TxnRow): { terminalId: string; merchantId: string } {
    const t = this.d.engine.current().terminals.get(original.terminal ?? '');
    return { terminalId: t?.terminalId ?? (original.terminal ?? '').padEnd(8).slice(0, 8), merchantId: t?.merchantId ?? ''.padEnd(15) };
  }

  private childRow(id: string, kind: TxnKind, msg: IsoMessage, psp: string, original: TxnRow | undefined, amount: bigint | null): NewTxn {
    const stan = field(msg, 11)!;
    const terminal = field(msg, 41)!;
    const merchant = field(msg, 42)!;
    const dt = field(msg, 7)!;
    return {
      id, kind, psp, mti: msg.mti, psp_stan: stan, psp_terminal: terminal, psp_merchant: merchant, psp_dt: dt,
      dup_key: `${mtiClass(msg.mti)}|${stan}|${terminal}|${merchant}|${dt}`, original_id: original?.id ?? null, state: 'acknowledged',
      amount, currency: field(msg, 49) ?? original?.currency ?? null, pan_hash: original?.pan_hash ?? null, pan_masked: original?.pan_masked ?? null,
      merchant, acquirer: original?.acquirer ?? null, terminal: original?.terminal ?? null, acq_stan: null, acq_rrn: original?.acq_rrn ?? null,
      acq_dt: null, response_code: null, auth_code: null, rules_version: null, explanation: null,
    };
  }

  /** Inserts the capture/reversal row with its answer (or replays an earlier copy) and forms the PSP answer. */
  private async recordChild(client: pg.PoolClient, row: NewTxn, code: string, reason: string, msg: IsoMessage, original?: TxnRow): Promise<IsoMessage> {
    const state = row.kind === 'capture' ? (code === APPROVED ? 'approved' : 'declined') : 'acknowledged';
    const { rows } = await client.query<{ id: string }>(
      `insert into switch_txn (id, kind, psp, mti, psp_stan, psp_terminal, psp_merchant, psp_dt, dup_key, original_id, state,
         amount, currency, pan_hash, pan_masked, merchant, acquirer, terminal, acq_rrn, response_code)
       values ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20)
       on conflict (psp, dup_key) do nothing returning id`,
      [row.id, row.kind, row.psp, row.mti, row.psp_stan, row.psp_terminal, row.psp_merchant, row.psp_dt, row.dup_key, row.original_id, state,
        row.amount?.toString() ?? null, row.currency, row.pan_hash, row.pan_masked, row.merchant, row.acquirer, row.terminal, row.acq_rrn, code],
    );
    if (rows.length === 0) {
      const prior = await client.query<TxnRow>('select * from switch_txn where psp = $1 and dup_key = $2', [row.psp, row.dup_key]);
      if (prior.rows[0]) return this.replayRow(msg, prior.rows[0]);
    } else {
      await insertEvents(client, [ev(row.id, 'received'), ev(row.id, row.kind === 'capture' ? (code === APPROVED ? 'captured' : 'declined') : 'acknowledged', { code, reason })]);
    }
    return pspResponse(msg, code, { rrn: original?.acq_rrn ?? null, authCode: original?.auth_code ?? null });
  }

  /**
   * Runs `fn` in a transaction holding the original authorization's row lock, so a capture and a reversal
   * of the same authorization on two instances take turns.
   */
  private async withOriginal(
    psp: string, terminal: string, merchant: string, orig: { stan: string; dt: string | null },
    fn: (client: pg.PoolClient, original: TxnRow | undefined) => Promise<IsoMessage>,
  ): Promise<IsoMessage> {
    return inTransaction(this.d.store.pool, async (client) => {
      const { rows } = await client.query<TxnRow>(
        `select * from switch_txn where psp = $1 and psp_terminal = $2 and psp_merchant = $3 and psp_stan = $4
           and kind in ('auth', 'financial') and ($5::text is null or psp_dt = $5) order by created_at desc limit 1 for update`,
        [psp, terminal, merchant, orig.stan, orig.dt || null],
      );
      return fn(client, rows[0]);
    });
  }

  // ── 0800 network management ──────────────────────────────────────────────────────────────────────────
  private network(msg: IsoMessage): IsoMessage {
    const res = new IsoMessage(responseMti(msg.mti));
    for (const f of [7, 11, 70]) {
      const v = msg.get(f);
      if (v !== undefined) res.set(f, v);
    }
    const code = field(msg, 70);
    res.set(39, code === '001' || code === '002' || code === '301' ? APPROVED : '12');
    return res;
  }

  // ── late answers ─────────────────────────────────────────────────────────────────────────────────────
  /** The link's unmatched handler: a late answer is logged and recorded, never forwarded nor posted. */
  onUnmatched(msg: IsoMessage, info: { reason: string; link: string }): void {
    const code = field(msg, 39);
    const key = `${info.link}|${field(msg, 41) ?? ''}|${field(msg, 11) ?? ''}`;
    const hit = this.timedOut.get(key);
    const pan = field(msg, 2);
    this.d.log.warn({ acquirer: info.link, reason: info.reason, mti: msg.mti, responseCode: code, pan: pan ? maskPan(pan) : undefined, txnId: hit?.txnId }, 'late or unmatched acquirer answer: not forwarded, not posted');
    this.d.observer?.lateResponse?.({ acquirer: info.link, mti: msg.mti, responseCode: code });
    if (hit) {
      this.d.store.write({ events: [ev(hit.txnId, 'late_response', { code: code ?? null })] }).catch((e: unknown) => this.d.log.error({ err: safeErr(e) }, 'could not record late answer'));
    }
    const now = Date.now();
    if (this.timedOut.size > 10_000) for (const [k, v] of this.timedOut) if (now - v.at > 600_000) this.timedOut.delete(k);
  }
}

/**
 * Releases the money of a transaction's plan: a hold is rolled back; committed money (a 0200, a capture) is
 * moved back by a compensating plan `<id>:reversal`. Idempotent; no plan, nothing to do.
 */
export async function releaseFunds(l: Ledger, planId: string): Promise<void> {
  const plan = await l.plan(planId);
  if (!plan) return;
  if (plan.state === 'HOLD') {
    await l.rollback(planId);
    return;
  }
  if (plan.state !== 'COMMIT' || plan.kind !== 'payment' || plan.currency === null) return;
  const currency = plan.currency;
  const amount = plan.finalAmount ?? plan.amount ?? 0n;
  const fee = plan.finalFee ?? plan.fee ?? 0n;
  const postings = [{ from: l.accountCode('merchant', plan.merchant!, currency), to: l.accountCode('acquirer', plan.acquirer!, currency), amount, currency }];
  if (fee > 0n) postings.push({ from: l.feesAccountCode(currency), to: l.accountCode('merchant', plan.merchant!, currency), amount: fee, currency });
  const id = `${planId}:reversal`;
  await l.hold(id, postings);
  await l.commit(id);
}

/** What a reversal of a request just sent to the acquirer names: that request, as the acquirer got it. */
function sentSubject(originalMti: string, acqMsg: IsoMessage, ids: AcquirerIds): ReversalSubject {
  return {
    mti: originalMti, stan: ids.stan, dt: ids.dt, rrn: ids.rrn, terminalId: ids.terminalId, merchantId: ids.merchantId,
    processingCode: field(acqMsg, 3) ?? '000000', amount: field(acqMsg, 4) ?? '0', currency: field(acqMsg, 49) ?? '',
  };
}

function ev(txn_id: string, event: TxnEvent['event'], data?: Record<string, unknown>): TxnEvent {
  return data ? { txn_id, event, data } : { txn_id, event };
}

async function insertEvents(client: pg.PoolClient, events: TxnEvent[]): Promise<void> {
  await client.query(
    `insert into switch_txn_event (txn_id, event, data) select txn_id, event, data from jsonb_to_recordset($1::jsonb) as e(txn_id text, event text, data jsonb)`,
    [JSON.stringify(events)],
  );
}

/** Error details for logs: code and message only (errors from the registry never carry card data). */
export function safeErr(e: unknown): { code?: string; message: string } {
  if (isSwitchError(e)) return { code: e.code, message: e.message };
  if (e instanceof Error) return { code: (e as { code?: string }).code, message: e.message.replace(/\d{13,19}/g, '[digits]') };
  return { message: String(e) };
}

