import t from 'tap';
import { Writable } from 'node:stream';
import { createLogger, txLogLine, txRecord } from '../../src/log.js';

const PAN = '4111111111111111';
const TRACK2 = '4111111111111111=29121010000012345678';

function capture(): { stream: Writable; lines: () => Record<string, unknown>[]; raw: () => string } {
  let buf = '';
  const stream = new Writable({
    write(chunk: Buffer, _e, cb) {
      buf += chunk.toString('utf8');
      cb();
    },
  });
  return {
    stream,
    raw: () => buf,
    lines: () =>
      buf
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

t.test('redaction: PAN keys masked 6+4, track / CVV / PIN block / ICC removed, at any depth', async (t) => {
  const c = capture();
  const log = createLogger({ destination: c.stream, name: 'test' });
  log.info({ pan: PAN, track2: TRACK2, cvv: '123', pinBlock: 'A1B2C3D4E5F60708' }, 'top');
  log.info({ req: { de2: PAN, de35: TRACK2, de52: 'FFFF', de55: '9F02', headers: { authorization: 'Bearer secret-token' } } }, 'nested');
  log.info({ a: { b: { cardNumber: PAN, cvc2: '999' } } }, 'deep');
  log.info({ iso: { fields: { '2': PAN, '35': TRACK2, '4': '000000001000' } } }, 'fields');
  log.info({ fields: { '2': PAN, '45': 'B4111111111111111^DOE/JOHN^2912' } }, 'fields top');
  const raw = c.raw();
  t.notMatch(raw, new RegExp(PAN), 'no full PAN');
  t.notMatch(raw, /=2912101/, 'no track 2');
  t.notMatch(raw, /secret-token/);
  t.notMatch(raw, /"123"|"999"/, 'no CVV');
  const [top, nested, deep, fields, fieldsTop] = c.lines();
  t.equal(top!.pan, '411111******1111');
  t.equal(top!.track2, '[redacted]');
  t.equal(top!.cvv, '[redacted]');
  t.equal(top!.pinBlock, '[redacted]');
  t.same(nested!.req, { de2: '411111******1111', de35: '[redacted]', de52: '[redacted]', de55: '[redacted]', headers: { authorization: '[redacted]' } });
  t.same((deep!.a as { b: unknown }).b, { cardNumber: '411111******1111', cvc2: '[redacted]' });
  t.same((fields!.iso as { fields: unknown }).fields, { '2': '411111******1111', '35': '[redacted]', '4': '000000001000' });
  t.same(fieldsTop!.fields, { '2': '411111******1111', '45': '[redacted]' });
});

t.test('txLogLine: one JSON line with masked PAN, route and timings', async (t) => {
  const c = capture();
  const log = createLogger({ destination: c.stream });
  txLogLine(log, {
    txId: 'tx-1',
    psp: 'psp-alpha',
    mti: '0100',
    responseMti: '0110',
    stan: '000123',
    rrn: '000000000123',
    terminal: 'TERM0001',
    merchant: 'SHOP00000000001',
    pan: PAN,
    amountMinor: 1000n,
    currency: '978',
    responseCode: '00',
    class: 'approved',
    route: { acquirer: 'acq-a', terminal: 'a-eur-1', ruleId: 'eur', rulesVersion: 3 },
    risk: 'low',
    timings: { totalMs: 25.1234, acquirerMs: 20, routingMs: 0.2 },
  });
  txLogLine(log, {
    psp: 'psp-alpha',
    mti: '0100',
    pan: '411111******1111',
    class: 'error',
    errorCode: 'SW_ERR_LINK_TIMEOUT',
    route: null,
    timings: { totalMs: 5000 },
  });
  const lines = c.lines();
  t.equal(lines.length, 2);
  const [a, b] = lines;
  t.equal(a!.event, 'tx');
  t.equal(a!.level, 'info');
  t.equal(a!.panMasked, '411111******1111');
  t.equal(a!.amountMinor, '1000');
  t.same(a!.route, { acquirer: 'acq-a', terminal: 'a-eur-1', ruleId: 'eur', rulesVersion: 3 });
  t.same(a!.timings, { totalMs: 25.123, switchMs: 5.123, acquirerMs: 20, routingMs: 0.2 });
  t.equal(b!.level, 'warn');
  t.equal(b!.panMasked, '411111******1111');
  t.equal(b!.route, null);
  t.equal(b!.errorCode, 'SW_ERR_LINK_TIMEOUT');
  t.notMatch(c.raw(), new RegExp(PAN));
  t.notOk('pan' in txRecord({ psp: 'p', mti: '0100', pan: PAN, timings: { totalMs: 1 } }));
});

t.test('admin access log: route template, status, actor; never the raw URL', async (t) => {
  const { testDb } = await import('../helpers/db.js');
  const { buildAdminApp } = await import('../../src/admin/app.js');
  const { TOKEN_ENTRIES, TOKENS } = await import('../admin/fixtures.js');
  const c = capture();
  const db = await testDb(t);
  const app = await buildAdminApp({ pool: db.pool, tokens: TOKEN_ENTRIES, logger: createLogger({ destination: c.stream }) });
  t.teardown(() => app.close());
  await app.inject({ method: 'GET', url: `/api/transactions/${PAN}`, headers: { authorization: `Bearer ${TOKENS.viewer}` } });
  await app.inject({ method: 'GET', url: `/api/transactions?pan=${PAN}`, headers: { authorization: `Bearer ${TOKENS.viewer}` } });
  await app.inject({ method: 'GET', url: '/api/rules/versions', headers: { authorization: 'Bearer wrong' } });
  const lines = c.lines().filter((l) => l.event === 'admin_request');
  t.same(
    lines.map((l) => [l.method, l.route, l.status, l.actor]),
    [
      ['GET', '/api/transactions/:id', 501, 'vera'],
      ['GET', '/api/transactions', 400, 'vera'],
      ['GET', '/api/rules/versions', 401, null],
    ],
  );
  t.notMatch(c.raw(), new RegExp(PAN));
  t.notMatch(c.raw(), /viewer-token|wrong/, 'tokens never logged');
});
