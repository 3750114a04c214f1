import t from 'tap';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { testDb } from '../helpers/db.js';
import { buildAdminApp } from '../../src/admin/app.js';
import { hashToken, parseTokens, tokensFromEnv, authenticate } from '../../src/admin/auth.js';
import { readRuleFiles, DEFAULT_RULES_DIR } from '../../src/routing/rules-loader.js';
import { filesToYaml } from '../../src/admin/rules-text.js';
import { createLedger } from '../../src/ledger/index.js';
import { isSwitchError, SwitchError } from '../../src/errors.js';
import { RuleVersionStore, migrateRouting, type ActiveInfo } from '../../src/routing/versions.js';
import { createSwitchTables, PgSaf, PgTraffic, PgTransactions, seedHistory, TOKEN_ENTRIES, TOKENS } from './fixtures.js';

type Who = keyof typeof TOKENS | 'none' | 'bad';

function call(app: FastifyInstance) {
  return async (
    who: Who,
    method: 'GET' | 'POST',
    url: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<LightMyRequestResponse & { j: any }> => {
    const h: Record<string, string> = { ...headers };
    if (who === 'bad') h.authorization = 'Bearer not-a-real-token';
    else if (who !== 'none') h.authorization = `Bearer ${TOKENS[who]}`;
    const r = await app.inject({ method, url, headers: h, ...(body !== undefined ? { payload: body as object } : {}) });
    let j: any;
    try {
      j = r.json();
    } catch {
      j = undefined;
    }
    return Object.assign(r, { j });
  };
}

t.test('tokens: hashed config, validated, constant-time lookup', async (t) => {
  t.same(parseTokens([{ name: 'a', role: 'viewer', sha256: hashToken('x') }]), [{ name: 'a', role: 'viewer', sha256: hashToken('x') }]);
  for (const [bad, path] of [
    [[{ name: 'a', role: 'root', sha256: hashToken('x') }], 'admin.tokens[0].role'],
    [[{ name: 'a', role: 'viewer', sha256: 'plain-token' }], 'admin.tokens[0].sha256'],
    [[{ name: 'a', role: 'viewer', sha256: hashToken('x'), extra: 1 }], 'admin.tokens[0].extra'],
    [
      [
        { name: 'a', role: 'viewer', sha256: hashToken('x') },
        { name: 'a', role: 'viewer', sha256: hashToken('y') },
      ],
      'admin.tokens[1].name',
    ],
    [{}, 'admin.tokens'],
  ] as const) {
    try {
      parseTokens(bad);
      t.fail('accepted');
    } catch (e) {
      t.ok(isSwitchError(e, 'SW_ERR_CONFIG_INVALID'));
      t.equal((e as { params: { path: string } }).params.path, path);
    }
  }
  t.same(tokensFromEnv(`ops:operator:${hashToken('s')}`), [{ name: 'ops', role: 'operator', sha256: hashToken('s') }]);
  t.same(
    authenticate(TOKEN_ENTRIES, TOKENS.editor),
    { name: 'rita', role: 'risk-editor', sha256: hashToken(TOKENS.editor) },
    'the entry (expiry and revocation are checked by the caller)',
  );
  t.same(
    tokensFromEnv(`ops:operator:${hashToken('s')}:2027-06-30T00:00:00Z`),
    [{ name: 'ops', role: 'operator', sha256: hashToken('s'), expiresAt: '2027-06-30T00:00:00.000Z' }],
    'an expiry after the hash',
  );
  t.throws(() => parseTokens([{ name: 'a', role: 'viewer', sha256: hashToken('x'), expires: 'soon' }]), { message: /admin\.tokens\[0\]\.expires.*ISO 8601/ });
  t.equal(authenticate(TOKEN_ENTRIES, 'nope'), null);
});

t.test('admin API end to end on a real Postgres schema', async (t) => {
  const db = await testDb(t);
  await createSwitchTables(db.pool);
  await seedHistory(db.pool, 40);
  const ledger = await createLedger({ pool: db.pool });
  t.teardown(() => ledger.close());
  const saf = new PgSaf(db.pool);
  await db.pool.query(`insert into test_saf (id, tx_id, acquirer, mti, attempts, state, last_error) values
    ('saf-1', 'tx-0001', 'acq-a', '0420', 1, 'pending', null), ('saf-2', 'tx-0002', 'acq-b', '0421', 12, 'dead', 'expired after 12 attempts')`);
  const app = await buildAdminApp({
    pool: db.pool,
    tokens: TOKEN_ENTRIES,
    traffic: new PgTraffic(db.pool),
    transactions: new PgTransactions(db.pool),
    saf,
    ledger,
  });
  t.teardown(() => app.close());
  const api = call(app);

  await t.test('health, readiness, metrics, OpenAPI', async (t) => {
    t.same((await api('none', 'GET', '/health/live')).j, { status: 'ok' });
    const notReady = await api('none', 'GET', '/health/ready');
    t.equal(notReady.statusCode, 503, 'no active rules version yet');
    t.same(notReady.j, { ready: false, checks: { database: true, rules: false } });
    const m = await api('none', 'GET', '/metrics');
    t.equal(m.statusCode, 200);
    t.match(m.headers['content-type'], /text\/plain/);
    t.match(m.body, /# TYPE switch_requests_total counter/);
    const doc = await api('none', 'GET', '/docs/json');
    t.equal(doc.statusCode, 200);
    t.equal(doc.j.openapi, '3.0.3');
    for (const p of [
      '/api/rules/versions',
      '/api/rules/versions/{version}/activate',
      '/api/rules/backtest',
      '/api/transactions/',
      '/api/ledger/reconciliation',
      '/api/saf/dead-letters/{id}/retry',
      '/api/audit/',
      '/api/acquirers/',
    ]) {
      t.ok(doc.j.paths[p], `OpenAPI documents ${p}`);
    }
    const ui = await api('none', 'GET', '/docs/');
    t.equal(ui.statusCode, 200);
    t.match(ui.body, /swagger/i);
  });

  await t.test('authentication and roles', async (t) => {
    const none = await api('none', 'GET', '/api/rules/versions');
    t.equal(none.statusCode, 401);
    t.equal(none.j.code, 'SW_ERR_ADMIN_UNAUTHORIZED');
    t.equal(none.headers['www-authenticate'], 'Bearer');
    const bad = await api('bad', 'GET', '/api/rules/versions');
    t.equal(bad.statusCode, 401);
    t.equal(bad.j.message, 'admin API: the token is not valid');
    const basic = await app.inject({ method: 'GET', url: '/api/audit', headers: { authorization: 'Basic dXNlcjpwdw==' } });
    t.equal(basic.statusCode, 401);
    const viewerCreate = await api('viewer', 'POST', '/api/rules/versions', { files: {} });
    t.equal(viewerCreate.statusCode, 403);
    t.equal(viewerCreate.j.code, 'SW_ERR_ADMIN_FORBIDDEN');
    t.match(viewerCreate.j.message, /role viewer may not POST \/api\/rules\/versions/);
    t.equal((await api('operator', 'POST', '/api/rules/versions', { files: {} })).statusCode, 403, 'operators do not edit rules');
    t.equal((await api('editor', 'POST', '/api/saf/dead-letters/saf-2/retry')).statusCode, 403, 'risk editors do not retry SAF');
  });

  const files = readRuleFiles(DEFAULT_RULES_DIR) as Record<string, any>;
  let v1 = 0;
  let v2 = 0;

  await t.test('rule versions: create, activate, show, validate with lines, diff, evaluate, backtest, rollback, audit', async (t) => {
    const c1 = await api('editor', 'POST', '/api/rules/versions', { files, comment: 'initial' });
    t.equal(c1.statusCode, 201);
    v1 = c1.j.version;
    t.equal(c1.j.author, 'rita');
    t.equal(c1.j.created, true);
    const again = await api('editor', 'POST', '/api/rules/versions', { files });
    t.equal(again.statusCode, 200, 'same content: the existing version');
    t.equal(again.j.version, v1);
    const a1 = await api('editor', 'POST', `/api/rules/versions/${v1}/activate`, { comment: 'go live' });
    t.equal(a1.statusCode, 200);
    t.equal(a1.j.version, v1);
    t.equal(a1.j.changed, true);
    t.equal((await api('editor', 'POST', `/api/rules/versions/${v1}/activate`, {})).j.changed, false, 'activating the active version is a no-op');
    t.equal((await api('none', 'GET', '/health/ready')).statusCode, 200);

    const show = await api('viewer', 'GET', `/api/rules/versions/${v1}`);
    t.equal(show.j.version, v1);
    t.equal(show.j.active, true);
    t.match(show.j.yaml.routing, /no_route_decline_code/);
    t.same(show.j.files.routing.rules.length, files.routing.rules.length);

    // validation: a schema problem and a reference problem, reported with the YAML line
    const yaml = filesToYaml(files).routing!;
    const badText = yaml.replace('terminal: a-eur-1\n', 'terminal: a-eur-9\n').replace(/priority: 1\n/, 'priority: first\n');
    const val = await api('viewer', 'POST', '/api/rules/validate', { base: v1, files: { routing: badText } });
    t.equal(val.statusCode, 200);
    t.equal(val.j.valid, false);
    t.ok(val.j.problems.length >= 1);
    const p0 = val.j.problems[0];
    t.equal(p0.file, 'routing.yaml');
    t.match(p0.path, /^\/rules\/\d+\/then\/terminals\/\d+\/priority$/);
    const lines = badText.split('\n');
    t.match(lines[p0.line - 1], /priority: first/, 'the line points at the mistake');
    const syntax = await api('viewer', 'POST', '/api/rules/validate', { files: { routing: 'rules:\n  - id: x\n   bad: [' } });
    t.equal(syntax.j.valid, false);
    t.equal(syntax.j.problems[0].kind, 'syntax');
    t.type(syntax.j.problems[0].line, 'number');
    const badCreate = await api('editor', 'POST', '/api/rules/versions', { base: v1, files: { routing: badText } });
    t.equal(badCreate.statusCode, 422);
    t.equal(badCreate.j.code, 'SW_ERR_RULES_INVALID');
    t.ok(badCreate.j.problems[0].line > 0);
    const good = await api('viewer', 'POST', '/api/rules/validate', { base: v1, files: { routing: yaml } });
    t.same(good.j.valid, true);

    // a new version: EUR default goes to b-eur-1
    const at = yaml.indexOf('- id: eur\n');
    const edited = yaml.slice(0, at) + yaml.slice(at).replace(/terminal: a-eur-1\n(\s+)priority: 1\n/, 'terminal: a-eur-1\n$1priority: 3\n');
    t.not(edited, yaml, 'edit applied');
    const c2 = await api('editor', 'POST', '/api/rules/versions', { base: v1, files: { routing: edited }, comment: 'eur to B' });
    t.equal(c2.statusCode, 201);
    v2 = c2.j.version;
    const diff = await api('viewer', 'GET', `/api/rules/diff?from=${v1}&to=${v2}`);
    const rf = diff.j.files.find((f: any) => f.file === 'routing.yaml');
    t.equal(rf.changed, true);
    t.same(
      rf.lines.filter((l: any) => l.op !== ' '),
      [
        { op: '-', text: '          priority: 1' },
        { op: '+', text: '          priority: 3' },
      ],
    );
    t.equal(diff.j.files.find((f: any) => f.file === 'bins.yaml').changed, false);
    t.equal((await api('viewer', 'GET', `/api/rules/diff?from=${v2}`)).j.to, v1, 'to defaults to the active version');

    const ctx = {
      bin: '41111111',
      cardToken: 'tok-1',
      amountMinor: 1500,
      currency: '978',
      merchantId: 'SHOP00000000001',
      psp: 'psp-alpha',
      at: '2026-11-22T12:00:00Z',
    };
    const ev1 = await api('viewer', 'POST', '/api/rules/evaluate', { context: ctx });
    t.equal(ev1.j.kind, 'route');
    t.equal(ev1.j.explanation.rulesVersion, v1);
    const ev2 = await api('viewer', 'POST', '/api/rules/evaluate', { version: v2, context: ctx });
    t.equal(ev2.j.explanation.rulesVersion, v2);
    const evEdit = await api('viewer', 'POST', '/api/rules/evaluate', { base: v1, files: { routing: edited }, context: ctx });
    t.equal(evEdit.j.kind, 'route');
    const badCtx = await api('viewer', 'POST', '/api/rules/evaluate', { context: { ...ctx, bin: '4111111111111111' } });
    t.equal(badCtx.statusCode, 400);
    t.equal(badCtx.j.code, 'SW_ERR_ROUTING_BAD_CONTEXT');
    t.notMatch(badCtx.body, /4111111111111111/, 'the bad value is not echoed');

    const bt = await api('viewer', 'POST', '/api/rules/backtest', { version: v2, limit: 100 });
    t.equal(bt.statusCode, 200);
    t.equal(bt.j.total, 40);
    t.ok(bt.j.changed > 0, 'routes move to b-eur-1');
    t.match(bt.j.summary, /^Of 40 recent authorizations, \d+ \(\d+\.\d%\) would be routed differently\./);
    t.ok(bt.j.transitions.some((x: any) => x.from === 'a-eur-1' && x.to === 'b-eur-1'));

    const act = await api('editor', 'POST', `/api/rules/versions/${v2}/activate`, { comment: 'ship it' });
    t.equal(act.j.version, v2);
    const list = await api('viewer', 'GET', '/api/rules/versions');
    t.equal(list.j.active.version, v2);
    t.same(
      list.j.versions.map((v: any) => v.version),
      [v2, v1],
    );
    t.same(
      list.j.versions.map((v: any) => v.active),
      [true, false],
    );
    const rb = await api('operator', 'POST', '/api/rules/rollback', { comment: 'revert' });
    t.equal(rb.statusCode, 200);
    t.equal(rb.j.version, v1);
    const hist = await api('viewer', 'GET', '/api/rules/activations');
    t.same(
      hist.j.activations.map((a: any) => a.kind),
      ['rollback', 'activate', 'activate'],
    );

    const audit = await api('viewer', 'GET', '/api/audit?limit=10');
    const actions = audit.j.entries.map((e: any) => `${e.actor}:${e.action}`);
    t.same(actions, ['otto:rules.rollback', 'rita:rules.activate', 'rita:rules.create', 'rita:rules.activate', 'rita:rules.create']);
    const [rbE, actE] = audit.j.entries;
    t.equal(rbE.beforeHash, c2.j.hash, 'rollback: before = v2 content hash');
    t.equal(rbE.afterHash, show.j.hash, 'after = v1 content hash');
    t.equal(actE.beforeHash, show.j.hash);
    t.equal(actE.afterHash, c2.j.hash);
    t.equal(audit.j.entries[4].beforeHash, null);
    const filtered = await api('viewer', 'GET', '/api/audit?action=rules.rollback');
    t.equal(filtered.j.entries.length, 1);
    await t.rejects(db.pool.query('delete from admin_audit_log'), /append-only/, 'the audit log is append-only');
  });

  await t.test('transactions: search by every key, detail with events and explanation', async (t) => {
    const byRrn = await api('viewer', 'GET', '/api/transactions?rrn=RRN000000007');
    t.equal(byRrn.j.transactions.length, 1);
    t.equal(byRrn.j.transactions[0].id, 'tx-0007');
    t.equal(byRrn.j.transactions[0].panMasked, '510510******5100');
    t.equal((await api('viewer', 'GET', '/api/transactions?stan=100003')).j.transactions[0].id, 'tx-0003');
    t.equal((await api('viewer', 'GET', '/api/transactions?terminal=TERM0002&limit=500')).j.transactions.length, 20);
    t.equal((await api('viewer', 'GET', '/api/transactions?merchant=SHOP00000000001&limit=5')).j.transactions.length, 5);
    const byPan = await api('viewer', 'GET', `/api/transactions?pan=${encodeURIComponent('411111******1111')}&limit=500`);
    t.equal(byPan.j.transactions.length, 10);
    const all = (await api('viewer', 'GET', '/api/transactions?limit=500')).j.transactions;
    const from = all[29].at;
    const to = all[19].at;
    t.equal(
      (await api('viewer', 'GET', `/api/transactions?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}&limit=500`)).j.transactions.length,
      10,
    );
    const full = await api('viewer', 'GET', '/api/transactions?pan=4111111111111111');
    t.equal(full.statusCode, 400);
    t.equal(full.j.code, 'SW_ERR_ADMIN_BAD_REQUEST');
    t.notMatch(full.body, /4111111111111111/);
    t.equal((await api('viewer', 'GET', '/api/transactions?stan=12')).statusCode, 400);
    t.equal((await api('viewer', 'GET', '/api/transactions?limit=0')).j.code, 'SW_ERR_ADMIN_BAD_REQUEST');
    t.equal((await api('viewer', 'GET', '/api/transactions?bogus=1')).statusCode, 400);
    const inverted = await api('viewer', 'GET', `/api/transactions?from=${encodeURIComponent(to)}&to=${encodeURIComponent(from)}`);
    t.equal(inverted.statusCode, 400);
    const one = await api('viewer', 'GET', '/api/transactions/tx-0005');
    t.same(
      one.j.events.map((e: any) => e.type),
      ['received', 'routed', 'answered'],
    );
    t.equal(one.j.explanation.ruleId, 'eur');
    t.equal(one.j.routedTerminal, 'a-eur-1');
    const missing = await api('viewer', 'GET', '/api/transactions/tx-none');
    t.equal(missing.statusCode, 404);
    t.equal(missing.j.message, 'admin API: transaction tx-none not found');
    const panAsId = await api('viewer', 'GET', '/api/transactions/4111111111111111');
    t.equal(panAsId.statusCode, 404);
    t.notMatch(panAsId.body, /4111111111111111/, 'a PAN typed as an id is masked in the answer');
  });

  await t.test('ledger: balances, plan, reconciliation JSON and CSV', async (t) => {
    for (const [code, kind] of [
      [ledger.accountCode('acquirer', 'acq-a', 978), 'acquirer'],
      [ledger.accountCode('merchant', 'SHOP1', 978), 'merchant'],
      [ledger.feesAccountCode(978), 'fees'],
    ] as const) {
      await ledger.ensureAccount({ code, kind, currency: 978 });
    }
    await ledger.hold('plan-1', { acquirer: 'acq-a', terminal: 'a-eur-1', merchant: 'SHOP1', currency: 978, amount: 2500n }, { panMasked: '411111******1111' });
    await ledger.commit('plan-1');
    const code = ledger.accountCode('merchant', 'SHOP1', 978);
    const bal = await api('viewer', 'GET', `/api/ledger/accounts/${encodeURIComponent(code)}/balances`);
    t.equal(bal.statusCode, 200);
    t.equal(bal.j.code, code);
    t.equal(bal.j.posted, '2500');
    const plan = await api('viewer', 'GET', '/api/ledger/plans/plan-1');
    t.equal(plan.j.state, 'COMMIT');
    t.equal(plan.j.amount, '2500');
    t.equal((await api('viewer', 'GET', '/api/ledger/plans/plan-x')).statusCode, 404);
    t.equal((await api('viewer', 'GET', '/api/ledger/accounts/nope:1/balances')).j.code, 'SW_ERR_LEDGER_ACCOUNT_NOT_FOUND');
    const recon = await api('viewer', 'GET', '/api/ledger/reconciliation');
    t.equal(recon.j.rows.length, 1);
    t.equal(recon.j.rows[0].capturedAmount, '2500');
    t.equal(recon.j.rows[0].netAmount, '2500');
    const csv = await api('viewer', 'GET', '/api/ledger/reconciliation?format=csv');
    t.match(csv.headers['content-type'], /text\/csv/);
    t.match(csv.body, /^day,acquirer,terminal,merchant,currency,authorized_count/);
    t.match(csv.body, /,acq-a,a-eur-1,SHOP1,978,1,2500,/);
    const csvAccept = await api('viewer', 'GET', '/api/ledger/reconciliation', undefined, { accept: 'text/csv' });
    t.equal(csvAccept.body, csv.body);
    t.equal((await api('viewer', 'GET', '/api/ledger/reconciliation?from=yesterday')).statusCode, 400);
    t.equal((await api('viewer', 'GET', '/api/ledger/reconciliation?from=2026-13-45')).statusCode, 400);
  });

  await t.test('SAF and dead letters: list, retry (operator, audited), conflicts', async (t) => {
    t.same(
      (await api('viewer', 'GET', '/api/saf')).j.entries.map((e: any) => e.id),
      ['saf-1'],
    );
    const dead = await api('viewer', 'GET', '/api/saf/dead-letters');
    t.same(
      dead.j.entries.map((e: any) => [e.id, e.state, e.attempts]),
      [['saf-2', 'dead', 12]],
    );
    t.equal((await api('viewer', 'POST', '/api/saf/dead-letters/saf-2/retry')).statusCode, 403);
    const r = await api('operator', 'POST', '/api/saf/dead-letters/saf-2/retry');
    t.equal(r.statusCode, 200);
    t.equal(r.j.state, 'pending');
    t.equal((await api('viewer', 'GET', '/api/saf/dead-letters')).j.entries.length, 0);
    const again = await api('operator', 'POST', '/api/saf/dead-letters/saf-2/retry');
    t.equal(again.statusCode, 409);
    t.equal(again.j.code, 'SW_ERR_ADMIN_CONFLICT');
    t.equal((await api('operator', 'POST', '/api/saf/dead-letters/saf-9/retry')).statusCode, 404);
    const audit = await api('viewer', 'GET', '/api/audit?action=saf.retry');
    t.equal(audit.j.entries.length, 1);
    t.equal(audit.j.entries[0].actor, 'otto');
    t.match(audit.j.entries[0].beforeHash, /^[0-9a-f]{64}$/);
    t.not(audit.j.entries[0].beforeHash, audit.j.entries[0].afterHash);
  });

  await t.test('bad input: stable codes, clear messages, nothing echoed', async (t) => {
    const notJson = await app.inject({
      method: 'POST',
      url: '/api/rules/validate',
      headers: { authorization: `Bearer ${TOKENS.viewer}`, 'content-type': 'application/json' },
      payload: '{"files": 4111111111111111',
    });
    t.equal(notJson.statusCode, 400);
    t.equal(notJson.json().code, 'SW_ERR_ADMIN_BAD_REQUEST');
    t.equal(notJson.json().message, 'admin API: request is invalid at body: body is not valid JSON');
    const missing = await api('viewer', 'POST', '/api/rules/validate', {});
    t.equal(missing.j.message, "admin API: request is invalid at body/files: must have required property 'files'");
    const extra = await api('viewer', 'POST', '/api/rules/validate', { files: {}, oops: 1 });
    t.equal(extra.statusCode, 400);
    t.equal((await api('viewer', 'GET', '/api/rules/versions/abc')).j.code, 'SW_ERR_ADMIN_BAD_REQUEST');
    const nf = await api('viewer', 'GET', '/api/rules/versions/999');
    t.equal(nf.statusCode, 404);
    t.equal(nf.j.code, 'SW_ERR_RULES_VERSION_NOT_FOUND');
    const route = await api('viewer', 'GET', '/api/nothing/4111111111111111');
    t.equal(route.statusCode, 404);
    t.notMatch(route.body, /4111111111111111/);
    t.equal((await api('viewer', 'GET', '/api/acquirers')).statusCode, 501, 'an area without its dependency says so');
    t.equal((await api('viewer', 'GET', '/api/acquirers')).j.code, 'SW_ERR_ADMIN_NOT_CONFIGURED');
    const big = await api('viewer', 'POST', '/api/rules/validate', { files: { routing: 'x'.repeat(600_000) } });
    t.equal(big.statusCode, 400);
  });
  void v2;
});

t.test('a change that fails after its audit entry is followed by a .failed entry', async (t) => {
  const db = await testDb(t);
  class FailingStore extends RuleVersionStore {
    fail = false;
    override async activate(version: number, meta: { actor: string; comment?: string }, kind: 'activate' | 'rollback' = 'activate'): Promise<ActiveInfo> {
      if (this.fail) throw new SwitchError('SW_ERR_DB_UNAVAILABLE', { target: 'routing', reason: 'test' });
      return super.activate(version, meta, kind);
    }
  }
  await migrateRouting(db.pool);
  const store = new FailingStore(db.pool);
  const app = await buildAdminApp({ pool: db.pool, tokens: TOKEN_ENTRIES, rules: store });
  t.teardown(() => app.close());
  const api = call(app);
  const files = readRuleFiles(DEFAULT_RULES_DIR);
  const v1 = (await api('editor', 'POST', '/api/rules/versions', { files })).j.version;
  t.equal((await api('editor', 'POST', `/api/rules/versions/${v1}/activate`, {})).statusCode, 200);
  store.fail = true;
  const f2 = JSON.parse(JSON.stringify(files));
  f2.routing.rules.at(-1).then.terminals[0].priority = 2;
  const v2 = (await api('editor', 'POST', '/api/rules/versions', { files: f2 })).j.version;
  const r = await api('editor', 'POST', `/api/rules/versions/${v2}/activate`, {});
  t.equal(r.statusCode, 503);
  t.equal(r.j.code, 'SW_ERR_DB_UNAVAILABLE');
  const entries = (await api('viewer', 'GET', '/api/audit')).j.entries;
  t.same(
    entries.slice(0, 2).map((e: any) => e.action),
    ['rules.activate.failed', 'rules.activate'],
  );
  t.equal(entries[0].detail.error, 'SW_ERR_DB_UNAVAILABLE');
  t.equal(entries[0].afterHash, entries[0].beforeHash, 'the failed entry records that nothing changed');
  t.equal((await store.active())!.version, v1);
  store.fail = false;
  const rb0 = await api('operator', 'POST', '/api/rules/rollback', {});
  t.equal(rb0.statusCode, 404, 'nothing to roll back to after a single activation');
  t.equal(rb0.j.code, 'SW_ERR_RULES_VERSION_NOT_FOUND');
});
