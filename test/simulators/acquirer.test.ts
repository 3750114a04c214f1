import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { loadDialect } from '../../src/iso8583/index.js';
import { IsoMessage } from '../../src/iso8583/message.js';
import { createFramer } from '../../src/wire/index.js';
import { PspClient } from '../../simulators/psp/client.js';
import { parseSimulatorConfig, startAcquirerSimulator, Rng, type AcquirerSimulator, type AcquirerSimulatorOptions } from '../../simulators/acquirer/index.js';
import { authRequest, settle, stanOf, waitFor } from '../helpers/net.js';
import { eventually } from '../helpers/wait.js';
import { childEnv } from '../helpers/node-args.js';

const codec = loadDialect('iso87-binary');
const framer = createFramer();

async function sim(t: { teardown(f: () => unknown): void }, opts: AcquirerSimulatorOptions = {}): Promise<{ s: AcquirerSimulator; c: PspClient }> {
  const s = await startAcquirerSimulator({ codec, framer, seed: 3, ...opts });
  const c = await PspClient.connect({ port: s.port, codec, framer, timeoutMs: 10_000 });
  t.teardown(async () => {
    await c.close();
    await s.close();
  });
  return { s, c };
}

async function http(url: string, method = 'GET', body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const r = await fetch(url, { method, ...(body !== undefined ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}) });
  return { status: r.status, json: (await r.json()) as Record<string, unknown> };
}

t.test('answers every request class with the right response MTI', async (t) => {
  const { c } = await sim(t);
  const cases: [string, string][] = [
    ['0100', '0110'],
    ['0200', '0210'],
    ['0220', '0230'],
    ['0400', '0410'],
    ['0420', '0430'],
    ['0421', '0430'],
  ];
  let i = 0;
  for (const [req, resp] of cases) {
    const r = await c.send(authRequest(stanOf(++i), { mti: req }));
    t.equal(r.mti, resp, `${req} → ${resp}`);
    t.equal(r.getString(39), '00');
  }
  const echo = await c.send(new IsoMessage('0800', { 7: '1122120000', 11: '000099', 70: '301' }));
  t.same([echo.mti, echo.getString(39), echo.getString(70), echo.getString(11)], ['0810', '00', '301', '000099']);
});

t.test('approvals carry DE38 and DE39 00 and echo the RRN; no DE38 on declines', async (t) => {
  const { c } = await sim(t, { behaviour: { rules: [{ when: { panSuffix: '0002' }, respond: '05' }] } });
  const ok = await c.send(authRequest('000001'));
  t.equal(ok.getString(39), '00');
  t.match(ok.getString(38), /^[0-9A-Z]{6}$/);
  t.equal(ok.getString(37), '000000000001');
  const no = await c.send(authRequest('000002', { pan: '5500000000000002' }));
  t.equal(no.getString(39), '05');
  t.notOk(no.has(38));
  t.notOk(no.has(35), 'track data never echoed');
});

t.test('rules: first match wins; amount, PAN suffix, terminal, processing code, MTI', async (t) => {
  const { c } = await sim(t, {
    behaviour: {
      defaultResponseCode: '00',
      rules: [
        { when: { amountMin: 50000, amountMax: 99999 }, respond: '61' },
        { when: { amountMin: 100000 }, respond: '51' },
        { when: { terminal: 'BADTERM1' }, respond: '58' },
        { when: { processingCode: '01' }, respond: '57' },
        { when: { mti: ['0400'], panSuffix: '0009' }, respond: '12' },
      ],
    },
  });
  const rc = async (stan: string, o: Parameters<typeof authRequest>[1], pc?: string): Promise<string | undefined> => {
    const m = authRequest(stan, o);
    if (pc) m.set(3, pc);
    return (await c.send(m)).getString(39);
  };
  t.equal(await rc('000001', { amount: '000000060000' }), '61');
  t.equal(await rc('000002', { amount: '000000100000' }), '51');
  t.equal(await rc('000003', { terminal: 'BADTERM1' }), '58');
  t.equal(await rc('000004', {}, '010000'), '57');
  t.equal(await rc('000005', { pan: '4000000000000009' }), '00', 'the 0400 rule does not apply to a 0100');
  t.equal(await rc('000006', { mti: '0400', pan: '4000000000000009' }), '12');
  t.equal(await rc('000007', { mti: '0400', amount: '000000100000' }), '00', 'amount rules apply to 0100/0200 only by default');
});

t.test('journal: masked PANs, queryable by MTI and STAN (reversal counting)', async (t) => {
  const { s, c } = await sim(t);
  await c.send(authRequest('000123'));
  await c.send(authRequest('000123', { mti: '0420' }));
  await c.send(authRequest('000124', { mti: '0420' }));
  // a repeat: same key as the first advice, so send after its answer
  await c.send(authRequest('000123', { mti: '0421' }));
  t.equal(s.journal.count({ direction: 'in', mti: ['0420', '0421'], stan: '000123' }), 2);
  t.equal(s.journal.count({ direction: 'out', mti: '0430', stan: '000123' }), 2);
  t.equal(s.journal.count({ direction: 'in', mti: '0420', stan: '000124' }), 1);
  const text = JSON.stringify(s.journal.all());
  t.notMatch(text, /4111111111111111/, 'no full PAN in the journal');
  t.match(text, /411111\*\*\*\*\*\*1111/);
  s.journal.clear();
  t.equal(s.journal.size, 0);
});

t.test('faults: never answer, answer late, reset, latency distributions', async (t) => {
  const { s, c } = await sim(t, { behaviour: { faults: { neverAnswer: 1 } } });
  const r = await settle(c.send(authRequest('000001'), { timeoutMs: 200 }));
  t.equal(r.ok ? 'ok' : r.error.code, 'SW_ERR_LINK_TIMEOUT');
  t.equal(s.stats.dropped, 1);
  s.setBehaviour({ faults: { neverAnswer: 0, answerLate: { probability: 1, delayMs: 300 } } });
  const late = await settle(c.send(authRequest('000002'), { timeoutMs: 50 }));
  t.equal(late.ok, false, 'late answer misses a short timeout');
  const got: IsoMessage[] = [];
  c.on('unmatched', (m) => got.push(m));
  await waitFor(() => got.length === 1, 20_000, 'late answer');
  t.equal(got[0]!.getString(11), '000002');
  s.setBehaviour({ faults: { answerLate: { probability: 0, delayMs: 0 }, resetConnections: 1 } });
  const reset = await settle(c.send(authRequest('000003')));
  t.equal(reset.ok ? 'ok' : reset.error.code, 'SW_ERR_LINK_CONNECTION_LOST');
  t.equal(s.stats.resets, 1);

  for (const latency of [
    { distribution: 'normal', meanMs: 5, stddevMs: 50 },
    { distribution: 'exponential', meanMs: 5 },
    { distribution: 'uniform', minMs: 1, maxMs: 3 },
  ] as const) {
    const { c: c2 } = await sim(t, { behaviour: { latency } });
    const rs = await Promise.all(Array.from({ length: 30 }, (_, i) => c2.send(authRequest(stanOf(i + 1)))));
    t.equal(rs.length, 30, `${latency.distribution} latency answers everything`);
  }
});

t.test('scheduled outage window (silent), then service resumes', async (t) => {
  const beforeStart = Date.now(); // the window begins after this (when the simulator starts), so it ends after beforeStart + 3000
  const { c } = await sim(t, { behaviour: { faults: { outages: [{ startMs: 0, durationMs: 3000, mode: 'silent' }] } } });
  const during = await settle(c.send(authRequest('000001'), { timeoutMs: 300 }));
  t.equal(during.ok, false, 'no answer during the outage');
  // asked again until it answers (each silent request times out after 300 ms), rather than slept past the window
  let i = 1;
  const answer = await eventually(
    async () => {
      const r = await settle(c.send(authRequest(stanOf(++i)), { timeoutMs: 300 }));
      return r.ok ? r.value : undefined;
    },
    'an answer once the window is over',
    20_000,
    0,
  );
  const answeredAt = Date.now();
  t.equal(answer.getString(39), '00', 'service resumes');
  t.ok(answeredAt - beforeStart >= 3000, `not before the window is over (${answeredAt - beforeStart} ms after the simulator started, window 3000 ms)`);
});

t.test('accept but never read (half-open peer)', async (t) => {
  const { s } = await sim(t, { behaviour: { faults: { acceptNoRead: true } } });
  const c = await PspClient.connect({ port: s.port, codec, framer });
  t.teardown(() => c.close());
  const r = await settle(c.send(authRequest('000001'), { timeoutMs: 200 }));
  t.equal(r.ok, false);
  t.equal(s.stats.received, 0, 'nothing was read');
});

t.test('HTTP control API', async (t) => {
  const { s, c } = await sim(t);
  const url = s.controlUrl!;
  t.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
  t.same((await http(`${url}/behaviour`)).json, s.behaviour());
  const patched = await http(`${url}/behaviour`, 'PATCH', { defaultResponseCode: '05', faults: { ignoreEchoes: true } });
  t.equal(patched.status, 200);
  t.equal((await c.send(authRequest('000001'))).getString(39), '05');
  t.equal(s.behaviour().faults.ignoreEchoes, true);
  const bad = await http(`${url}/behaviour`, 'PATCH', { faults: { nope: 1 } });
  t.equal(bad.status, 400);
  t.equal(bad.json['code'], 'SW_ERR_CONFIG_INVALID');
  t.match(bad.json['message'] as string, /nope/);
  t.equal((await http(`${url}/behaviour`, 'PATCH', { rules: [{ respond: 'x' }] })).status, 400);
  const j = await http(`${url}/journal?direction=in&mti=0100&stan=000001`);
  t.equal(j.json['count'], 1);
  t.notMatch(JSON.stringify(j.json), /4111111111111111/);
  t.equal((await http(`${url}/stats`)).json['connections'], 1);
  t.equal((await http(`${url}/outage`, 'POST', { durationMs: -1, mode: 'down' })).status, 400);
  t.equal((await http(`${url}/nothing`)).status, 404);
  t.equal((await http(`${url}/journal`, 'DELETE')).status, 200);
  t.equal(s.journal.size, 0);
  const reset = await http(`${url}/connections/reset`, 'POST');
  t.equal(reset.json['reset'], 1);
  await waitFor(() => c.closed, 20_000, 'client reset');
  t.equal((await http(`${url}/outage`, 'POST', { durationMs: 200, mode: 'down' })).status, 200);
});

t.test('YAML config: the example parses; unknown keys and bad values are rejected with their path', async (t) => {
  const ex = parseSimulatorConfig(readFileSync(new URL('../../simulators/acquirer/example.yaml', import.meta.url), 'utf8'));
  t.equal(ex.dialect, 'iso87-binary');
  t.ok((ex.behaviour?.rules?.length ?? 0) >= 2);
  t.throws(() => parseSimulatorConfig('listen: { port: 1 }\nextra: 1\n'), { code: 'SW_ERR_CONFIG_INVALID' });
  t.throws(() => parseSimulatorConfig('behaviour: { latency: { distribution: fixed } }'), { code: 'SW_ERR_CONFIG_INVALID' });
  t.throws(() => parseSimulatorConfig('behaviour: { faults: { neverAnswer: 2 } }'), { code: 'SW_ERR_CONFIG_INVALID', message: /neverAnswer/ });
  t.throws(() => parseSimulatorConfig('a: [1, 2'), { code: 'SW_ERR_CONFIG_INVALID' });
});

t.test('the seeded RNG replays', async (t) => {
  const a = new Rng(5);
  const b = new Rng(5);
  t.same(
    Array.from({ length: 5 }, () => a.next()),
    Array.from({ length: 5 }, () => b.next()),
  );
});

t.test('CLI: npm run sim:acquirer -- --config file.yaml', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'simcli-'));
  const file = join(dir, 'sim.yaml');
  writeFileSync(file, 'listen: { port: 0 }\ndialect: iso87-ascii\nframer: { header: ascii4 }\ncontrol: { port: 0 }\nbehaviour:\n  defaultResponseCode: "51"\n');
  const child = spawn(process.execPath, ['--import', 'tsx', 'simulators/acquirer/cli.ts', '--config', file], {
    cwd: new URL('../../', import.meta.url).pathname,
    env: childEnv(),
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.teardown(() => child.kill('SIGKILL'));
  const line = await new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout });
    rl.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`exited ${code}`)));
  });
  const info = JSON.parse(line) as { port: number; dialect: string; framer: string; controlUrl: string };
  t.equal(info.dialect, 'iso87-ascii');
  t.equal(info.framer, 'ascii4');
  const c = await PspClient.connect({ port: info.port, dialect: 'iso87-ascii', framer: createFramer('ascii4') });
  t.equal((await c.send(authRequest('000001'))).getString(39), '51');
  await c.close();
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  t.equal(await exited, 0);
});
