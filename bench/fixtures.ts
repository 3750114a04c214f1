import { IsoMessage, type TlvEntry } from '../src/iso8583/index.js';

/** Ten EMV tags as a terminal sends them in DE55 of an authorization. */
export function emvTags(): TlvEntry[] {
  const t = (tag: string, hex: string): TlvEntry => ({ tag, value: Buffer.from(hex, 'hex') });
  return [
    t('9F26', '1B8B9E36A3E2C0A8'),
    t('9F27', '80'),
    t('9F10', '06010A03A4A002'),
    t('9F37', '9BADBCAB'),
    t('9F36', '0027'),
    t('95', '0000008000'),
    t('9A', '261122'),
    t('9C', '00'),
    t('9F02', '000000005000'),
    t('5F2A', '0978'),
  ];
}

/** A realistic 0100 (test card number, not a real PAN). */
export function realistic0100(): IsoMessage {
  return new IsoMessage('0100', {
    2: '4761739001010119',
    3: '000000',
    4: '000000005000',
    7: '1122131411',
    11: '000123',
    12: '131411',
    13: '1122',
    14: '2812',
    18: '5411',
    22: '051',
    25: '00',
    35: '4761739001010119=28122011758928889',
    37: '633213000123',
    41: 'TERM0001',
    42: 'MERCHANT0000001',
    43: 'ACME GROCERIES'.padEnd(25) + 'PARIS'.padEnd(13) + 'FR',
    49: '978',
    55: emvTags(),
  });
}

export function realistic0110(): IsoMessage {
  return new IsoMessage('0110', {
    2: '4761739001010119',
    3: '000000',
    4: '000000005000',
    7: '1122131412',
    11: '000123',
    12: '131411',
    13: '1122',
    18: '5411',
    25: '00',
    37: '633213000123',
    38: 'A1B2C3',
    39: '00',
    41: 'TERM0001',
    42: 'MERCHANT0000001',
    49: '978',
  });
}
