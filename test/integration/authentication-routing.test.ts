/**
 * How a payment was authenticated, end to end (docs/routing.md, "Authentication"): the PSP's DE22 and its ECI in
 * DE61 (config authentication.eciField) reach the routing context; rules match on them; a high-risk remote
 * payment without 3-D Secure never goes to a terminal without it, an authenticated or card-present one may.
 */
import t from 'tap';
import type { IsoMessage } from '../../src/iso8583/index.js';
import { activateFiles, activeFiles, startTestSwitch, auth, rc, txnOf } from '../helpers/switch.js';

type Files = Record<string, any>;

const remote = (m: IsoMessage, eci?: string): IsoMessage => {
  m.set(22, '812');
  if (eci) m.set(61, eci);
  return m;
};

t.test('rules match on the 3-D Secure result; risk coverage counts it', async (t) => {
  const s = await startTestSwitch(t);
  const files = activeFiles(s);
  // b-eur-1 without 3-D Secure here; 400000 EUR is high risk (rules/risk.yaml amount_thresholds)
  files.terminals.terminals.find((x: Files) => x.id === 'b-eur-1').three_ds = false;
  files.routing.rules.unshift(
    {
      id: 'no-unauthenticated-5353',
      when: { amount: { min: 5353, max: 5353 }, three_ds: ['not_authenticated'] },
      then: { decline: '57', reason: 'needs 3-D Secure' },
    },
    {
      id: 'high-400000',
      when: { amount: { min: 400000, max: 400000 } },
      then: {
        terminals: [
          { terminal: 'b-eur-1', priority: 1 },
          { terminal: 'c-eur-1', priority: 2 },
        ],
      },
    },
  );
  await activateFiles(s, files, '3-D Secure rules', 'rita');

  t.equal(rc(await s.client.send(remote(auth({ amount: 5353 }), '07'))), '57', 'ECI 07 (not authenticated): the rule declines');
  t.equal(rc(await s.client.send(remote(auth({ amount: 5353 })))), '57', 'remote without an ECI: not authenticated');
  t.equal(rc(await s.client.send(remote(auth({ amount: 5353 }), '05'))), '00', 'ECI 05 (authenticated): the rule does not match');
  t.equal(rc(await s.client.send(auth({ amount: 5353 }))), '00', 'chip (DE22 051): 3-D Secure does not apply');

  const routed = async (m: IsoMessage) => {
    t.equal(rc(await s.client.send(m)), '00');
    return (await txnOf(s.db.pool, m))!.terminal;
  };
  t.equal(await routed(remote(auth({ amount: 400000 }), '07')), 'c-eur-1', 'high risk, not authenticated: past the terminal without 3-D Secure');
  t.equal(await routed(remote(auth({ amount: 400000 }), '05')), 'b-eur-1', 'high risk, authenticated: the first choice');
  t.equal(await routed(auth({ amount: 400000 })), 'b-eur-1', 'high risk, card present: the first choice');
});
