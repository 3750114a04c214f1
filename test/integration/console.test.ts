/**
 * The risk-team console end to end in headless Chromium against the real switch: log in, edit a rule, see
 * the validation error inline, fix it, backtest, save, activate with confirmation, see the new version
 * active and routing traffic; roll back. Screenshots in test-artifacts/console/.
 */
import t from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { buildAuthorization } from '../../simulators/psp/index.js';
import { ARTIFACTS, startTestSwitch } from '../admin/harness.js';
import { TOKENS } from '../admin/fixtures.js';
import { hashToken } from '../../src/admin/auth.js';
import { until } from '../helpers/wait.js';
import { matchSettlement, recordSettlementRun, type BookItem } from '../../src/ledger/settlement.js';
import type { SettlementLine } from '../../src/ledger/settlement-file.js';

const SHOTS = path.join(ARTIFACTS, 'console');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

async function shot(page: Page, name: string): Promise<void> {
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

const NEW_RULE = (terminal: string): string =>
  [
    '  - id: console-test',
    '    description: pinned from the console test',
    '    when:',
    '      merchant:',
    '        - SHOP00000000001',
    '    then:',
    '      terminals:',
    `        - terminal: ${terminal}`,
    '          priority: 1',
    '',
  ].join('\n');

/** Headless Debian Chromium on a fresh profile, closed at teardown. */
async function openPage(t: { teardown(fn: () => unknown): void }): Promise<Page> {
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'console-chromium-'));
  const ctx: BrowserContext = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    timeout: 60_000,
  });
  t.teardown(async () => {
    await ctx.close().catch(() => undefined);
    fs.rmSync(userDataDir, { recursive: true, force: true });
  });
  ctx.setDefaultTimeout(30_000);
  return ctx.pages()[0] ?? (await ctx.newPage());
}

/** The console in a fresh browser, logged in with `token`; script errors of the page collected. */
async function loggedIn(t: { teardown(fn: () => unknown): void }, adminUrl: string, token: string): Promise<{ page: Page; pageErrors: string[] }> {
  const page = await openPage(t);
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto(`${adminUrl}/`);
  await page.fill('#token', token);
  await page.click('#login');
  return { page, pageErrors };
}

t.test('console: edit, validate, backtest, activate, route, roll back', async (t) => {
  t.ok(fs.existsSync(CHROMIUM), `Chromium at ${CHROMIUM} (Debian package chromium)`);
  const sw = await startTestSwitch(t, 'console');
  t.equal(sw.h.watcher.version, 1, 'the switch starts on v1 imported from rules/');
  // a settlement reconciliation with two breaks, as ledger:recon --settlement records it
  const day = '2026-12-04';
  const book = (rrn: string, amount: bigint): BookItem => ({
    planId: `p${rrn}`,
    txnId: `p${rrn}`,
    rrn,
    type: 'sale',
    amount,
    currency: 978,
    fee: 0n,
    day,
    terminal: 'a-eur-1',
  });
  const line = (n: number, rrn: string, amount: bigint): SettlementLine => ({
    line: n,
    rrn,
    type: 'sale',
    amount,
    currency: 978,
    day,
    fee: null,
    terminal: null,
  });
  await recordSettlementRun(
    sw.h.pool,
    matchSettlement(
      { acquirer: 'acq-a', day, file: 'acq-a-2026-12-04.csv' },
      [book('000000000001', 1_000n), book('000000000002', 2_000n)],
      [line(2, '000000000001', 1_000n), line(3, '000000000002', 2_001n), line(4, '000000000003', 500n)],
    ),
  );
  // recent traffic under v1: the backtest input
  const client = await sw.client();
  for (let i = 1; i <= 20; i++) {
    const r = await client.send(
      buildAuthorization({
        stan: String(400000 + i),
        pan: i % 2 ? '4000056655665556' : '5555555555554444',
        merchant: 'SHOP00000000001',
        amount: `${10 + i}.00`,
      }),
    );
    t.equal(r.getString(39), '00', `history ${i} approved`);
  }
  // v1 sends this traffic to a-eur-*/b-eur-*; c-eur-1 only as a fallback when the others look unhealthy
  const willMove = sw.outcomes.filter((o) => o.terminal !== 'c-eur-1').length;
  t.ok(willMove > 0, `${willMove} of 20 not on c-eur-1 under v1`);

  const page = await openPage(t);
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));

  // log in: a wrong token first
  await page.goto(`${sw.adminUrl}/`);
  await page.fill('#token', 'wrong-token');
  await page.click('#login');
  await page.waitForSelector('#login-error:has-text("not valid")');
  await page.fill('#token', TOKENS.editor);
  await page.click('#login');
  await page.waitForSelector('#app-view:not(.hidden)');
  t.equal(await page.textContent('#active-version'), 'v1');
  t.equal(await page.textContent('#whoami'), 'rita (risk-editor)');

  // acquirer health at a glance
  await page.waitForSelector('#acquirers tr[data-acquirer="acq-c"]');
  for (const id of ['acq-a', 'acq-b', 'acq-c']) t.equal(await page.textContent(`tr[data-acquirer="${id}"] .badge`), 'healthy', `${id} healthy`);
  await shot(page, '01-logged-in');

  // the last settlement reconciliation per acquirer, with its breaks
  await page.waitForSelector('#settlement tr[data-acquirer="acq-a"]');
  t.equal(await page.textContent('#settlement tr[data-acquirer="acq-a"] .badge'), '2 breaks');
  t.match(
    (await page.textContent('#settlement li[data-kind="amount_mismatch"]')) ?? '',
    /RRN 000000000002 · sale · ours 2000 978 · theirs 2001 978 \(line 3\)/,
  );
  t.match((await page.textContent('#settlement li[data-kind="missing_ours"]')) ?? '', /RRN 000000000003/);
  await page.locator('#settlement-panel').screenshot({ path: path.join(SHOTS, '01b-settlement.png') });

  // edit routing.yaml: a new first rule pointing at a terminal that does not exist
  await page.waitForFunction(() => (document.getElementById('yaml') as HTMLTextAreaElement).value.includes('rules:'));
  const original = await page.inputValue('#yaml');
  const at = original.indexOf('rules:\n') + 'rules:\n'.length;
  const bad = original.slice(0, at) + NEW_RULE('c-eur-9') + original.slice(at);
  await page.fill('#yaml', bad);
  await page.click('#validate');
  await page.waitForSelector('#problems li');
  const problem = (await page.textContent('#problems li')) ?? '';
  t.match(
    problem,
    /routing\.yaml line \d+: rule 'console-test' at \/rules\/0\/then\/terminals\/0\/terminal: .*c-eur-9/,
    'the problem names file, line, rule, path and the unknown terminal',
  );
  const badLine = bad.split('\n').findIndex((l) => l.includes('c-eur-9')) + 1;
  t.equal(await page.getAttribute('#gutter .err', 'data-line'), String(badLine), 'the wrong line is marked in the gutter');
  await shot(page, '02-validation-error');

  // fix it
  await page.fill('#yaml', original.slice(0, at) + NEW_RULE('c-eur-1') + original.slice(at));
  await page.click('#validate');
  await page.waitForSelector('#valid');
  t.equal(await page.locator('#gutter .err').count(), 0);

  // backtest against recent traffic
  await page.click('#backtest');
  await page.waitForSelector('#backtest-summary');
  const summary = (await page.textContent('#backtest-summary')) ?? '';
  t.ok(
    summary.startsWith(`Of 20 recent authorizations, ${willMove} (${((willMove / 20) * 100).toFixed(1)}%) would be routed differently. Expected approval rate`),
    `every past authorization not on c-eur-1 moves there: ${summary}`,
  );
  t.match(summary, /Largest moves: [a-z0-9-]+ → c-eur-1 \(\d+\)/);
  // the changed routes as a chart: one bar per move, together the authorizations that move
  const bars = await page.locator('#backtest-chart rect[data-move]').evaluateAll((xs) => xs.map((x) => x.getAttribute('data-move')));
  t.ok(bars.length > 0 && bars.every((b) => /^[a-z0-9-]+>c-eur-1$/.test(b ?? '')), `bars: ${bars.join(', ')}`);
  await shot(page, '03-backtest');

  // evaluate a sample under the edit
  await page.click('#evaluate');
  await page.waitForSelector('#decision');
  t.equal(await page.textContent('#decision'), 'Route to c-eur-1 (acq-c)');

  // save as v2, see the diff, activate with confirmation
  await page.fill('#comment', 'pin SHOP00000000001 to acquirer C');
  await page.click('#save');
  await page.waitForSelector('#message:has-text("Saved as v2")');
  await page.waitForSelector('#diff-view:not(.hidden)');
  t.match((await page.textContent('#diff')) ?? '', /\+ {3}- id: console-test/);
  await page.click('tr[data-version="2"] button.activate');
  await page.waitForSelector('dialog#confirm[open]');
  t.match((await page.textContent('#confirm-text')) ?? '', /Activate rules v2\?/);
  await shot(page, '04-confirm-activate');
  await page.click('#confirm-ok');
  await page.waitForSelector('#active-version:has-text("v2")');
  await page.waitForSelector('tr.active[data-version="2"]');
  await shot(page, '05-v2-active');

  // the switch routes with v2
  t.equal(
    await until(
      () => sw.h.watcher.version,
      (v) => v === 2,
      20_000,
      50,
    ),
    2,
    'the running switch swapped to v2',
  );
  const before = sw.outcomes.length;
  for (let i = 1; i <= 5; i++) {
    const r = await client.send(buildAuthorization({ stan: String(500000 + i), pan: '4000056655665556', merchant: 'SHOP00000000001', amount: '12.34' }));
    t.equal(r.getString(39), '00', `authorization ${i} approved`);
  }
  const routed = sw.outcomes.slice(before);
  t.equal(routed.length, 5);
  t.same(new Set(routed.map((o) => `${o.rule}→${o.terminal}@${o.acquirer}`)), new Set(['console-test→c-eur-1@acq-c']), 'traffic routed by the new rule');

  // a diff between any two versions
  await page.selectOption('#compare-from', '1');
  await page.selectOption('#compare-to', '2');
  await page.click('#compare');
  await page.waitForSelector('#diff-title:has-text("Changes from v1 to v2")');
  t.match((await page.textContent('#diff')) ?? '', /\+ +- id: console-test/);

  // roll back with confirmation
  await page.click('#rollback');
  await page.waitForSelector('dialog#confirm[open]');
  await page.click('#confirm-ok');
  await page.waitForSelector('#active-version:has-text("v1")');
  await shot(page, '06-rolled-back');
  t.equal(
    await until(
      () => sw.h.watcher.version,
      (v) => v === 1,
      20_000,
      50,
    ),
    1,
    'the running switch back on v1',
  );
  const r = await client.send(buildAuthorization({ stan: '600001', pan: '4000056655665556', merchant: 'SHOP00000000001' }));
  t.equal(r.getString(39), '00');
  t.not(sw.outcomes.at(-1)!.rule, 'console-test', 'after the rollback the rule is gone');

  // a viewer sees the console but cannot activate
  await page.click('#logout');
  await page.waitForSelector('#login-view:not(.hidden)');
  await page.fill('#token', TOKENS.viewer);
  await page.click('#login');
  await page.waitForSelector('tr[data-version="2"] button.activate');
  await page.click('tr[data-version="2"] button.activate');
  await page.click('#confirm-ok');
  await page.waitForSelector('#message:has-text("Activation failed")');
  t.match((await page.textContent('#message')) ?? '', /role viewer may not/);
  t.equal(await page.textContent('#active-version'), 'v1');

  const audit = await fetch(`${sw.adminUrl}/api/audit`, { headers: { authorization: `Bearer ${TOKENS.viewer}` } }).then(
    (x) => x.json() as Promise<{ entries: { actor: string; action: string }[] }>,
  );
  t.same(
    audit.entries.map((e) => `${e.actor}:${e.action}`),
    ['rita:rules.rollback', 'rita:rules.activate', 'rita:rules.create'],
  );
  t.same(pageErrors, [], 'no script errors in the page');
});

t.test('console: an operator drains an acquirer with a reason, the health table shows it, then lifts it', async (t) => {
  const sw = await startTestSwitch(t, 'console-controls');
  const { page, pageErrors } = await loggedIn(t, sw.adminUrl, TOKENS.operator);
  await page.waitForSelector('#no-controls');
  await page.selectOption('#control-kind', 'acquirer');
  await page.fill('#control-id', 'acq-b');
  await page.selectOption('#control-state', 'drain');
  await page.fill('#control-reason', 'acq-b maintenance window');
  await page.fill('#control-minutes', '120');
  await page.click('#control-apply');
  await page.waitForSelector('#controls tr[data-control="acquirer:acq-b"]');
  await page.waitForSelector('#acquirers tr[data-acquirer="acq-b"] td.control:has-text("drained: acq-b maintenance window")');
  t.equal(sw.h.controls.get('acquirer', 'acq-b')?.state, 'drain', 'in force at the switch');
  t.match((await page.textContent('#message')) ?? '', /acquirer acq-b: drained on every instance/);
  await shot(page, '07-manual-control');
  await page.locator('#controls-panel').screenshot({ path: path.join(SHOTS, '07b-manual-control-panel.png') });

  await page.click('#controls tr[data-control="acquirer:acq-b"] button.lift');
  await page.waitForSelector('#no-controls');
  await page.waitForSelector('#acquirers tr[data-acquirer="acq-b"] td.control:has-text("—")');
  t.equal(sw.h.controls.get('acquirer', 'acq-b'), undefined, 'lifted at the switch');
  const audit = await fetch(`${sw.adminUrl}/api/audit`, { headers: { authorization: `Bearer ${TOKENS.viewer}` } }).then(
    (x) => x.json() as Promise<{ entries: { actor: string; action: string; target: string }[] }>,
  );
  t.same(
    audit.entries.map((e) => `${e.actor}:${e.action}:${e.target}`),
    ['otto:control.lift:acquirer acq-b', 'otto:control.drain:acquirer acq-b'],
  );
  t.same(pageErrors, [], 'no script errors in the page');
});

t.test('console: maker-checker, a risk editor proposes an activation and an approver approves it', async (t) => {
  const editor = 'console-mc-editor-0123456789';
  const approver = 'console-mc-approver-0123456789';
  const sw = await startTestSwitch(t, 'console-maker-checker', undefined, {
    admin: {
      enabled: true,
      host: '127.0.0.1',
      port: 0,
      tokens: [
        { name: 'rita', role: 'risk-editor', sha256: hashToken(editor), expires: '' },
        { name: 'anna', role: 'approver', sha256: hashToken(approver), expires: '' },
      ],
    },
  });
  // v2: v1 with one more rule, stored through the API
  const api = async (token: string, method: string, url: string, body?: unknown): Promise<any> =>
    (
      await fetch(`${sw.adminUrl}${url}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      })
    ).json();
  const files = (await api(editor, 'GET', '/api/rules/versions/1')).files;
  files.routing.rules.unshift({ id: 'console-mc', when: { amount: { min: 999, max: 999 } }, then: { decline: '57', reason: 'maker-checker test' } });
  t.equal((await api(editor, 'POST', '/api/rules/versions', { base: 1, files, comment: 'decline 999' })).version, 2);

  const { page, pageErrors } = await loggedIn(t, sw.adminUrl, editor);
  await page.waitForSelector('#no-pending');
  await page.click('tr[data-version="2"] button.activate');
  await page.waitForSelector('dialog#confirm[open]');
  await page.click('#confirm-ok');
  await page.waitForSelector('#message:has-text("proposed: waiting for an approver")');
  await page.waitForSelector('#pending tr[data-pending] td.proposer:has-text("rita")');
  t.equal(await page.textContent('#active-version'), 'v1', 'not active yet');
  t.equal(sw.h.watcher.version, 1);
  await page.locator('#pending-panel').screenshot({ path: path.join(SHOTS, '08-maker-checker-proposed.png') });

  await page.click('#logout');
  await page.waitForSelector('#login-view:not(.hidden)');
  await page.fill('#token', approver);
  await page.click('#login');
  await page.waitForSelector('#pending tr[data-pending] button.approve');
  await shot(page, '09-maker-checker-approver');
  await page.click('#pending tr[data-pending] button.approve');
  await page.waitForSelector('dialog#confirm[open]');
  t.match((await page.textContent('#confirm-text')) ?? '', /proposed by rita/);
  await page.click('#confirm-ok');
  await page.waitForSelector('#message:has-text("approved and active")');
  await page.waitForSelector('#active-version:has-text("v2")');
  await page.waitForSelector('#no-pending');
  await until(
    () => sw.h.watcher.version,
    (v) => v === 2,
  );
  await shot(page, '10-maker-checker-approved');
  const audit = await api(approver, 'GET', '/api/audit');
  t.same(
    audit.entries.map((e: { actor: string; action: string }) => `${e.actor}:${e.action}`),
    ['anna:rules.activate', 'rita:rules.propose', 'rita:rules.create'],
  );
  t.same(pageErrors, [], 'no script errors in the page');
});

t.test('console: the transaction explorer, a transaction page, and "block this card"', async (t) => {
  const sw = await startTestSwitch(t, 'console-explorer');
  const client = await sw.client();
  const pan = '4000056655665556';
  for (let i = 1; i <= 3; i++) {
    const r = await client.send(
      buildAuthorization({ stan: String(610000 + i), pan: i === 3 ? '5555555555554444' : pan, merchant: 'SHOP00000000001', amount: `${20 + i}.00` }),
    );
    t.equal(r.getString(39), '00');
  }
  const { page, pageErrors } = await loggedIn(t, sw.adminUrl, TOKENS.editor);
  await page.waitForSelector('#app-view:not(.hidden)');
  await page.fill('#q-last4', '5556');
  await page.fill('#q-code', '00');
  await page.click('#q-search');
  await page.waitForSelector('#transactions-table');
  t.equal(await page.locator('#transactions-table tbody tr').count(), 2, 'the two payments of the card ending 5556');
  await page.click('#transactions-table tbody tr >> nth=0');
  await page.waitForSelector('#txn-candidates');
  const text = (await page.textContent('#transaction')) ?? '';
  t.match(text, /PSP → switch/);
  t.match(text, /switch → acquirer/);
  t.match(text, /DE2=400005\*\*\*\*\*\*5556/, 'the messages show the masked PAN');
  t.notMatch(await page.content(), new RegExp(pan), 'never the full PAN');
  t.ok((await page.locator('#txn-candidates tbody tr').count()) >= 1, 'the candidates with their scores');
  await page.locator('#explorer-panel').screenshot({ path: path.join(SHOTS, '11-explorer-transaction.png') });

  await page.fill('#block-reason', 'reported stolen');
  await page.click('#block-card');
  await page.waitForSelector('dialog#confirm[open]');
  await page.click('#confirm-ok');
  await page.waitForSelector('#message:has-text("blocked: rules v2 active")');
  await until(
    () => sw.h.watcher.version,
    (v) => v === 2,
  );
  const again = await client.send(buildAuthorization({ stan: '610009', pan, merchant: 'SHOP00000000001', amount: '5.00' }));
  t.equal(again.getString(39), '59', 'the card is declined as blocked (fatal risk)');
  const other = await client.send(buildAuthorization({ stan: '610010', pan: '5555555555554444', merchant: 'SHOP00000000001', amount: '5.00' }));
  t.equal(other.getString(39), '00', 'another card is not');
  const v2 = await (await fetch(`${sw.adminUrl}/api/rules/versions/2`, { headers: { authorization: `Bearer ${TOKENS.viewer}` } })).json();
  t.equal(v2.files.risk.blocked.tokens.length, 1, 'one token in the blocklist');
  t.notMatch(JSON.stringify(v2.files), new RegExp(pan), 'the rules hold a token, not the PAN');
  t.match(v2.comment, /block the card of 400005\*\*\*\*\*\*5556/);

  // charts from the switch's own records: five authorizations in the hour (the blocked one declined locally)
  const series = await (
    await fetch(`${sw.adminUrl}/api/traffic/series?by=acquirer&window=hour`, { headers: { authorization: `Bearer ${TOKENS.viewer}` } })
  ).json();
  t.equal(series.buckets.length, 12, 'twelve 5-minute buckets');
  const total = series.series.reduce((n: number, x: { volume: number[] }) => n + x.volume.reduce((a, b) => a + b, 0), 0);
  t.equal(total, 5, 'every authorization counted once');
  const local = series.series.find((x: { key: string }) => x.key === '(none)');
  t.ok(local && local.approvalRate.some((r: number | null) => r === 0), 'the blocked card: a local decline, no acquirer');
  await page.selectOption('#chart-by', 'acquirer');
  await page.selectOption('#chart-window', 'hour');
  await page.click('#chart-draw');
  await page.waitForSelector('#chart-volume [data-series]');
  const drawn = await page.locator('#chart-volume [data-series]').evaluateAll((xs) => [...new Set(xs.map((x) => x.getAttribute('data-series')))].sort());
  t.same(drawn, series.series.map((x: { key: string }) => x.key).sort(), 'one line per acquirer');
  t.ok(await page.locator('#chart-approval [data-series]').count(), 'approval rate drawn');
  t.ok(await page.locator('#chart-latency [data-series]').count(), 'latency drawn');
  await page.locator('#charts-panel').screenshot({ path: path.join(SHOTS, '12-charts-by-acquirer.png') });
  await page.selectOption('#chart-by', 'rule');
  await page.click('#chart-draw');
  await page.waitForSelector('#chart-legend:has-text("eur-domestic-debit")');
  t.same(pageErrors, [], 'no script errors in the page');
});

t.test('console: the rule form changes a split and turns a terminal off, saving rule files the YAML editor shows', async (t) => {
  const sw = await startTestSwitch(t, 'console-form');
  const { page, pageErrors } = await loggedIn(t, sw.adminUrl, TOKENS.editor);
  await page.waitForSelector('#form-rule option[value="eur-domestic-debit"]', { state: 'attached' });
  await page.selectOption('#form-rule', 'eur-domestic-debit');
  await page.waitForSelector('#form-candidates tr[data-candidate="a-eur-2"]');
  await page.fill('#form-candidates tr[data-candidate="a-eur-2"] input.form-weight', '50');
  await page.dispatchEvent('#form-candidates tr[data-candidate="a-eur-2"] input.form-weight', 'change');
  await page.fill('#form-candidates tr[data-candidate="b-eur-1"] input.form-weight', '50');
  await page.dispatchEvent('#form-candidates tr[data-candidate="b-eur-1"] input.form-weight', 'change');
  await page.fill('#form-when-mcc', '5411, 5812');
  await page.dispatchEvent('#form-when-mcc', 'change');
  await page.uncheck('#form-enabled-b-eur-2');
  await page.fill('#form-comment', 'even split; b-eur-2 off for maintenance');
  await page.locator('#form-panel').screenshot({ path: path.join(SHOTS, '13-rule-form.png') });
  await page.click('#form-save');
  await page.waitForSelector('#message:has-text("Saved as v2")');
  await page.waitForSelector('#diff-view:not(.hidden)');

  const v2 = await (await fetch(`${sw.adminUrl}/api/rules/versions/2`, { headers: { authorization: `Bearer ${TOKENS.viewer}` } })).json();
  const rule = v2.files.routing.rules.find((r: { id: string }) => r.id === 'eur-domestic-debit');
  t.same(
    rule.then.terminals.map((c: { terminal: string; weight?: number }) => [c.terminal, c.weight ?? 'absent']),
    [
      ['a-eur-2', 50],
      ['b-eur-1', 50],
      ['c-eur-1', 'absent'],
    ],
    'the split; an untouched candidate as it was',
  );
  t.same(rule.when.mcc, ['5411', '5812'], 'a condition added');
  t.same(rule.when.currency, ['978'], 'the others kept');
  t.equal(v2.files.terminals.terminals.find((x: { id: string }) => x.id === 'b-eur-2').enabled, false, 'b-eur-2 off');
  const v1 = await (await fetch(`${sw.adminUrl}/api/rules/versions/1`, { headers: { authorization: `Bearer ${TOKENS.viewer}` } })).json();
  t.same(Object.keys(v2.files).sort(), Object.keys(v1.files).sort(), 'the same rule files');
  t.same(v2.files.fees, v1.files.fees, 'files the form does not touch are the same');
  // the YAML editor is now on v2 and shows what the form wrote
  await page.selectOption('#file', 'routing');
  await page.waitForFunction(() => (document.getElementById('yaml') as HTMLTextAreaElement).value.includes('weight: 50'));
  await page.selectOption('#file', 'terminals');
  await page.waitForFunction(() => /id: b-eur-2[\s\S]*?enabled: false/.test((document.getElementById('yaml') as HTMLTextAreaElement).value));
  t.match((await page.textContent('#editor-base')) ?? '', /v2/);
  t.same(pageErrors, [], 'no script errors in the page');
});
