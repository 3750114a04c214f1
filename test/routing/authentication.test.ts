/** How a payment was authenticated (src/routing/authentication.ts, docs/routing.md "Authentication"), read from DE22, DE25 and the ECI. */
import t from 'tap';
import { authenticationOf } from '../../src/routing/authentication.js';
import { eciOf } from '../../src/switch/authentication-field.js';
import { IsoMessage } from '../../src/iso8583/index.js';

t.test('entry mode, ECI and the 3-D Secure result they mean', async (t) => {
  const cases: Array<[string | undefined, string | undefined, string | undefined, string, string | null, string]> = [
    ['051', undefined, undefined, 'chip', null, 'not_applicable'],
    ['071', undefined, undefined, 'contactless', null, 'not_applicable'],
    ['901', undefined, undefined, 'magstripe', null, 'not_applicable'],
    ['812', undefined, '05', 'ecommerce', '05', 'authenticated'],
    ['812', undefined, '02', 'ecommerce', '02', 'authenticated'],
    ['812', undefined, '06', 'ecommerce', '06', 'attempted'],
    ['812', undefined, '01', 'ecommerce', '01', 'attempted'],
    ['812', undefined, '07', 'ecommerce', '07', 'not_authenticated'],
    ['812', undefined, undefined, 'ecommerce', null, 'not_authenticated'],
    ['012', '59', '05', 'ecommerce', '05', 'authenticated'],
    ['012', undefined, undefined, 'manual', null, 'not_authenticated'],
    ['102', undefined, undefined, 'credential_on_file', null, 'not_authenticated'],
    ['051', '59', undefined, 'chip', null, 'not_applicable'],
    ['812', undefined, '99', 'ecommerce', '99', 'not_authenticated'],
    ['812', undefined, 'x5', 'ecommerce', null, 'not_authenticated'],
    [undefined, undefined, undefined, 'unknown', null, 'not_authenticated'],
  ];
  for (const [de22, de25, eci, entryMode, e, threeDs] of cases)
    t.same(authenticationOf(de22, de25, eci), { entryMode, eci: e, threeDs }, `DE22 ${de22} DE25 ${de25} ECI ${eci}`);
});

t.test('the ECI from the configured field and offset', async (t) => {
  const m = new IsoMessage('0100', { 61: '05', 48: 'AB07CD' });
  t.equal(eciOf(m, { eciField: 61, eciOffset: 0 }), '05');
  t.equal(eciOf(m, { eciField: 48, eciOffset: 2 }), '07');
  t.equal(eciOf(m, { eciField: 48, eciOffset: 5 }), undefined, 'too short');
  t.equal(eciOf(m, { eciField: 62, eciOffset: 0 }), undefined, 'absent');
  t.equal(eciOf(m, { eciField: 0, eciOffset: 0 }), undefined, 'off');
});
