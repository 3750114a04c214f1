/**
 * No card data in any log line. Two parts:
 *  1. The real switch at debug level, writing every line to a file, is fed authorizations carrying a full
 *     PAN, track 2 (DE35), track 1 (DE45) and a PIN block (DE52); broken frames with a PAN inside; an
 *     acquirer that never answers (timeouts, reversals, SAF); admin API requests with a PAN where it does not
 *     belong. Every line is then scanned.
 *  2. The admin paths the console and Prometheus tests drive (log-in with a wrong token, rule versions:
 *     validate, backtest, evaluate, save, activate, roll back, a viewer refused; a /metrics scrape), each fed
 *     card data, on a switch whose log this test writes itself; plus any file listed in SWITCH_LOG_FILES
 *     (comma-separated), e.g. a staging switch's log: point the scan at the switch's logs with that variable.
 *     (It used to scan the logs other test files had left in test-artifacts/logs: whatever ran before.)
 * A scan flags: known test secrets verbatim, Luhn-valid PAN-like numbers, track 1/2 patterns, CVV under a key.
 */
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { buildAuthorization } from '../../simulators/psp/index.js';
import { encodeFrame } from '../../src/wire/index.js';
import { findCardData, startTestSwitch } from '../admin/harness.js';
import { TOKENS } from '../admin/fixtures.js';
import { eventually } from '../helpers/wait.js';

const PAN = '4000056655665556';
const PAN2 = '5555555555554444';
const TRACK2 = `${PAN}=29121010000012300000`;
const TRACK1 = `B${PAN}^DOE/JANE^2912101000000123000000`;
const CVV = '737';
const SECRETS = [PAN, PAN2, TRACK2, TRACK1, '2912101000'];

t.test('the scanner finds what it must find (self-test)', async (t) => {
  t.ok(findCardData(`{"msg":"x","pan":"${PAN}"}`).length > 0, 'a full PAN');
  t.ok(findCardData(`{"de35":"${TRACK2}"}`).length > 0, 'track 2');
  t.ok(findCardData(`{"t1":"%${TRACK1}?"}`).length > 0, 'track 1');
  t.ok(findCardData(`{"cvv":"${CVV}"}`).length > 0, 'CVV under a key');
  t.ok(findCardData('pan 400005...', [PAN.slice(0, 10)]).length === 0);
  t.same(
    findCardData('{"panMasked":"400005******5556","stan":"000123","rrn":"000000000123","at":1763829612345,"hash":"a1b2c3d4e5f60718293a4b5c6d7e8f90"}'),
    [],
    'masked PAN, ids, epoch ms and hashes are fine',
  );
});

t.test('the switch logs no card data, whatever it is fed', async (t) => {
  const sw = await startTestSwitch(t, 'log-redaction', undefined, { acquirerTimeoutMs: 1500 });
  const client = await sw.client();
  let stan = 700000;
  const auth = (pan: string, extra: (m: ReturnType<typeof buildAuthorization>) => void = () => undefined) => {
    const m = buildAuthorization({ stan: String(stan++), pan, merchant: 'SHOP00000000001', amount: '12.34' });
    extra(m);
    return m;
  };
  // requests with track data and a PIN block on board: with no key store the PIN block cannot be translated, so
  // they are declined (responseCodes.pinError) and logged, which is what the scan needs (docs/security.md)
  for (let i = 0; i < 5; i++) {
    const r = await client.send(
      auth(i % 2 ? PAN : PAN2, (m) => {
        m.set(35, TRACK2);
        m.set(45, TRACK1);
        m.set(52, Buffer.from('0123456789ABCDEF', 'hex'));
      }),
    );
    t.match(r.getString(39), /^\d\d$/);
  }
  // a duplicate, an unknown merchant, a format error (DE4 not numeric)
  const dup = auth(PAN);
  await client.send(dup);
  await client.send(dup).catch(() => undefined);
  await client.send(buildAuthorization({ stan: String(stan++), pan: PAN, merchant: 'NOSUCHMERCHANT1' })).catch(() => undefined);
  // broken frames with a PAN inside: unpack errors must not dump the bytes
  client.sendRaw(encodeFrame(sw.h.psp.options.framer, Buffer.from(`0100F23C4000000000000000000000000000${PAN}=2912garbage`)));
  client.sendRaw(encodeFrame(sw.h.psp.options.framer, Buffer.from(`01007234000000000000160${PAN}00000000001234XYZ`)));
  // an acquirer that never answers: timeouts, 91s, reversals queued and sent
  for (const sim of sw.sims.values()) sim.setBehaviour({ faults: { neverAnswer: 1 } });
  const timeouts = await Promise.all(
    [0, 1, 2].map(() =>
      client
        .send(
          auth(PAN, (m) => m.set(35, TRACK2)),
          { timeoutMs: 30_000 },
        )
        .catch(() => null),
    ),
  );
  t.ok(
    timeouts.some((r) => r !== null),
    'the switch answers even when the acquirer does not',
  );
  for (const sim of sw.sims.values()) sim.setBehaviour({ faults: { neverAnswer: 0 } });
  // SAF sends the reversals of the timeouts (their log lines are part of the scan): waited for in its queue
  await eventually(
    async () => {
      const { rows } = await sw.db.pool.query<{ open: number; n: number }>(
        'select count(*)::int as n, (count(*) filter (where done_at is null))::int as open from switch_saf',
      );
      return rows[0]!.n > 0 && rows[0]!.open === 0;
    },
    'the reversals delivered',
    30_000,
  );
  // admin API: a PAN where it does not belong
  const h = { authorization: `Bearer ${TOKENS.viewer}` };
  for (const url of [`/api/transactions?pan=${PAN}`, `/api/transactions/${PAN}`, `/api/nothing/${PAN}`, `/api/ledger/plans/${PAN}`]) {
    const r = await fetch(`${sw.adminUrl}${url}`, { headers: h });
    t.notMatch(await r.text(), new RegExp(PAN), `${url}: not echoed`);
  }
  const ev = await fetch(`${sw.adminUrl}/api/rules/evaluate`, {
    method: 'POST',
    headers: { ...h, 'content-type': 'application/json' },
    body: JSON.stringify({
      context: { bin: PAN, cardToken: TRACK2, amountMinor: 1, currency: '978', merchantId: 'SHOP00000000001', psp: 'psp-alpha', cvv: CVV },
    }),
  });
  t.equal(ev.status, 400);
  t.notMatch(await ev.text(), new RegExp(PAN));
  const badJson = await fetch(`${sw.adminUrl}/api/rules/validate`, {
    method: 'POST',
    headers: { ...h, 'content-type': 'application/json' },
    body: `{"files": ${PAN}, "cvv": "${CVV}"`,
  });
  t.notMatch(await badJson.text(), new RegExp(PAN));

  await sw.h.stop(); // every line written (the destination is synchronous)
  const text = fs.readFileSync(sw.logFile, 'utf8');
  const lines = text.split('\n').filter(Boolean);
  t.ok(lines.length > 20, `the switch logged (${lines.length} lines)`);
  t.ok(
    lines.some((l) => /"event":"tx"/.test(l) && /"panMasked":"(400005|555555)\*{6}(5556|4444)"/.test(l)),
    'transaction lines carry the masked PAN',
  );
  t.same(findCardData(text, SECRETS), [], 'no card data in the switch log');
});

t.test('the admin paths the console and Prometheus drive log no card data (this test writes the log it scans)', async (t) => {
  const sw = await startTestSwitch(t, 'log-redaction-admin');
  const client = await sw.client();
  // traffic with card data on board: the backtest replays it, the metrics count it
  let stan = 710000;
  for (let i = 0; i < 6; i++) {
    const m = buildAuthorization({ stan: String(stan++), pan: i % 2 ? PAN : PAN2, merchant: 'SHOP00000000001', amount: `${10 + i}.00` });
    m.set(35, TRACK2);
    t.match((await client.send(m)).getString(39), /^\d\d$/);
  }
  const api = async (method: string, url: string, body?: unknown, token: string = TOKENS.editor) => {
    const r = await fetch(`${sw.adminUrl}${url}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    // (the answers may show it: a rule's text and comments are the risk team's own; what is checked is the log)
    const text = await r.text();
    return {
      status: r.status,
      json: (() => {
        try {
          return JSON.parse(text) as Record<string, any>;
        } catch {
          return {};
        }
      })(),
    };
  };
  // the console's calls, in its order: a wrong token first (one with a PAN in it), then the editor's session
  t.equal((await api('GET', '/api/whoami', undefined, `wrong-${PAN}`)).status, 401);
  t.equal((await api('GET', '/api/whoami')).status, 200);
  await api('GET', '/api/acquirers');
  const versions = await api('GET', '/api/rules/versions?limit=50');
  const active = versions.json.active.version as number;
  const shown = await api('GET', `/api/rules/versions/${active}`);
  const routing = shown.json.yaml.routing as string;
  const at = routing.indexOf('rules:\n') + 'rules:\n'.length;
  const rule = (terminal: string) =>
    [
      '  - id: redaction-test',
      `    description: card ${PAN} track ${TRACK2}`,
      '    when:',
      '      merchant:',
      '        - SHOP00000000001',
      '    then:',
      '      terminals:',
      `        - terminal: ${terminal}`,
      '          priority: 1',
      '',
    ].join('\n');
  const edited = (terminal: string) => routing.slice(0, at) + rule(terminal) + routing.slice(at);
  const bad = await api('POST', '/api/rules/validate', { base: active, files: { routing: edited(`c-eur-${PAN}`) } });
  t.equal(bad.json.valid, false, 'an unknown terminal (named with a PAN) is a problem');
  t.equal((await api('POST', '/api/rules/validate', { base: active, files: { routing: edited('c-eur-1') } })).json.valid, true);
  t.equal((await api('POST', '/api/rules/backtest', { base: active, files: { routing: edited('c-eur-1') }, limit: 2000 })).status, 200);
  await api('POST', '/api/rules/evaluate', {
    base: active,
    files: { routing: edited('c-eur-1') },
    context: { bin: PAN.slice(0, 8), cardToken: TRACK2, amountMinor: 1500, currency: '978', merchantId: 'SHOP00000000001', psp: 'psp-alpha' },
  });
  const saved = await api('POST', '/api/rules/versions', { base: active, files: { routing: edited('c-eur-1') }, comment: `pinned for card ${PAN}` });
  t.equal(saved.status < 300, true, `saved as v${saved.json.version}`);
  await api('GET', `/api/rules/diff?from=${active}&to=${saved.json.version}`);
  t.equal(
    (await api('POST', `/api/rules/versions/${saved.json.version}/activate`, { comment: `activated ${PAN}` }, TOKENS.viewer)).status,
    403,
    'a viewer may not activate',
  );
  t.equal((await api('POST', `/api/rules/versions/${saved.json.version}/activate`, { comment: `activated ${PAN}` })).status < 300, true, 'activated');
  t.equal((await api('POST', '/api/rules/rollback', { comment: `rolled back ${TRACK1}` })).status < 300, true, 'rolled back');
  await api('GET', '/api/audit', undefined, TOKENS.viewer);
  // what Prometheus scrapes
  const metrics = await fetch(`${sw.adminUrl}/metrics`);
  t.equal(metrics.status, 200);
  t.notMatch(await metrics.text(), new RegExp(PAN), 'no PAN in the metrics');

  await sw.h.stop(); // every line written (the destination is synchronous)
  const text = fs.readFileSync(sw.logFile, 'utf8');
  t.ok(text.split('\n').filter(Boolean).length > 10, 'the switch logged');
  t.same(findCardData(text, SECRETS), [], 'no card data in the log of these paths');
  // a log of a switch elsewhere, named by the operator
  for (const f of (process.env.SWITCH_LOG_FILES ?? '')
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean)) {
    t.same(findCardData(fs.readFileSync(f, 'utf8'), SECRETS), [], path.relative(process.cwd(), f));
  }
});
