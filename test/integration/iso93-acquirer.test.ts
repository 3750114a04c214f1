/**
 * A 1987 PSP and an ISO 8583:1993 acquirer, end to end (docs/codec.md, "ISO 8583:1993"): the switch translates
 * at the link. A relay between the switch and the 1993 simulator keeps the bytes, which are read here with the
 * plain iso93-ascii dialect (no translation), so each check is of what the acquirer really got and sent.
 */
import t from 'tap';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { loadDialect, IsoMessage } from '../../src/iso8583/index.js';
import { framerByName } from '../../src/wire/index.js';
import { startAcquirerSimulator } from '../../simulators/acquirer/index.js';
import { startTestSwitch, auth, capture, reversal, rc, txnOf, eventually, ledgerOn, ROOT } from '../helpers/switch.js';
import { wireTap } from '../helpers/wiretap.js';

const wire = loadDialect('iso93-ascii');

t.test('a 1987 PSP through the switch to a 1993 acquirer and back', async (t) => {
  const sim = await startAcquirerSimulator({
    dialect: 'iso93-ascii',
    framer: framerByName('binary2'),
    port: 0,
    control: false,
    behaviour: {
      defaultResponseCode: '00',
      rules: [
        { when: { panSuffix: '0002' }, respond: '51' },
        { when: { amountMin: 1_901, amountMax: 1_901 }, respond: '190' }, // the acquirer's own code, mapped by action_codes
        { when: { amountMin: 1_951, amountMax: 1_951 }, respond: '195' }, // unmapped: read by its class (1xx denied)
        { when: { amountMin: 1_777, amountMax: 1_777, mti: ['0100'] }, action: 'drop' },
      ],
    },
  });
  t.teardown(() => sim.close());
  const tap = await wireTap('127.0.0.1', sim.port);
  t.teardown(() => tap.close());

  const rulesDir = mkdtempSync(path.join(os.tmpdir(), 'iso93-rules-'));
  t.teardown(() => rmSync(rulesDir, { recursive: true, force: true }));
  cpSync(path.join(ROOT, 'rules'), rulesDir, { recursive: true });
  const acqFile = path.join(rulesDir, 'acquirers.yaml');
  const acqs = parseYaml(readFileSync(acqFile, 'utf8')) as {
    acquirers: Array<{ id: string; link: Record<string, unknown> & { timeouts_ms: Record<string, number> } }>;
  };
  const a = acqs.acquirers.find((x) => x.id === 'acq-a')!;
  Object.assign(a.link, { port: tap.port, dialect: 'iso93-ascii', framer: 'binary2', connections: 1, action_codes: { '190': '61' } });
  a.link.timeouts_ms.echo_interval = 1_000;
  writeFileSync(acqFile, stringifyYaml(acqs));
  const routingFile = path.join(rulesDir, 'routing.yaml');
  const routing = parseYaml(readFileSync(routingFile, 'utf8')) as { rules: Array<{ default?: boolean }> };
  routing.rules = [
    { id: 'iso93', when: { currency: ['978'] }, then: { terminals: [{ terminal: 'a-eur-1', priority: 1 }] } } as object,
    ...routing.rules.filter((r) => r.default === true),
  ];
  writeFileSync(routingFile, stringifyYaml(routing));

  const s = await startTestSwitch(t, { overrides: { rulesDir, acquirerTimeoutMs: 600 } });
  const ledger = await ledgerOn(t, s.db.pool);
  const exchanged = (acqStan: string): { req: IsoMessage; res: IsoMessage } => {
    const req = tap
      .sent()
      .map((b) => wire.unpack(b))
      .find((m) => m.get(11) === acqStan && !m.mti.startsWith('18'));
    const res = tap
      .received()
      .map((b) => wire.unpack(b))
      .find((m) => m.get(11) === acqStan && !m.mti.startsWith('18'));
    if (!req || !res) throw new Error(`no 1993 exchange with STAN ${acqStan} on the wire`);
    return { req, res };
  };

  await t.test('authorization: 1100/1110 on the wire, 0110 to the PSP', async (t) => {
    const req = auth({ amount: 2_500 });
    const res = await s.client.send(req);
    t.equal(res.mti, '0110');
    t.equal(rc(res), '00', 'approved');
    t.match(res.getString(38), /^[A-Za-z0-9]{6}$/, 'with the approval code');
    const row = (await txnOf(s.db.pool, req))!;
    t.equal(row.acquirer, 'acq-a');
    const w = exchanged(row.acq_stan!);
    t.equal(w.req.mti, '1100');
    t.equal(w.req.get(24), '100', 'function code: original authorization');
    t.match(w.req.get(12), /^[0-9]{2}1122120000$/, 'DE12 YYMMDDhhmmss from 1987 DE12 and DE13');
    t.equal(w.req.get(13), undefined, '1987 DE13 is inside DE12; 1993 DE13 is another field');
    t.equal(w.req.get(22), '50000050000C', 'DE22 the 12-position POS data code: ICC capable and read (5), PIN capture up to 12 (C)');
    t.equal(w.req.get(4), '000000002500');
    t.equal(w.res.mti, '1110');
    t.equal(w.res.get(39), '000', 'the action code is 3 digits');
    const plan = await ledger.plan(row.id);
    t.equal(plan?.state, 'HOLD', 'held');
    t.equal(plan?.amount, 2_500n);
  });

  await t.test('declines: the standard map, the acquirer map, and a code read by its class', async (t) => {
    for (const [o, wireCode, pspCode] of [
      [{ pan: '4111111111110002', amount: 1_200 }, '116', '51'],
      [{ amount: 1_901 }, '190', '61'],
      [{ amount: 1_951 }, '195', '05'],
    ] as const) {
      const req = auth(o);
      t.equal(rc(await s.client.send(req)), pspCode, `${wireCode} on the wire is ${pspCode} to the PSP`);
      const row = (await txnOf(s.db.pool, req))!;
      t.equal(exchanged(row.acq_stan!).res.get(39), wireCode);
      t.equal(row.state, 'declined');
    }
  });

  await t.test('capture: 1220/1230 with function code 201', async (t) => {
    const orig = auth({ amount: 4_000 });
    t.equal(rc(await s.client.send(orig)), '00');
    const cap = capture(orig, 4_000);
    const res = await s.client.send(cap);
    t.equal(res.mti, '0230');
    t.equal(rc(res), '00');
    const sent = tap
      .sent()
      .map((b) => wire.unpack(b))
      .filter((m) => m.mti === '1220');
    const origRow = (await txnOf(s.db.pool, orig))!;
    const w = sent.find((m) => typeof m.get(56) === 'string' && (m.get(56) as string).startsWith(`1100${origRow.acq_stan}`));
    t.ok(w, '1220 names its original in DE56 (1993 MTI, STAN, date and time)');
    t.equal(w?.get(24), '201');
    t.equal(w?.get(90), undefined, 'no 1987 DE90');
    t.equal(exchanged(w!.getString(11)!).res.mti, '1230');
  });

  await t.test('reversals: full (1400, 400) and partial (401, DE30 the original)', async (t) => {
    const full = auth({ amount: 3_000 });
    t.equal(rc(await s.client.send(full)), '00');
    const r1 = await s.client.send(reversal(full));
    t.equal(r1.mti, '0410');
    t.equal(rc(r1), '00');
    const fullRow = (await txnOf(s.db.pool, full))!;
    await eventually(async () => (await txnOf(s.db.pool, full))!.state === 'reversed', 'reversed');
    const w1 = tap
      .sent()
      .map((b) => wire.unpack(b))
      .find((m) => m.mti === '1400' && String(m.get(56)).startsWith(`1100${fullRow.acq_stan}`));
    t.equal(w1?.get(24), '400', 'full reversal');
    t.equal(exchanged(w1!.getString(11)!).res.get(39), '400', 'accepted (400), read as 00');
    t.equal((await ledger.plan(fullRow.id))?.state, 'ROLLBACK', 'released');

    const part = auth({ amount: 3_000 });
    t.equal(rc(await s.client.send(part)), '00');
    const pr = reversal(part).set(95, `${'000000001000'}${'0'.repeat(12)}C00000000C00000000`);
    t.equal(rc(await s.client.send(pr)), '00');
    const partRow = (await txnOf(s.db.pool, part))!;
    const w2 = await eventually(
      () =>
        tap
          .sent()
          .map((b) => wire.unpack(b))
          .find((m) => m.mti === '1400' && String(m.get(56)).startsWith(`1100${partRow.acq_stan}`)),
      'the partial reversal on the wire',
    );
    t.equal(w2.get(24), '401', 'partial reversal');
    t.equal(w2.get(4), '000000001000', '1993 DE4: the amount that stands');
    t.equal(String(w2.get(30)).slice(0, 12), '000000003000', 'DE30: the original amount');
    await eventually(async () => (await ledger.plan(partRow.id))?.finalAmount === 1_000n, 'the difference released');
    t.equal((await ledger.plan(partRow.id))?.state, 'HOLD', 'the rest still held');
  });

  await t.test('no answer: the timeout reversal goes out as 1420', async (t) => {
    const req = auth({ amount: 1_777 });
    t.equal(rc(await s.client.send(req)), '91');
    const row = (await txnOf(s.db.pool, req))!;
    await eventually(async () => (await txnOf(s.db.pool, req))!.state === 'reversed', 'reversed by the queued 1420');
    const w = tap
      .sent()
      .map((b) => wire.unpack(b))
      .find((m) => m.mti === '1420' && String(m.get(56)).startsWith(`1100${row.acq_stan}`));
    t.equal(w?.get(24), '400');
    t.equal(exchanged(w!.getString(11)!).res.mti, '1430');
  });

  await t.test('network management: the link echo is 1804 (831), answered 1814 (800)', async (t) => {
    const echo = await eventually(
      () =>
        tap
          .sent()
          .map((b) => wire.unpack(b))
          .find((m) => m.mti === '1804' && m.get(24) === '831'),
      'an echo on the wire',
      10_000,
    );
    t.equal(echo.get(70), undefined, 'no 1987 DE70');
    const answer = await eventually(
      () =>
        tap
          .received()
          .map((b) => wire.unpack(b))
          .find((m) => m.mti === '1814' && m.get(11) === echo.get(11)),
      'its answer',
      10_000,
    );
    t.equal(answer.get(39), '800');
    t.equal(answer.get(24), '831');
  });

  t.ok((await ledger.check()).ok, 'ledger:check');
  t.equal(sim.stats.unpackErrors, 0, 'the 1993 simulator read every message');
});
