/**
 * The answer codes the switch forms itself (docs/switch.md, "Response codes"): the configurable ones are read
 * from `responseCodes` of the config, the fixed ones come from src/switch/response-codes.ts.
 */
import t from 'tap';
import { IsoMessage } from '../../src/iso8583/message.js';
import { transmissionDateTime } from '../../src/net/mti.js';
import { APPROVED, INVALID_TRANSACTION } from '../../src/switch/response-codes.js';
import { startTestSwitch, auth, rc, txnOf, nextStan } from '../helpers/switch.js';

t.test('configured codes reach the PSP and the record; fixed codes stay', async (t) => {
  const s = await startTestSwitch(t, { overrides: { acquirerTimeoutMs: 3_000, responseCodes: { unknownMerchant: 'X3', formatError: 'Z0' } } });
  const { client, db } = s;

  const unknown = auth({ merchant: 'NOSUCHMERCHANT1' });
  t.equal(rc(await client.send(unknown)), 'X3', 'unknown merchant: responseCodes.unknownMerchant');
  t.equal((await txnOf(db.pool, unknown))?.response_code, 'X3', 'recorded with the configured code');

  const noAmount = new IsoMessage('0100', {
    2: '4111111111111111',
    3: '000000',
    7: transmissionDateTime(),
    11: nextStan(),
    41: 'TERM0001',
    42: 'SHOP00000000001',
    49: '978',
  });
  t.equal(rc(await client.send(noAmount)), 'Z0', 'format error: responseCodes.formatError');

  t.equal(rc(await client.send(auth())), APPROVED, "an approval is the acquirer's 00");
  const echo = await client.send(new IsoMessage('0800', { 7: transmissionDateTime(), 11: nextStan(), 70: '999' }));
  t.equal(rc(echo), INVALID_TRANSACTION, 'an unknown 0800 is 12, not configurable');
});
