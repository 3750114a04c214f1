import t from 'tap';
import { loadDialect } from '../../src/iso8583/index.js';
import { AcquirerLink, PspServer } from '../../src/net/index.js';
import { createFramer } from '../../src/wire/index.js';
import { MemoryFailureDetector } from '../../src/routing/detector.js';
import { LinkBreakers } from '../../src/routing/breakers.js';
import { createGroupCommit } from '../../src/store/group-commit.js';
import { createLedger } from '../../src/ledger/index.js';
import { startAcquirerSimulator } from '../../simulators/acquirer/index.js';
import { PspClient } from '../../simulators/psp/index.js';
import * as m from '../../src/metrics/index.js';
import { authRequest, stanOf, waitFor } from '../helpers/net.js';
import { testDb } from '../helpers/db.js';
import { until } from '../helpers/wait.js';

/** Value of one sample in the exposition text, or undefined. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const mm = /^([a-z_:]+)(\{([^}]*)\})? (\S+)$/.exec(line);
    if (!mm || mm[1] !== name) continue;
    const have = Object.fromEntries(
      (mm[3] ?? '')
        .split(',')
        .filter(Boolean)
        .map((kv) => {
          const i = kv.indexOf('=');
          return [kv.slice(0, i), JSON.parse(kv.slice(i + 1)) as string];
        }),
    );
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(mm[4]);
  }
  return undefined;
}

t.test('responseClass and label guards', async (t) => {
  t.equal(m.responseClass('00'), 'approved');
  t.equal(m.responseClass('10'), 'approved');
  t.equal(m.responseClass('05'), 'declined');
  t.equal(m.responseClass('51'), 'declined');
  t.equal(m.responseClass('91'), 'error');
  t.equal(m.responseClass(undefined), 'error');
  t.equal(m.mtiLabel('0100'), '0100');
  t.equal(m.mtiLabel('4111111111111111'), 'other', 'a bad peer cannot create a series from arbitrary data');
  m.recordCodecError('not a code 4111111111111111', 'psp_in');
  const text = await m.metricsText();
  t.notMatch(text, /4111111111111111/);
  t.equal(sample(text, 'switch_codec_errors_total', { code: 'unknown', direction: 'psp_in' }), 1);
});

t.test('link, PSP server, detector, breaker adapters on real sockets', async (t) => {
  const codec = loadDialect('iso87-binary');
  const framer = createFramer({ header: 'binary2' });
  const sim = await startAcquirerSimulator({ codec, framer, seed: 3, control: false });
  const link = new AcquirerLink({
    name: 'acq-x',
    host: sim.host,
    port: sim.port,
    codec,
    framer,
    connections: 2,
    defaultTimeoutMs: 10_000,
    reconnect: { initialMs: 20, maxMs: 200 },
  });
  const unbindLink = m.bindLinkMetrics(link);
  link.start();
  await link.waitReady(2, 20_000);
  const server = new PspServer({
    codec,
    framer,
    psp: 'psp-m',
    handler: async (req) => {
      const r = await link.request(req);
      m.recordRequest('psp-m', req.mti, r.getString(39));
      return r;
    },
  });
  const unbindPsp = m.bindPspServerMetrics(server);
  const { port } = await server.listen();
  const client = await PspClient.connect({ port, codec, framer });
  t.teardown(async () => {
    await client.close();
    await server.close();
    await link.close();
    await sim.close();
  });
  for (let i = 1; i <= 20; i++) {
    const r = await client.send(authRequest(stanOf(i)));
    t.equal(r.mti, '0110');
  }
  // a request the link cannot pack (DE4 is n 12: letters refused) is refused before it leaves: a codec error out
  const unpackable = authRequest(stanOf(99));
  unpackable.set(4, 'ABCDEFGHIJKL');
  await t.rejects(link.request(unpackable), { code: 'SW_ERR_LINK_PACK_FAILED' });
  const det = new MemoryFailureDetector();
  for (let i = 0; i < 30; i++) det.fail(det.start('acq-dead'), 'error');
  det.finish(det.start('acq-x'));
  const unbindDet = m.bindDetectorMetrics(det, () => ['acq-x', 'acq-dead']);
  const breakers = new LinkBreakers({ volumeThreshold: 2, onStateChange: m.breakerStateListener });
  const b = breakers.breaker('acq-dead', async () => {
    throw new Error('down');
  });
  for (let i = 0; i < 5; i++) await b.fire().catch(() => undefined);
  const unbindBr = m.bindBreakerMetrics(breakers);
  t.teardown(() => breakers.shutdown());

  await waitFor(() => server.stats.inFlight === 0, 20_000, 'server idle');
  const text = await m.metricsText();
  t.equal(sample(text, 'switch_link_up', { acquirer: 'acq-x' }), 1);
  t.equal(sample(text, 'switch_link_ready_connections', { acquirer: 'acq-x' }), 2);
  t.equal(sample(text, 'switch_link_inflight', { acquirer: 'acq-x' }), 0);
  t.equal(sample(text, 'switch_acquirer_roundtrip_seconds_count', { acquirer: 'acq-x', mti: '0100' }), 20);
  t.equal(sample(text, 'switch_link_messages_total', { acquirer: 'acq-x', direction: 'out' }), 20);
  t.ok((sample(text, 'switch_link_events_total', { acquirer: 'acq-x', event: 'ready' }) ?? 0) >= 2);
  const answered = (['approved', 'declined', 'error'] as const).reduce(
    (n, c) => n + (sample(text, 'switch_acquirer_responses_total', { acquirer: 'acq-x', mti: '0100', class: c }) ?? 0),
    0,
  );
  t.equal(answered, 20);
  const byClass = (['approved', 'declined', 'error'] as const).reduce(
    (n, c) => n + (sample(text, 'switch_requests_total', { psp: 'psp-m', mti: '0100', class: c }) ?? 0),
    0,
  );
  t.equal(byClass, 20);
  t.equal(sample(text, 'switch_psp_response_seconds_count', { psp: 'psp-m', mti: '0100' }), 20);
  t.equal(sample(text, 'switch_psp_connections', { psp: 'psp-m' }), 1);
  t.equal(sample(text, 'switch_detector_alive', { service: 'acq-dead' }), 0);
  t.equal(sample(text, 'switch_detector_alive', { service: 'acq-x' }), 1);
  t.ok((sample(text, 'switch_detector_score', { service: 'acq-dead' }) ?? 0) > 0.5);
  t.equal(sample(text, 'switch_breaker_state', { acquirer: 'acq-dead' }), 2, 'open');
  t.equal(sample(text, 'switch_breaker_transitions_total', { acquirer: 'acq-dead', state: 'open' }), 1);
  t.equal(sample(text, 'switch_codec_errors_total', { code: 'SW_ERR_CODEC_BAD_CHARSET', direction: 'out' }), 1, 'the pack failure counted as out');
  t.match(text, /nodejs_heap_size_used_bytes/, 'process metrics');
  t.notMatch(text, /4111111111111111/, 'no PAN in any label');

  unbindLink();
  unbindPsp();
  unbindDet();
  unbindBr();
  const after = await m.metricsText();
  t.equal(sample(after, 'switch_link_up', { acquirer: 'acq-x' }), undefined, 'an unbound link disappears');
  t.equal(sample(after, 'switch_detector_alive', { service: 'acq-dead' }), undefined);
});

t.test('link down: link_up 0, failures counted, timeouts classed', async (t) => {
  const codec = loadDialect('iso87-binary');
  const framer = createFramer({ header: 'binary2' });
  const sim = await startAcquirerSimulator({ codec, framer, seed: 4, control: false });
  const link = new AcquirerLink({
    name: 'acq-y',
    host: sim.host,
    port: sim.port,
    codec,
    framer,
    connections: 1,
    defaultTimeoutMs: 300,
    reconnect: { initialMs: 20, maxMs: 100 },
  });
  const unbind = m.bindLinkMetrics(link);
  t.teardown(async () => {
    unbind();
    await link.close();
    await sim.close().catch(() => undefined);
  });
  link.start();
  await link.waitReady(1, 20_000);
  sim.setBehaviour({ faults: { neverAnswer: 1 } });
  await link.request(authRequest(stanOf(1))).catch(() => undefined);
  let text = await m.metricsText();
  t.equal(sample(text, 'switch_acquirer_responses_total', { acquirer: 'acq-y', mti: '0100', class: 'timeout' }), 1);
  await sim.close();
  await waitFor(() => link.readyCount === 0, 20_000, 'link down');
  // the reconnect attempts fail against the closed port: waited for in the metric itself
  const failed = await until(
    async () => sample(await m.metricsText(), 'switch_link_events_total', { acquirer: 'acq-y', event: 'failed' }) ?? 0,
    (n) => n >= 1,
    20_000,
  );
  t.ok(failed >= 1, `failed reconnects counted (${failed})`);
  text = await m.metricsText();
  t.equal(sample(text, 'switch_link_up', { acquirer: 'acq-y' }), 0, 'link_up 0 while the reconnects fail');
});

t.test('routing outcomes, rules version, SAF sources, group commit observer, the ledger observed at construction', async (t) => {
  m.recordRouteOutcome('eur', 'a-eur-1');
  m.recordRouteOutcome('block', null);
  m.recordRiskLevel('fatal');
  const offVersion = m.bindRulesVersion(() => 7);
  let depth = 3;
  const unbind = m.bindSafMetrics({ depth: async () => depth, deadLetters: () => 1 });
  const db = await testDb(t);
  await db.pool.query('create table gc_probe (v int)');
  const gc = createGroupCommit<number, number>({
    pool: db.pool,
    name: 'probe',
    maxWaitMs: 5,
    onBatch: m.groupCommitObserver('probe'),
    flush: async (c, reqs) => {
      for (const r of reqs) await c.query('insert into gc_probe values ($1)', [r]);
      return reqs.map((r) => r);
    },
  });
  await Promise.all(Array.from({ length: 10 }, (_, i) => gc.submit(i)));
  await gc.close();
  const ledger = await createLedger({ pool: db.pool, onOperation: m.recordLedgerOperation });
  t.teardown(() => ledger.close());
  const pay = { acquirer: 'acq-a', terminal: 'a-eur-1', merchant: 'SHOP1', currency: 978, amount: 1000n };
  for (const code of [ledger.accountCode('acquirer', 'acq-a', 978), ledger.accountCode('merchant', 'SHOP1', 978)]) {
    await ledger.ensureAccount({ code, kind: code.startsWith('acq') ? 'acquirer' : 'merchant', currency: 978 });
  }
  await ledger.ensureAccount({ code: ledger.feesAccountCode(978), kind: 'fees', currency: 978 });
  await ledger.hold('p1', pay);
  await ledger.commit('p1');
  await t.rejects(ledger.commit('nope'));
  let text = await m.metricsText();
  t.equal(sample(text, 'switch_routing_decisions_total', { rule: 'eur', terminal: 'a-eur-1', outcome: 'route' }), 1);
  t.equal(sample(text, 'switch_routing_decisions_total', { rule: 'block', terminal: 'declined', outcome: 'decline' }), 1);
  t.equal(sample(text, 'switch_risk_levels_total', { level: 'fatal' }), 1);
  t.equal(sample(text, 'switch_rules_version'), 7);
  t.equal(sample(text, 'switch_saf_depth'), 3);
  t.equal(sample(text, 'switch_dead_letters'), 1);
  t.equal(sample(text, 'switch_group_commit_batch_size_sum', { committer: 'probe' }), 10);
  t.ok((sample(text, 'switch_group_commit_seconds_count', { committer: 'probe' }) ?? 0) >= 1);
  t.equal(sample(text, 'switch_ledger_operations_total', { op: 'hold', result: 'ok' }), 1);
  t.equal(sample(text, 'switch_ledger_operations_total', { op: 'commit', result: 'ok' }), 1);
  t.equal(sample(text, 'switch_ledger_operations_total', { op: 'commit', result: 'error' }), 1);
  depth = 0;
  text = await m.metricsText();
  t.equal(sample(text, 'switch_saf_depth'), 0);
  unbind();
  offVersion();
});
