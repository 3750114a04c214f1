import t from 'tap';
import { testDb } from '../helpers/db.js';
import { buildAdminApp } from '../../src/admin/app.js';
import { LinkStatusBoard } from '../../src/admin/acquirer-status.js';
import { loadDialect } from '../../src/iso8583/index.js';
import { AcquirerLink } from '../../src/net/index.js';
import { createFramer } from '../../src/wire/index.js';
import { MemoryFailureDetector } from '../../src/routing/detector.js';
import { LinkBreakers } from '../../src/routing/breakers.js';
import { startAcquirerSimulator } from '../../simulators/acquirer/index.js';
import { Registry } from 'prom-client';
import { waitFor } from '../helpers/net.js';
import { TOKEN_ENTRIES, TOKENS } from './fixtures.js';

t.test('acquirers: live link state, breaker, detector score, last error; /metrics with metricsAuth', async (t) => {
  const db = await testDb(t);
  const codec = loadDialect('iso87-binary');
  const framer = createFramer({ header: 'binary2' });
  const sim = await startAcquirerSimulator({ codec, framer, seed: 9, control: false });
  const up = new AcquirerLink({ name: 'acq-up', host: sim.host, port: sim.port, codec, framer, connections: 2, reconnect: { initialMs: 20, maxMs: 200 } });
  const down = new AcquirerLink({
    name: 'acq-down',
    host: '127.0.0.1',
    port: 1,
    codec,
    framer,
    connections: 1,
    connectTimeoutMs: 500,
    reconnect: { initialMs: 50, maxMs: 200 },
  });
  const detector = new MemoryFailureDetector();
  for (let i = 0; i < 30; i++) detector.fail(detector.start('acq-down'), 'fast');
  const breakers = new LinkBreakers({ volumeThreshold: 1 });
  const b = breakers.breaker('acq-down', async () => {
    throw new Error('x');
  });
  for (let i = 0; i < 3; i++) await b.fire().catch(() => undefined);
  const board = new LinkStatusBoard({ links: [up, down], detector, breakers });
  up.start();
  down.start();
  const registry = new Registry();
  const app = await buildAdminApp({ pool: db.pool, tokens: TOKEN_ENTRIES, acquirers: board, registry, metricsAuth: true });
  t.teardown(async () => {
    await app.close();
    board.close();
    breakers.shutdown();
    await up.close();
    await down.close();
    await sim.close();
  });
  await up.waitReady(2, 20_000);
  await waitFor(() => down.stats.connectsFailed > 0, 20_000, 'a failed connect');
  const auth = { authorization: `Bearer ${TOKENS.viewer}` };
  const r = await app.inject({ method: 'GET', url: '/api/acquirers', headers: auth });
  t.equal(r.statusCode, 200);
  const list = r.json().acquirers as any[];
  const a = list.find((x) => x.id === 'acq-up');
  const d = list.find((x) => x.id === 'acq-down');
  t.same(a.connections, { ready: 2, configured: 2 });
  t.equal(a.linkUp, true);
  t.equal(a.breaker, 'closed');
  t.same(a.detector, { alive: true, score: 0, volume: 0, reason: 'ok' });
  t.equal(a.lastError, null);
  t.equal(d.linkUp, false);
  t.equal(d.breaker, 'open');
  t.equal(d.detector.alive, false);
  t.ok(d.detector.score > 0.5);
  t.type(d.lastError.reason, 'string');
  t.match(d.lastError.at, /^\d{4}-\d\d-\d\dT/);
  const one = await app.inject({ method: 'GET', url: '/api/acquirers/acq-down', headers: auth });
  t.equal(one.json().id, 'acq-down');
  const nf = await app.inject({ method: 'GET', url: '/api/acquirers/acq-nope', headers: auth });
  t.equal(nf.statusCode, 404);
  t.equal(nf.json().message, 'admin API: acquirer acq-nope not found');
  t.equal((await app.inject({ method: 'GET', url: '/api/acquirers/bad%20id', headers: auth })).statusCode, 400);
  // metricsAuth: /metrics needs a token; the injected registry is the one served
  t.equal((await app.inject({ method: 'GET', url: '/metrics' })).statusCode, 401);
  const m = await app.inject({ method: 'GET', url: '/metrics', headers: auth });
  t.equal(m.statusCode, 200);
  t.equal(m.body, '\n', 'the given (empty) registry is served, not the global one');
});
