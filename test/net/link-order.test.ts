/**
 * 10,000 concurrent requests over one link, answered by the simulator in a seeded random order: every response
 * matches its own request, and a 0110 and a 0410 with the same STAN and terminal never cross.
 */
import t from 'tap';
import { loadDialect } from '../../src/iso8583/index.js';
import type { IsoMessage } from '../../src/iso8583/message.js';
import { AcquirerLink } from '../../src/net/index.js';
import { createFramer } from '../../src/wire/index.js';
import { startAcquirerSimulator } from '../../simulators/acquirer/index.js';
import { authRequest, stanOf } from '../helpers/net.js';

t.test('10,000 concurrent requests in a seeded random order', async (t) => {
  const codec = loadDialect('iso87-ascii-bbitmap');
  const framer = createFramer({ header: 'binary2' });
  const sim = await startAcquirerSimulator({
    codec,
    framer,
    seed: 20261122,
    control: false,
    behaviour: { latency: { distribution: 'uniform', minMs: 0, maxMs: 300 } },
  });
  const link = new AcquirerLink({ name: 'acq', host: sim.host, port: sim.port, codec, framer, connections: 3, maxInFlight: 20_000, defaultTimeoutMs: 120_000 });
  t.teardown(async () => {
    await link.close();
    await sim.close();
  });
  link.start();
  await link.waitReady(3, 20_000);
  const unmatched: IsoMessage[] = [];
  link.onUnmatched((m) => unmatched.push(m));

  const N = 10_000;
  const order: number[] = [];
  const ps: Promise<IsoMessage>[] = [];
  for (let i = 0; i < N; i++) {
    // pairs share STAN and terminal: request 2k is a 0100, 2k+1 a 0400 for the same STAN
    const stan = stanOf((i >> 1) + 1);
    const amount = String(i + 1).padStart(12, '0');
    const req = authRequest(stan, { mti: i % 2 === 0 ? '0100' : '0400', amount, terminal: `T${String(i % 7).padStart(7, '0')}` });
    ps.push(
      link.request(req).then((r) => {
        order.push(i);
        return r;
      }),
    );
  }
  const rs = await Promise.all(ps);
  let mismatches = 0;
  let crossed = 0;
  rs.forEach((r, i) => {
    const wantMti = i % 2 === 0 ? '0110' : '0410';
    if (r.mti !== wantMti) crossed++;
    if (r.getString(4) !== String(i + 1).padStart(12, '0') || r.getString(11) !== stanOf((i >> 1) + 1)) mismatches++;
  });
  t.equal(rs.length, N);
  t.equal(mismatches, 0, 'every response carries its own request’s amount and STAN');
  t.equal(crossed, 0, '0110 and 0410 of the same STAN never cross');
  t.equal(unmatched.length, 0, 'nothing unmatched');
  t.equal(link.inFlight, 0);
  // the order really was shuffled
  let displaced = 0;
  order.forEach((v, pos) => {
    if (v !== pos) displaced++;
  });
  t.ok(displaced > N * 0.9, `answers came back out of order (${displaced} of ${N} displaced)`);
  t.equal(sim.journal.count({ direction: 'in', mti: ['0100', '0400'] }), N);
});
