import t from 'tap';
import { spawn } from 'node:child_process';
import { startAcquirerSimulator } from '../../simulators/acquirer/index.js';
import { amountToDe4, buildAuthorization, parseLoadArgs, parseSendArgs, runLoad, runSend, testCards, type LoadOptions } from '../../simulators/psp/index.js';
import { childEnv } from '../helpers/node-args.js';

t.test('amount flag → DE4 minor units', async (t) => {
  t.equal(amountToDe4('12.34'), '000000001234');
  t.equal(amountToDe4('12.3'), '000000001230');
  t.equal(amountToDe4('1500'), '000000150000');
  t.equal(amountToDe4('0.05'), '000000000005');
  t.throws(() => amountToDe4('1,00'), { code: 'SW_ERR_CONFIG_INVALID' });
  t.throws(() => amountToDe4('12.345'), { code: 'SW_ERR_CONFIG_INVALID' });
});

t.test('buildAuthorization fills the usual fields and validates flags', async (t) => {
  const m = buildAuthorization({ stan: '000042', pan: '4000000000000002', amount: '1.00', currency: '840', merchant: 'SHOP', terminal: 'T1', expiry: '2812' });
  t.equal(m.mti, '0100');
  t.equal(m.getString(4), '000000000100');
  t.equal(m.getString(41), 'T1      ');
  t.equal(m.getString(42), 'SHOP           ');
  t.equal(m.getString(49), '840');
  t.equal(m.getString(14), '2812');
  t.match(m.getString(7), /^\d{10}$/);
  t.equal(m.getString(37)!.length, 12);
  t.throws(() => buildAuthorization({ stan: '1', pan: '41' }), { code: 'SW_ERR_CONFIG_INVALID' });
  t.throws(() => buildAuthorization({ stan: '1', mti: '01' }), { code: 'SW_ERR_CONFIG_INVALID' });
  t.throws(() => buildAuthorization({ stan: '1', currency: 'EUR' }), { code: 'SW_ERR_CONFIG_INVALID' });
});

t.test('send: prints request and response readably, PAN masked', async (t) => {
  const sim = await startAcquirerSimulator({
    dialect: 'iso87-ascii',
    framer: { header: 'ascii4' },
    control: false,
    behaviour: { rules: [{ when: { panSuffix: '0002' }, respond: '05' }] },
  });
  t.teardown(() => sim.close());
  const o = parseSendArgs([
    '--port',
    String(sim.port),
    '--dialect',
    'iso87-ascii',
    '--framer',
    'ascii4',
    '--pan',
    '4000000000000002',
    '--amount',
    '12.34',
    '--merchant',
    'SHOP1',
    '--terminal',
    'T1',
    '--stan',
    '77',
  ]);
  const { out, code } = await runSend(o);
  t.equal(code, 0);
  t.match(out, /→ 0100 to 127\.0\.0\.1/);
  t.match(out, /← 0110 in [\d.]+ ms: 05 do not honour/);
  t.match(out, /400000\*\*\*\*\*\*0002/);
  t.notMatch(out, /4000000000000002/, 'no full PAN');
  t.match(out, /DE11 .* 000077/);
  const json = await runSend({ ...o, json: true, stan: '78', pan: '4111111111111111' });
  const parsed = JSON.parse(json.out) as { response: Record<string, string> };
  t.equal(parsed.response['39'], '00');
  t.equal(parsed.response['2'], '411111******1111');
  t.equal(sim.journal.count({ direction: 'in', stan: '000077' }), 1);
});

t.test('load: closed loop and open loop report consistent figures', async (t) => {
  const sim = await startAcquirerSimulator({ dialect: 'iso87-binary', control: false, behaviour: { rules: [{ when: { amountMin: 100000 }, respond: '51' }] } });
  t.teardown(() => sim.close());
  const base: LoadOptions = {
    ...parseLoadArgs(['--port', String(sim.port), '--dialect', 'iso87-binary', '--duration', '1', '--connections', '2', '--depth', '8']),
    progress: false,
    cardSeed: 1,
  };
  const lines: string[] = [];
  const r = await runLoad(base, (l) => lines.push(l));
  t.ok(r.sent > 0);
  t.equal(r.answered + r.timeouts + r.errors, r.sent, 'every request accounted for');
  t.equal(r.response_codes['00'], r.answered);
  t.ok(r.duration_s >= 1, `ran the full second asked for (${r.duration_s} s)`);
  // (duration_s is rounded to the millisecond: 0.1% of slack)
  t.ok(
    Math.abs(r.throughput_per_s - r.answered / r.duration_s) <= r.throughput_per_s * 0.001 + 0.1,
    `throughput ${r.throughput_per_s}/s is answers per second of the run`,
  );
  // Closed loop: each of the 2 × 8 workers always has one request out, so the latencies add up to about 16 times
  // the run (Little's law) whatever the machine's speed; a unit slip (µs or s for ms) would be off by 1000.
  const busy = (r.answered * r.latency_ms.mean) / (2 * 8 * r.duration_s * 1000);
  t.ok(busy > 0.3 && busy <= 1.02, `answers × mean latency = ${busy.toFixed(3)} × 16 workers × the run`);
  t.ok(lines.length >= 1, 'progress was reported');
  t.match(lines[0], /sent \d+ {2}ok \d+/);
  const declined = await runLoad({ ...base, amount: '1000.00', rate: 300, depth: 4 });
  t.equal(declined.answered + declined.timeouts + declined.errors, declined.sent);
  t.equal(declined.response_codes['51'], declined.answered);
  t.ok(declined.sent > 0);
  t.throws(() => parseLoadArgs(['--connections', '0']));
});

t.test('load CLI prints a table and a last line of JSON', async (t) => {
  const sim = await startAcquirerSimulator({ dialect: 'iso87-ascii-bbitmap', control: false });
  t.teardown(() => sim.close());
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'simulators/psp/load.ts', '--port', String(sim.port), '--duration', '0.5', '--connections', '1', '--depth', '4', '--no-progress'],
    {
      cwd: new URL('../../', import.meta.url).pathname,
      env: childEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += String(c)));
  const code = await new Promise((r) => child.once('exit', r));
  t.equal(code, 0);
  const lines = out.trim().split('\n');
  const last = JSON.parse(lines[lines.length - 1]!) as { answered: number; throughput_per_s: number; latency_ms: { p99: number } };
  t.ok(last.answered > 0);
  t.match(out, /throughput/);
});

t.test('load test cards: a new card per request, never the decline card, seeded', async (t) => {
  const next = testCards(999_998);
  const pans = Array.from({ length: 5 }, () => next());
  t.same(pans.slice(0, 3), ['4111119999981111', '4111119999991111', '4111110000001111'], 'from the seed on, wrapping at a million');
  t.equal(new Set(pans).size, 5, 'all different');
  for (const p of pans) t.match(p, /^411111\d{6}1111$/, 'masked 411111******1111, never ending in 0002');
  t.same(Array.from({ length: 3 }, testCards(7)), Array.from({ length: 3 }, testCards(7)), 'the same seed gives the same cards');
});
