/**
 * Metrics a dashboard shows that only move on a fault: a breaker's transitions and the codec's errors. Each is
 * driven here on the running switch and read back through a real scrape of /metrics, as Prometheus would: a
 * series pre-filled with zero does not count, only the value the fault moved it to.
 */
import t from 'tap';
import net from 'node:net';
import { buildAuthorization } from '../../simulators/psp/index.js';
import { loadDialect } from '../../src/iso8583/index.js';
import { encodeFrame, framerByName, Reassembler } from '../../src/wire/index.js';
import { startTestSwitch } from './harness.js';
import { waitFor } from '../helpers/net.js';

const sample = (text: string, name: string, labels: Record<string, string>): number | null => {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const body = line.slice(name.length + 1, line.indexOf('}'));
    const have = Object.fromEntries(body.split(',').map((kv) => [kv.slice(0, kv.indexOf('=')), JSON.parse(kv.slice(kv.indexOf('=') + 1)) as string]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return null;
};

t.test('breaker transitions and codec errors are counted, as a scrape sees them', async (t) => {
  const sw = await startTestSwitch(t, 'metrics-produced');
  const scrape = async (): Promise<string> => (await fetch(`${sw.adminUrl}/metrics`)).text();
  const client = await sw.client();
  const ok = await client.send(buildAuthorization({ stan: '830001', pan: '4000056655665556', terminal: 'TERMODD1', merchant: 'SHOP00000000001' }));
  t.equal(ok.getString(39), '00');
  const acquirer = sw.outcomes[0]?.acquirer;
  t.ok(acquirer, 'the authorization was routed');

  const before = await scrape();
  t.equal(sample(before, 'switch_breaker_transitions_total', { acquirer: acquirer!, state: 'open' }), 0, 'pre-filled with zero');
  // the breaker the link sends through (it exists after the first send): opened and closed as a fault would
  const breaker = sw.h.breakers.breaker(acquirer!, async () => undefined);
  breaker.open();
  breaker.close();
  const after = await scrape();
  t.equal(sample(after, 'switch_breaker_transitions_total', { acquirer: acquirer!, state: 'open' }), 1, 'one transition to open');
  t.equal(sample(after, 'switch_breaker_transitions_total', { acquirer: acquirer!, state: 'closed' }), 1, 'one back to closed');

  // a 0100 whose body does not unpack: answered 30, and counted with its code
  const codec = loadDialect(sw.h.config.psp.dialect);
  const framer = framerByName(sw.h.config.psp.framer);
  const sock = net.connect({ port: sw.h.pspPort, host: '127.0.0.1' });
  await new Promise((r) => sock.once('connect', r));
  t.teardown(() => sock.destroy());
  const answers: string[] = [];
  const re = new Reassembler(framer, { onFrame: (p) => answers.push(codec.unpack(Buffer.from(p)).getString(39) ?? '') });
  sock.on('data', (c: Buffer) => re.push(c));
  sock.write(encodeFrame(framer, Buffer.concat([Buffer.from('0100'), Buffer.from([0x40, 0, 0, 0, 0, 0, 0, 0])])));
  await waitFor(() => answers.length === 1, 20_000, 'the broken 0100 answered');
  t.same(answers, ['30']);
  const codecErrors = (await scrape()).split('\n').filter((l) => l.startsWith('switch_codec_errors_total{'));
  t.equal(codecErrors.length, 1, 'one series');
  t.match(codecErrors[0], /^switch_codec_errors_total\{code="SW_ERR_CODEC_[A-Z_]+",direction="psp_in"\} 1$/, 'with its code and direction');
});

t.test('every PSP listener is measured under its own PSP name, and readiness waits for all of them', async (t) => {
  const listener = { id: 'beta', host: '127.0.0.1', port: 0, dialect: 'iso87-ascii-bbitmap', framer: 'binary2', name: 'psp-beta' };
  const sw = await startTestSwitch(t, 'metrics-listeners', undefined, { psp: { listeners: [listener] } });
  const beta = sw.h.pspListeners.find((l) => l.id === 'beta')!;
  t.ok(beta, 'the second listener runs');
  const before = await (await fetch(`${sw.adminUrl}/metrics`)).text();
  t.equal(sample(before, 'switch_psp_limit_hits_total', { psp: 'psp-beta', kind: 'connections' }), 0, "the second listener's series exist");
  const codec = loadDialect('iso87-ascii-bbitmap');
  const framer = framerByName('binary2');
  const sock = net.connect({ port: beta.server.port, host: '127.0.0.1' });
  t.teardown(() => sock.destroy());
  await new Promise((r) => sock.once('connect', r));
  const answered = new Promise<void>((resolve) => {
    const r = new Reassembler(framer, { onFrame: () => resolve() });
    sock.on('data', (c: Buffer) => r.push(c));
  });
  const msg = buildAuthorization({ stan: '830101', pan: '4000056655665556', terminal: 'TERMODD1', merchant: 'SHOP00000000001' });
  sock.write(encodeFrame(framer, codec.pack(msg)));
  await answered;
  const after = await (await fetch(`${sw.adminUrl}/metrics`)).text();
  t.equal(
    sample(after, 'switch_psp_response_seconds_count', { psp: 'psp-beta', mti: '0100' }),
    1,
    "the answer on the second listener is in psp-beta's latency",
  );
  const ready = await fetch(`${sw.adminUrl}/health/ready`);
  t.equal(ready.status, 200, 'ready with both listeners up');
});
