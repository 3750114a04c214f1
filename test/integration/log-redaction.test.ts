/**
 * No card data in any log line. Two parts:
 *  1. The real switch at debug level, writing every line to a file, is fed authorizations carrying a full
 *     PAN, track 2 (DE35), track 1 (DE45) and a PIN block (DE52); broken frames with a PAN inside; an
 *     acquirer that never answers (timeouts, reversals, SAF); admin API requests with a PAN where it does not
 *     belong. Every line is then scanned.
 *  2. Every *.log file in the integration log directory (test-artifacts/logs, or SWITCH_TEST_LOG_DIR), as the
 *     console and Prometheus tests leave them, plus any file listed in SWITCH_LOG_FILES (comma-separated),
 *     e.g. a staging switch's log: point the scan at the switch's logs with that variable.
 * A scan flags: known test secrets verbatim, Luhn-valid PAN-like numbers, track 1/2 patterns, CVV under a key.
 */
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { buildAuthorization } from '../../simulators/psp/index.js';
import { encodeFrame } from '../../src/wire/index.js';
import { findCardData, LOG_DIR, startTestSwitch } from '../admin/harness.js';
import { TOKENS } from '../admin/fixtures.js';

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
  t.same(findCardData('{"panMasked":"400005******5556","stan":"000123","rrn":"000000000123","at":1763829612345,"hash":"a1b2c3d4e5f60718293a4b5c6d7e8f90"}'), [], 'masked PAN, ids, epoch ms and hashes are fine');
});

t.test('the switch logs no card data, whatever it is fed', async (t) => {
  const sw = await startTestSwitch(t, 'log-redaction', undefined, { acquirerTimeoutMs: 1500 });
  const client = await sw.client();
  const codec = client.codec;
  let stan = 700000;
  const auth = (pan: string, extra: (m: ReturnType<typeof buildAuthorization>) => void = () => undefined) => {
    const m = buildAuthorization({ stan: String(stan++), pan, merchant: 'SHOP00000000001', amount: '12.34' });
    extra(m);
    return m;
  };
  // approvals with track data and a PIN block on board
  for (let i = 0; i < 5; i++) {
    const r = await client.send(auth(i % 2 ? PAN : PAN2, (m) => {
      m.set(35, TRACK2);
      m.set(45, TRACK1);
      m.set(52, Buffer.from('0123456789ABCDEF', 'hex'));
    }));
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
  for (const a of sw.h.acquirers.all()) a.simulator?.setBehaviour({ faults: { neverAnswer: 1 } });
  const timeouts = await Promise.all([0, 1, 2].map(() => client.send(auth(PAN, (m) => m.set(35, TRACK2)), { timeoutMs: 30_000 }).catch(() => null)));
  t.ok(timeouts.some((r) => r !== null), 'the switch answers even when the acquirer does not');
  for (const a of sw.h.acquirers.all()) a.simulator?.setBehaviour({ faults: { neverAnswer: 0 } });
  await new Promise((r) => setTimeout(r, 1500)); // let SAF send the reversals
  // admin API: a PAN where it does not belong
  const h = { authorization: `Bearer ${TOKENS.viewer}` };
  for (const url of [`/api/transactions?pan=${PAN}`, `/api/transactions/${PAN}`, `/api/nothing/${PAN}`, `/api/ledger/plans/${PAN}`]) {
    const r = await fetch(`${sw.adminUrl}${url}`, { headers: h });
    t.notMatch(await r.text(), new RegExp(PAN), `${url}: not echoed`);
  }
  const ev = await fetch(`${sw.adminUrl}/api/rules/evaluate`, { method: 'POST', headers: { ...h, 'content-type': 'application/json' }, body: JSON.stringify({ context: { bin: PAN, cardToken: TRACK2, amountMinor: 1, currency: '978', merchantId: 'SHOP00000000001', psp: 'psp-alpha', cvv: CVV } }) });
  t.equal(ev.status, 400);
  t.notMatch(await ev.text(), new RegExp(PAN));
  const badJson = await fetch(`${sw.adminUrl}/api/rules/validate`, { method: 'POST', headers: { ...h, 'content-type': 'application/json' }, body: `{"files": ${PAN}, "cvv": "${CVV}"` });
  t.notMatch(await badJson.text(), new RegExp(PAN));

  await new Promise((r) => setTimeout(r, 300));
  await sw.h.stop();
  const text = fs.readFileSync(sw.logFile, 'utf8');
  const lines = text.split('\n').filter(Boolean);
  t.ok(lines.length > 20, `the switch logged (${lines.length} lines)`);
  t.ok(lines.some((l) => /"event":"tx"/.test(l) && /"panMasked":"(400005|555555)\*{6}(5556|4444)"/.test(l)), 'transaction lines carry the masked PAN');
  t.same(findCardData(text, SECRETS), [], 'no card data in the switch log');
});

t.test('every integration log file is free of card data', async (t) => {
  const files = fs.existsSync(LOG_DIR) ? fs.readdirSync(LOG_DIR).filter((f) => f.endsWith('.log')).map((f) => path.join(LOG_DIR, f)) : [];
  for (const f of (process.env.SWITCH_LOG_FILES ?? '').split(',').map((s) => s.trim()).filter(Boolean)) files.push(f);
  t.ok(files.length >= 1, `log files to scan: ${files.length}`);
  for (const f of files) {
    const hits = findCardData(fs.readFileSync(f, 'utf8'), SECRETS);
    t.same(hits, [], path.relative(process.cwd(), f));
  }
});
