/**
 * Acquirer links over TLS through the whole switch, configured as an operator would in rules/acquirers.yaml
 * (docs/network.md, "Acquirer link TLS"): acq-a over TLS 1.3 with a client certificate the host requires and a
 * pinned key, behind a relay that keeps the bytes; acq-b over TLS 1.2 with only a CA (the host an IP address,
 * checked against the certificate's IP entry). A PSP's authorizations are answered through both, the PAN never on
 * the wire in clear; a missing TLS file stops the start with an error naming the acquirer and the path.
 */
import t from 'tap';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { framerByName } from '../../src/wire/index.js';
import { loadConfig } from '../../src/switch/config.js';
import { startSwitch } from '../../src/app/runtime.js';
import { isSwitchError } from '../../src/errors.js';
import { startAcquirerSimulator, type AcquirerSimulator } from '../../simulators/acquirer/index.js';
import { auth, builtInSimulators, eventually, rc, ROOT, startTestSwitch, testOverrides, txnOf } from '../helpers/switch.js';
import { testDb } from '../helpers/db.js';
import { makeTestPki } from '../helpers/pki.js';
import { captureRelay } from '../helpers/proxy.js';

type Tap = { teardown(fn: () => unknown): void };
type Plain = Record<string, unknown>;

const pki = makeTestPki(t);

/** A copy of rules/ with `tls` blocks and ports for acq-a and acq-b, and EUR ≥ 20.00 routed to acq-b, the rest to acq-a. */
function tlsRules(t: Tap, links: Record<string, Plain>): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'switch-tls-rules-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(path.join(ROOT, 'rules'), dir, { recursive: true });
  const acqFile = path.join(dir, 'acquirers.yaml');
  const doc = parseYaml(readFileSync(acqFile, 'utf8')) as { acquirers: Array<{ id: string; link: Plain }> };
  for (const a of doc.acquirers) Object.assign(a.link, links[a.id] ?? {});
  writeFileSync(acqFile, stringifyYaml(doc));
  const routingFile = path.join(dir, 'routing.yaml');
  const routing = parseYaml(readFileSync(routingFile, 'utf8')) as { rules: Array<Plain> };
  routing.rules = [
    { id: 'to-b', when: { currency: ['978'], amount: { min: 2000 } }, then: { terminals: [{ terminal: 'b-eur-1', priority: 1 }] } },
    { id: 'to-a', when: { currency: ['978'] }, then: { terminals: [{ terminal: 'a-eur-1', priority: 1 }] } },
    ...routing.rules.filter((r) => r.default === true),
  ];
  writeFileSync(routingFile, stringifyYaml(routing));
  return dir;
}

async function sim(t: Tap, o: Parameters<typeof startAcquirerSimulator>[0]): Promise<AcquirerSimulator> {
  const s = await startAcquirerSimulator({ control: false, seed: 3, behaviour: { defaultResponseCode: '00' }, ...o });
  t.teardown(() => s.close());
  return s;
}

t.test('authorizations through TLS 1.3 with a client certificate and a pin, and through TLS 1.2', async (t) => {
  const server = { cert: pki.read(pki.server.cert), key: pki.read(pki.server.key) };
  // acq-a as rules/acquirers.yaml has it: iso87-ascii, 4-digit ASCII length header
  const simA = await sim(t, {
    dialect: 'iso87-ascii',
    framer: framerByName('ascii4'),
    tls: { ...server, requestCert: true, ca: pki.read(pki.ca.cert), minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3' },
  });
  const simB = await sim(t, { dialect: 'iso87-binary', framer: framerByName('binary2'), tls: { ...server, maxVersion: 'TLSv1.2' } });
  const relay = await captureRelay(t, simA.port);
  const rulesDir = tlsRules(t, {
    'acq-a': {
      host: '127.0.0.1',
      port: relay.port,
      tls: {
        ca: pki.ca.cert,
        cert: pki.client.cert,
        key: pki.client.key,
        servername: pki.serverName,
        pin: [pki.pinOf(pki.server.key)],
        minVersion: 'TLSv1.3',
      },
    },
    'acq-b': { host: '127.0.0.1', port: simB.port, tls: { ca: pki.ca.cert } },
  });
  const s = await startTestSwitch(t, { overrides: { rulesDir, acquirerTimeoutMs: 5000 } });
  // the switch starts once one connection per acquirer is ready; both of each are, soon after
  for (const id of ['acq-a', 'acq-b']) await eventually(() => s.h.acquirers.get(id).link.readyCount === 2, `both ${id} connections up over TLS`);

  const pans: string[] = [];
  for (const [acquirer, amount, terminal, host] of [
    ['acq-a', 1000, 'TA000001', simA],
    ['acq-b', 3000, 'TB000001', simB],
  ] as const) {
    const req = auth({ amount });
    pans.push(req.getString(2)!);
    const res = await s.client.send(req);
    t.equal(rc(res), '00', `approved through ${acquirer}`);
    t.equal((await txnOf(s.db.pool, req))?.acquirer, acquirer, `routed to ${acquirer}`);
    const got = host.journal.find({ direction: 'in', mti: '0100' });
    t.equal(got.length, 1, `${acquirer}'s host read the 0100`);
    t.equal(got[0]?.terminal, terminal);
  }
  t.same(simA.stats.tlsVersions, { 'TLSv1.3': 2 }, 'acq-a: TLS 1.3 on both connections');
  t.equal(simA.stats.tlsClientCerts, 2, 'acq-a: the client certificate presented on both');
  t.same(simB.stats.tlsVersions, { 'TLSv1.2': 2 }, 'acq-b: TLS 1.2 on both connections');
  t.equal(simB.stats.tlsClientCerts, 0, 'acq-b asks for none');

  const wire = relay.bytes();
  t.ok(wire.length > 1000, `${wire.length} bytes between the switch and acq-a`);
  t.notOk(wire.includes(Buffer.from(pans[0]!, 'ascii')), 'the PAN is not on the wire in clear');
  t.notOk(wire.includes(Buffer.from('TA000001')), 'nor the terminal id');
});

t.test('a TLS file that is missing stops the start, naming the acquirer and the path', async (t) => {
  const missing = path.join(pki.dir, 'no-such-ca.pem');
  const rulesDir = tlsRules(t, { 'acq-b': { host: '127.0.0.1', port: 9, tls: { ca: missing } } });
  const db = await testDb(t, { max: 4 });
  const cfg = loadConfig({ env: {}, overrides: testOverrides(db.url, { rulesDir }) });
  let err: unknown;
  try {
    const h = await startSwitch(cfg, { log: pino({ level: 'silent' }), startSimulator: builtInSimulators().startSimulator });
    await h.stop();
  } catch (e) {
    err = e;
  }
  t.ok(isSwitchError(err, 'SW_ERR_LINK_TLS_FILE'), 'SW_ERR_LINK_TLS_FILE');
  t.equal((err as Error | undefined)?.message, `acquirer acq-b: TLS ca file ${missing} cannot be read (ENOENT)`);
});
