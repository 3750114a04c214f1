/**
 * Several PSPs on one switch, told apart by mutual TLS (docs/security.md, "PSP identity"; docs/network.md, "PSP
 * server"), with `merchant.psps` as access control. Certificates are made here by openssl. The switch runs three
 * listeners: the quick-start one (plain, psp-alpha, the harness's client), "shared" (mTLS; psp-alpha by subject,
 * psp-beta by fingerprint) and "beta-own" (mTLS, psp-beta only, another dialect and framer). rules/merchants.yaml:
 * SHOP…01 accepts alpha and beta, SHOP…02 alpha only, SHOP…03 beta only. Each refusal is checked on the PSP's
 * answer, on its recorded row and on the acquirer simulators' journals (nothing sent).
 */
import t, { type Test } from 'tap';
import { once } from 'node:events';
import { IsoMessage } from '../../src/iso8583/message.js';
import { transmissionDateTime } from '../../src/net/mti.js';
import { PspClient } from '../../simulators/psp/client.js';
import { makePki, type KeyPair } from '../helpers/pki.js';
import { auth, capture, eventually, nextStan, rc, reversal, setRules, startTestSwitch, txnOf } from '../helpers/switch.js';

const BOTH = 'SHOP00000000001';
const ALPHA_ONLY = 'SHOP00000000002';
const BETA_ONLY = 'SHOP00000000003';
/** A card the acquirer simulators answer only after HOLD_MS (the per-PSP in-flight check). */
const SLOW_PAN = '4111110000007777';
const HOLD_MS = 3_000;

const pki = makePki(t);
const ca = pki.authority('psp');
const server = ca.issue('server', '/CN=localhost', 'server');
const alpha = ca.issue('alpha', '/CN=psp-alpha/O=Alpha Payments', 'client');
const beta = ca.issue('beta', '/CN=psp-beta/O=Beta Payments', 'client');
const stranger = ca.issue('stranger', '/CN=psp-unknown', 'client');
const mtls = { certFile: server.certFile, keyFile: server.keyFile, caFile: ca.certFile, requireClientCert: true };

t.test('PSP identity and merchant.psps on a running switch', async (t) => {
  const s = await startTestSwitch(t, {
    overrides: {
      // generous: nothing here should time out on a loaded machine, the slow card included
      acquirerTimeoutMs: HOLD_MS + 5_000,
      psp: {
        listeners: [
          {
            id: 'shared',
            port: 0,
            tls: mtls,
            identities: [
              { name: 'psp-alpha', subject: 'CN=psp-alpha' },
              { name: 'psp-beta', fingerprint256: beta.fingerprint256 },
            ],
          },
          {
            id: 'beta-own',
            port: 0,
            dialect: 'iso87-binary',
            framer: 'ascii4',
            tls: mtls,
            identities: [{ name: 'psp-beta', subject: 'CN=psp-beta,O=Beta Payments' }],
          },
        ],
        perPsp: { overrides: [{ name: 'psp-beta', maxConnections: 2, maxInFlight: 1 }] },
      },
    },
  });
  const { h, db } = s;
  const clients: PspClient[] = [];
  t.teardown(() => Promise.all(clients.map((c) => c.close().catch(() => undefined))));
  const connect = async (listener: string, pair: KeyPair, o: { dialect?: string; framer?: 'ascii4' } = {}): Promise<PspClient> => {
    const c = await PspClient.connect({
      port: h.pspPorts[listener]!,
      timeoutMs: 30_000,
      ...(o.dialect ? { dialect: o.dialect } : {}),
      ...(o.framer ? { framer: { header: o.framer } } : {}),
      tls: { ca: ca.cert, servername: 'localhost', cert: pair.cert, key: pair.key },
    });
    clients.push(c);
    return c;
  };
  /** Requests the acquirer simulators have read, every kind but network management. */
  const atAcquirers = (): number => s.sims().reduce((n, sim) => n + sim.journal.count({ direction: 'in', mti: ['0100', '0200', '0220', '0400', '0420'] }), 0);
  /** Sends `req` and checks it was refused with 03 before any acquirer saw it. */
  const refused = async (t: Test, c: PspClient, req: IsoMessage, what: string): Promise<void> => {
    const before = atAcquirers();
    const res = await c.send(req);
    t.equal(rc(res), '03', `${what}: 03`);
    t.equal(atAcquirers(), before, `${what}: nothing sent to an acquirer`);
  };

  t.test('the handle: the first listener is still psp/pspPort, every listener has its port', async (t) => {
    t.same(
      h.pspListeners.map((l) => l.id),
      ['psp', 'shared', 'beta-own'],
    );
    t.equal(h.pspPort, h.pspPorts.psp);
    t.equal(h.psp, h.pspListeners[0]!.server);
    t.ok(h.pspPorts.shared! > 0 && h.pspPorts['beta-own']! > 0 && new Set(Object.values(h.pspPorts)).size === 3, 'three ports');
    t.match(h.pspStatus().listeners, [
      { id: 'psp', tls: false, clientCerts: 'off' },
      { id: 'shared', tls: true, clientCerts: 'required', dialect: 'iso87-ascii-bbitmap', framer: 'binary2' },
      { id: 'beta-own', tls: true, clientCerts: 'required', dialect: 'iso87-binary', framer: 'ascii4' },
    ]);
  });

  const a = await connect('shared', alpha);
  const bShared = await connect('shared', beta);
  const bOwn = await connect('beta-own', beta, { dialect: 'iso87-binary', framer: 'ascii4' });

  t.test('authorizations: each PSP for the merchants that accept it, refused for the others and recorded', async (t) => {
    for (const [c, psp, merchant, ok, what] of [
      [a, 'psp-alpha', BOTH, true, 'alpha at a merchant of both'],
      [a, 'psp-alpha', ALPHA_ONLY, true, "alpha at alpha's merchant"],
      [a, 'psp-alpha', BETA_ONLY, false, "alpha at beta's merchant"],
      [bOwn, 'psp-beta', BOTH, true, 'beta (own listener, iso87-binary, ascii4) at a merchant of both'],
      [bOwn, 'psp-beta', BETA_ONLY, true, "beta (own listener) at beta's merchant"],
      [bOwn, 'psp-beta', ALPHA_ONLY, false, "beta (own listener) at alpha's merchant"],
      [bShared, 'psp-beta', BETA_ONLY, true, "beta (shared listener, by fingerprint) at beta's merchant"],
      [bShared, 'psp-beta', ALPHA_ONLY, false, "beta (shared listener) at alpha's merchant"],
    ] as const) {
      const req = auth({ merchant });
      if (ok) t.equal(rc(await c.send(req)), '00', `${what}: approved`);
      else await refused(t, c, req, what);
      const row = await txnOf(db.pool, req, psp);
      t.ok(row, `${what}: recorded under ${psp}, the identity of its connection`);
      t.equal(row?.state, ok ? 'approved' : 'declined', `${what}: ${ok ? 'approved' : 'declined'}`);
      if (!ok) t.match(row, { response_code: '03', acquirer: null }, `${what}: 03, no acquirer`);
      const other = psp === 'psp-alpha' ? 'psp-beta' : 'psp-alpha';
      t.notOk(await txnOf(db.pool, req, other), `${what}: nothing under ${other}`);
    }
  });

  t.test("completions: beta cannot complete alpha's authorization, at alpha's merchant (03) or at one of both (no record)", async (t) => {
    const orig = auth({ merchant: ALPHA_ONLY, amount: 700 });
    t.equal(rc(await a.send(orig)), '00');
    const byBeta = capture(orig, 700);
    await refused(t, bOwn, byBeta, "beta's capture at alpha's merchant");
    const { rows } = await db.pool.query<{ kind: string; state: string; response_code: string }>(
      'select kind, state, response_code from switch_txn where psp = $1 and psp_stan = $2 and psp_merchant = $3',
      ['psp-beta', byBeta.getString(11), ALPHA_ONLY],
    );
    t.same(rows, [{ kind: 'capture', state: 'declined', response_code: '03' }], "beta's capture recorded, declined 03");
    t.equal((await txnOf(db.pool, orig))?.state, 'approved', "alpha's authorization untouched");
    t.equal(rc(await a.send(capture(orig, 700))), '00', 'alpha completes its own');
    t.equal((await txnOf(db.pool, orig))?.state, 'captured');

    const shared = auth({ merchant: BOTH, amount: 800 });
    t.equal(rc(await a.send(shared)), '00');
    const before = atAcquirers();
    t.equal(rc(await bShared.send(capture(shared, 800))), '25', 'at a merchant of both, beta finds no authorization of its own to complete (25)');
    t.equal(atAcquirers(), before, 'nothing sent');
    t.equal((await txnOf(db.pool, shared))?.state, 'approved', "alpha's authorization untouched");
  });

  t.test("reversals: beta's reversal at alpha's merchant is refused, files no orphan, releases nothing", async (t) => {
    const orig = auth({ merchant: ALPHA_ONLY, amount: 900 });
    t.equal(rc(await a.send(orig)), '00');
    const byBeta = reversal(orig);
    await refused(t, bOwn, byBeta, "beta's reversal at alpha's merchant");
    const { rows } = await db.pool.query<{ kind: string; state: string; response_code: string; psp_stan: string }>(
      'select kind, state, response_code, psp_stan from switch_txn where psp = $1 and psp_merchant = $2 and psp_stan in ($3, $4)',
      ['psp-beta', ALPHA_ONLY, byBeta.getString(11), orig.getString(11)],
    );
    t.same(
      rows,
      [{ kind: 'reversal', state: 'declined', response_code: '03', psp_stan: byBeta.getString(11) }],
      'the reversal recorded, declined 03; no orphan decline filed under the original',
    );
    t.equal((await txnOf(db.pool, orig))?.state, 'approved', "alpha's authorization still approved, its hold kept");
    t.equal(rc(await a.send(reversal(orig))), '00', 'alpha reverses its own');
    t.equal((await txnOf(db.pool, orig))?.state, 'reversed');
  });

  t.test('network management: answered to each identified PSP (no merchant to check)', async (t) => {
    const echo = new IsoMessage('0800', { 7: transmissionDateTime(), 11: nextStan(), 70: '301' });
    const res = await bOwn.send(echo);
    t.equal(res.mti, '0810');
    t.equal(rc(res), '00');
  });

  t.test('an unmapped certificate is refused by the switch', async (t) => {
    const before = h.pspStatus().listeners.find((l) => l.id === 'shared')!.refused.unmapped;
    const c = await connect('shared', stranger);
    if (!c.closed) await once(c, 'close');
    t.equal(h.pspStatus().listeners.find((l) => l.id === 'shared')!.refused.unmapped, before + 1, 'counted on its listener');
  });

  t.test('per-PSP shares: beta over its share is refused, alpha still served', async (t) => {
    t.match(
      h.pspStatus().psps.find((p) => p.psp === 'psp-beta'),
      { connections: 2, maxConnections: 2, maxInFlight: 1 },
    );
    // a third connection of beta, on either listener: closed after its handshake
    const c = await connect('shared', beta);
    if (!c.closed) await once(c, 'close');
    t.equal(h.pspStatus().listeners.find((l) => l.id === 'shared')!.refused.pspConnections, 1, "beta's third connection refused");
    const a2 = await connect('shared', alpha);
    t.equal(rc(await a2.send(auth({ merchant: BOTH }))), '00', 'a new connection of alpha is served');

    // in flight: beta's one request held at the acquirer fills its share
    for (const sim of s.sims()) setRules(sim, [{ when: { panSuffix: '7777' }, delayMs: HOLD_MS }]);
    t.teardown(() => {
      for (const sim of s.sims()) setRules(sim, []);
    });
    const slow = bOwn.send(auth({ merchant: BETA_ONLY, pan: SLOW_PAN }));
    await eventually(() => h.pspQuotas.inFlightOf('psp-beta') === 1, 'beta has its one request in flight');
    const over = auth({ merchant: BETA_ONLY });
    const before = atAcquirers();
    t.equal(rc(await bShared.send(over)), '91', "beta's next request, on its other connection: unavailable at once");
    t.equal(atAcquirers(), before, 'not sent');
    t.notOk(await txnOf(db.pool, over, 'psp-beta'), 'refused at the listener, before the flows: no row');
    t.equal(rc(await a.send(auth({ merchant: BOTH }))), '00', 'alpha is served meanwhile');
    t.equal(h.pspQuotas.inFlightOf('psp-beta'), 1, "while beta's first is still at the acquirer");
    t.equal(rc(await slow), '00', "beta's held request is answered");
    await eventually(() => h.pspQuotas.inFlightOf('psp-beta') === 0, "beta's share released");
    t.equal(rc(await bShared.send(auth({ merchant: BETA_ONLY }))), '00', 'below its share, beta is served again');
  });
});
