/**
 * The admin API over the real switch and its own read side (src/switch/queries.ts): transactions found by
 * every search key with events and explanation; a timeout becomes a reversal in SAF, expires into a dead
 * letter, is retried by an operator (audited) and acknowledged once the acquirer answers again; metrics follow.
 */
import t from 'tap';
import { buildAuthorization } from '../../simulators/psp/index.js';
import { startTestSwitch } from './harness.js';
import { TOKENS } from './fixtures.js';

t.test('admin API on the running switch: transactions, SAF, dead letters, readiness, metrics', async (t) => {
  const sw = await startTestSwitch(t, 'admin-switch', undefined, {
    acquirerTimeoutMs: 1000,
    saf: { pollMs: 100, retryInitialMs: 100, retryMaxMs: 200, timeoutMs: 500, expireAfterMs: 1_500 },
  });
  const get = async (who: keyof typeof TOKENS, url: string): Promise<any> => {
    const r = await fetch(`${sw.adminUrl}${url}`, { headers: { authorization: `Bearer ${TOKENS[who]}` } });
    return { status: r.status, body: await r.json() };
  };
  t.equal((await fetch(`${sw.adminUrl}/health/ready`)).status, 200);
  const client = await sw.client();
  const started = new Date(Date.now() - 1000).toISOString();
  for (let i = 1; i <= 6; i++) {
    const r = await client.send(
      buildAuthorization({
        stan: String(810000 + i),
        pan: i <= 4 ? '4000056655665556' : '5555555555554444',
        terminal: i % 2 ? 'TERMODD1' : 'TERMEVN1',
        merchant: 'SHOP00000000001',
      }),
    );
    t.equal(r.getString(39), '00');
  }
  const byStan = await get('viewer', '/api/transactions?stan=810003');
  t.equal(byStan.status, 200);
  t.equal(byStan.body.transactions.length, 1);
  const tx = byStan.body.transactions[0];
  t.equal(tx.panMasked, '400005******5556');
  t.equal(tx.class, 'approved');
  t.equal(tx.terminal, 'TERMODD1');
  t.ok(tx.acquirer && tx.routedTerminal, 'routed');
  t.equal((await get('viewer', `/api/transactions?rrn=${tx.rrn}`)).body.transactions[0].id, tx.id, 'found by the acquirer RRN');
  t.equal((await get('viewer', `/api/transactions?pan=${encodeURIComponent('400005******5556')}`)).body.transactions.length, 4);
  t.equal((await get('viewer', '/api/transactions?terminal=TERMEVN1')).body.transactions.length, 3);
  t.equal((await get('viewer', `/api/transactions?merchant=SHOP00000000001&from=${encodeURIComponent(started)}`)).body.transactions.length, 6);
  t.equal((await get('viewer', `/api/transactions?to=${encodeURIComponent(started)}`)).body.transactions.length, 0);
  const byRoute = (await get('viewer', `/api/transactions?acquirer=${tx.acquirer}&routedTerminal=${tx.routedTerminal}&last4=5556&responseCode=00`)).body
    .transactions;
  t.ok(
    byRoute.length >= 1 && byRoute.every((x: any) => x.acquirer === tx.acquirer && x.routedTerminal === tx.routedTerminal && x.panMasked.endsWith('5556')),
    'by acquirer, route, last 4, code',
  );
  t.equal((await get('viewer', '/api/transactions?responseCode=96')).body.transactions.length, 0);
  const detail = await get('viewer', `/api/transactions/${tx.id}`);
  t.ok(detail.body.events.length >= 2, `event history (${detail.body.events.map((e: any) => e.type).join(', ')})`);
  t.equal(detail.body.explanation.rulesVersion, 1);
  t.type(detail.body.explanation.ruleId, 'string');
  t.notMatch(JSON.stringify(detail.body), /4000056655665556/, 'no full PAN in the answer');

  // the acquirers stop answering: the authorization times out, its reversal goes to SAF and then dead
  for (const sim of sw.sims.values()) sim.setBehaviour({ faults: { neverAnswer: 1 } });
  const r = await client.send(buildAuthorization({ stan: '820001', pan: '4000056655665556', merchant: 'SHOP00000000001' }));
  t.equal(r.getString(39), '91', 'the PSP gets 91 on timeout');
  let dead: any[] = [];
  const end = Date.now() + 60_000;
  while (Date.now() < end) {
    dead = (await get('viewer', '/api/saf/dead-letters')).body.entries;
    if (dead.length > 0) break;
    await new Promise((res) => setTimeout(res, 200));
  }
  t.equal(dead.length, 1, 'the reversal became a dead letter');
  t.match(dead[0].mti, /^042[01]$/);
  t.equal(dead[0].state, 'dead');
  const metrics = await (await fetch(`${sw.adminUrl}/metrics`)).text();
  t.match(metrics, /switch_saf_events_total\{event="dead_lettered"\} [1-9]/);
  t.match(metrics, /switch_dead_letters [1-9]/);

  // the acquirer is back; an operator retries the dead letter
  for (const sim of sw.sims.values()) sim.setBehaviour({ faults: { neverAnswer: 0 } });
  const denied = await fetch(`${sw.adminUrl}/api/saf/dead-letters/${dead[0].id}/retry`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKENS.editor}` },
  });
  t.equal(denied.status, 403);
  const retry = await fetch(`${sw.adminUrl}/api/saf/dead-letters/${dead[0].id}/retry`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKENS.operator}` },
  });
  t.equal(retry.status, 200);
  t.equal((await retry.json()).state, 'pending');
  const end2 = Date.now() + 60_000;
  let pending: any[] = [{}];
  while (Date.now() < end2) {
    pending = (await get('viewer', '/api/saf')).body.entries;
    if (pending.length === 0) break;
    await new Promise((res) => setTimeout(res, 200));
  }
  t.same(pending, [], 'the retried reversal was acknowledged');
  t.same((await get('viewer', '/api/saf/dead-letters')).body.entries, []);
  const audit = await get('viewer', '/api/audit?action=saf.retry');
  t.equal(audit.body.entries.length, 1);
  t.equal(audit.body.entries[0].actor, 'otto');
  const recon = await get('viewer', '/api/ledger/reconciliation');
  t.ok(recon.body.rows.length >= 1, 'reconciliation rows from the switch ledger');
});
