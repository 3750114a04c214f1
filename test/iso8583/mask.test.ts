import t from 'tap';
import { maskPan, maskMessage, maskTrack2, IsoMessage } from '../../src/iso8583/index.js';
import { realistic0100 } from '../../bench/fixtures.js';

t.test('maskPan keeps first 6 and last 4', async (t) => {
  t.equal(maskPan('4761739001010119'), '476173******0119');
  t.equal(maskPan('5413330089020011234'), '541333*********1234');
  t.equal(maskPan('123456789'), '*****6789', 'short numbers keep only the last 4');
  t.equal(maskPan('123'), '***');
  t.notMatch(maskTrack2('4761739001010119=2812'), /4761/);
});

t.test('maskMessage wipes track data, PIN block and ICC data and masks the PAN', async (t) => {
  const m = realistic0100();
  m.set(52, Buffer.from('7434F67813BAE545', 'hex'));
  m.set(45, 'B4761739001010119^DOE/JOHN^2812');
  m.set(36, '4761739001010119');
  const safe = JSON.stringify(maskMessage(m));
  t.notMatch(safe, '4761739001010119', 'no full PAN');
  t.notMatch(safe, '=2812', 'no track 2');
  t.notMatch(safe, 'DOE/JOHN', 'no track 1');
  t.notMatch(safe, /7434f678|7434F678/, 'no PIN block');
  t.notMatch(safe, /9F26|1b8b9e/i, 'no ICC data');
  const o = maskMessage(m);
  t.equal(o['2'], '476173******0119');
  for (const f of ['35', '36', '45', '52', '55']) t.equal(o[f], '[wiped]', `DE${f} wiped`);
  t.equal(o['4'], '000000005000', 'other fields shown');
  t.same(maskMessage(new IsoMessage('0800', { 64: Buffer.alloc(8) }))['64'], '[8 bytes]', 'binary fields shown by length only');
});
