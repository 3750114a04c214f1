/**
 * `npm run specs -- import-jpos` (docs/codec.md, "Importing a jPOS packager"). The fixtures in test/fixtures/jpos/
 * are GenericPackager files written for these tests in the structure of jPOS's own, with the classes jPOS uses
 * for each encoding. Imported, they must pack the golden messages byte for byte as the switch's own dialects do.
 */
import t from 'tap';
import { readFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { compileDialect, loadDialect, IsoMessage, type TlvEntry } from '../../src/iso8583/index.js';
import { importJposPackager, jposClass } from '../../src/iso8583/jpos-import.js';
import { realistic0100 } from '../../bench/fixtures.js';
import { ROOT } from '../helpers/switch.js';
import { childEnv } from '../helpers/node-args.js';

const fixture = (name: string): string => readFileSync(new URL(`../fixtures/jpos/${name}.xml`, import.meta.url), 'utf8');
const golden = (name: string): string => readFileSync(new URL(`../fixtures/golden/${name}-0100.hex`, import.meta.url), 'utf8').trim();

/** DE55 as the BER-TLV bytes a jPOS binary field carries (every value here is under 128 bytes). */
function berBytes(entries: TlvEntry[]): Buffer {
  return Buffer.concat(entries.map((e) => Buffer.concat([Buffer.from(e.tag, 'hex'), Buffer.from([e.value.length]), e.value])));
}
const withRawIcc = (m: IsoMessage): IsoMessage => m.clone().set(55, berBytes(m.get(55) as TlvEntry[]));

const echo = (): IsoMessage => new IsoMessage('0800', { 7: '1122131411', 11: '000001', 70: '301' });
const variable = (): IsoMessage => new IsoMessage('0100', { 2: '4761739001010119', 32: '12345', 35: '12345=678', 41: 'T1' });

for (const [file, dialect] of [
  ['iso87ascii', 'iso87-ascii'],
  ['iso87binary', 'iso87-binary'],
] as const) {
  t.test(`${file}.xml imported packs as ${dialect} does`, async (t) => {
    const spec = importJposPackager(fixture(file), `jpos-${dialect}`, `${file}.xml`);
    const ours = loadDialect(dialect);
    const imported = compileDialect(spec);
    t.equal(Object.keys(spec.fields).length, 126, 'data elements 2-128 but 65 (the extended-bitmap bit)');
    t.equal(imported.pack(withRawIcc(realistic0100())).toString('hex'), golden(dialect), 'the realistic 0100: the golden bytes');
    t.same(
      imported.unpack(Buffer.from(golden(dialect), 'hex')).get(55),
      berBytes(realistic0100().get(55) as TlvEntry[]),
      'and reads them back (DE55 as the bytes jPOS gives)',
    );
    t.equal(imported.pack(echo()).toString('hex'), ours.pack(echo()).toString('hex'), '0800 echo (secondary bitmap)');
    if (dialect === 'iso87-ascii') {
      t.equal(imported.pack(variable()).toString('hex'), ours.pack(variable()).toString('hex'), 'LLVAR fields');
    } else {
      // jPOS's IFB_LLNUM pads an odd track 2 with a 0 nibble; the switch's iso87-binary pads F (ISO/IEC 7813 practice)
      const a = imported.pack(variable()).toString('hex');
      const b = ours.pack(variable()).toString('hex');
      t.equal(a.replace('12345d6780', '12345d678f'), b, 'LLVAR fields, but the pad nibble of an odd track 2');
      t.not(a, b);
    }
  });
}

t.test('each known class means what jPOS writes', async (t) => {
  t.same(jposClass('org.jpos.iso.IFA_NUMERIC'), { kind: 'numeric', family: 'a', prefix: 'fixed', prefixEncoding: 'ascii' });
  t.same(jposClass('org.jpos.iso.IFB_LLLNUM'), { kind: 'numeric', family: 'b', prefix: 'lll', prefixEncoding: 'bcd' });
  t.same(jposClass('org.jpos.iso.IFB_LLHBINARY'), { kind: 'binary', family: 'b', prefix: 'll', prefixEncoding: 'binary' });
  t.same(jposClass('org.jpos.iso.IFE_LLCHAR'), { kind: 'char', family: 'e', prefix: 'll', prefixEncoding: 'ebcdic' });
  t.same(jposClass('org.jpos.iso.IFA_LLLLCHAR'), { kind: 'char', family: 'a', prefix: 'llll', prefixEncoding: 'ascii' });
  for (const unknown of [
    'org.jpos.iso.IFMC_LLCHAR',
    'org.jpos.iso.IFA_LLBNUM',
    'org.jpos.iso.IFA_LLNUMERIC',
    'org.jpos.iso.IFA_NUM',
    'org.jpos.iso.IFA_LLHCHAR',
    'com.acme.MyPackager',
  ]) {
    t.equal(jposClass(unknown), null, `${unknown}: not known`);
  }
  const spec = importJposPackager(
    `<isopackager>
    <isofield id="0" length="4" class="org.jpos.iso.IFE_NUMERIC"/>
    <isofield id="1" length="8" class="org.jpos.iso.IFB_BITMAP"/>
    <isofield id="4" length="12" class="org.jpos.iso.IFE_NUMERIC"/>
    <isofield id="28" length="9" class="org.jpos.iso.IFB_AMOUNT" pad="true"/>
    <isofield id="35" length="37" class="org.jpos.iso.IFB_LLHNUM" pad="false"/>
    <isofield id="43" length="40" class="org.jpos.iso.IFE_CHAR"/>
    <isofield id="48" length="999" class="org.jpos.iso.IFB_LLLHCHAR"/>
  </isopackager>`,
    'small',
  );
  t.same(spec.mti, { encoding: 'ebcdic' });
  t.same(spec.bitmap, { encoding: 'binary', maxFields: 64 });
  t.same(spec.fields['4'], { type: 'n', length: 12, encoding: 'ebcdic' });
  t.same(spec.fields['28'], { type: 'xn', length: 8, encoding: 'bcd', bcdPad: { side: 'left', nibble: 0 } }, 'an amount: jPOS counts the sign');
  t.same(
    spec.fields['35'],
    { type: 'z', length: 37, encoding: 'bcd', bcdPad: { side: 'right', nibble: 0 }, prefix: { kind: 'll', encoding: 'binary' }, sensitive: true },
    'track 2 is z, and sensitive',
  );
  t.same(spec.fields['48'], { type: 'ans', length: 999, encoding: 'ascii', prefix: { kind: 'lll', encoding: 'binary' } });
  const codec = compileDialect(spec);
  const m = new IsoMessage('0100', { 4: '000000001000', 28: 'D00000150', 35: '4111111111111111=2512', 43: 'SHOP', 48: 'x'.repeat(300) });
  t.same(codec.unpack(codec.pack(m)).toObject(), { ...m.toObject(), 43: 'SHOP'.padEnd(40) }, 'the imported dialect round-trips');
});

t.test('what the importer does not know is refused by name', async (t) => {
  const base = (field: string) =>
    `<?xml version="1.0"?>\n<!-- a comment -->\n<isopackager>\n  <isofield id="0" length="4" class="org.jpos.iso.IFA_NUMERIC"/>\n  <isofield id="1" length="16" class="org.jpos.iso.IFA_BITMAP"/>\n${field}\n</isopackager>`;
  t.throws(
    () => importJposPackager(base('<isofield id="48" length="999" class="org.jpos.iso.IFMC_LLLCHAR"/>'), 'x', 'x.xml'),
    { code: 'SW_ERR_JPOS_UNKNOWN_PACKAGER', params: { field: '48', packager: 'org.jpos.iso.IFMC_LLLCHAR', file: 'x.xml' } },
    'an unknown field packager',
  );
  t.throws(
    () =>
      importJposPackager(
        base(
          '<isofieldpackager id="127" length="999" class="org.jpos.iso.IFB_LLLHBINARY" packager="org.jpos.iso.packager.GenericSubFieldPackager"><isofield id="0" length="1" class="org.jpos.iso.IF_CHAR"/></isofieldpackager>',
        ),
        'x',
      ),
    { code: 'SW_ERR_JPOS_UNKNOWN_PACKAGER' },
    'subfield packagers',
  );
  t.throws(
    () => importJposPackager(base('<isofield id="48" length="999"/>'), 'x'),
    { code: 'SW_ERR_JPOS_UNKNOWN_PACKAGER', params: { packager: '(no class)' } },
    'no class',
  );
  t.throws(
    () => importJposPackager(base('<isofield id="48" length="x" class="org.jpos.iso.IFA_LLLCHAR"/>'), 'x'),
    { code: 'SW_ERR_JPOS_IMPORT' },
    'a length that is not a number',
  );
  t.throws(
    () =>
      importJposPackager(
        base('<isofield id="48" length="9" class="org.jpos.iso.IFA_LLLCHAR"/><isofield id="48" length="9" class="org.jpos.iso.IFA_LLLCHAR"/>'),
        'x',
      ),
    { code: 'SW_ERR_JPOS_IMPORT' },
    'a field twice',
  );
  t.throws(
    () => importJposPackager(base('<isofield id="48" length="9" class="org.jpos.iso.IFA_LLLCHAR">'), 'x'),
    { code: 'SW_ERR_JPOS_IMPORT' },
    'an element not closed',
  );
  t.throws(() => importJposPackager('<packager/>', 'x'), { code: 'SW_ERR_JPOS_IMPORT' }, 'no <isopackager>');
  t.throws(
    () => importJposPackager('<isopackager><isofield id="1" length="16" class="org.jpos.iso.IFA_BITMAP"/></isopackager>', 'x'),
    { code: 'SW_ERR_JPOS_IMPORT' },
    'no MTI',
  );
});

t.test('npm run specs -- import-jpos writes a spec the switch loads', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'jpos-import-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const out = path.join(dir, 'acme.json');
  const run = (...args: string[]) =>
    spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli/specs.ts'), ...args], { cwd: ROOT, encoding: 'utf8', env: childEnv() });
  const ok = run('import-jpos', path.join(ROOT, 'test/fixtures/jpos/iso87binary.xml'), '--name', 'acme', '--out', out);
  t.equal(ok.status, 0, ok.stderr);
  t.match(ok.stderr, /wrote .*acme\.json: dialect acme, 126 fields/);
  const codec = loadDialect(out);
  t.equal(codec.name, 'acme');
  t.equal(codec.pack(withRawIcc(realistic0100())).toString('hex'), golden('iso87-binary'));

  const bad = path.join(dir, 'bad.xml');
  writeFileSync(bad, fixture('iso87ascii').replace('org.jpos.iso.IFA_LLNUM', 'org.jpos.iso.IFX_LLNUM'));
  const refused = run('import-jpos', bad);
  t.equal(refused.status, 1, 'exit 1');
  t.match(refused.stderr, /SW_ERR_JPOS_UNKNOWN_PACKAGER: .*field 2 uses org\.jpos\.iso\.IFX_LLNUM/, 'names the field and the class');
  t.equal(run('import-jpos').status, 2, 'no file: a usage error');
  t.equal(run('import-jpos', path.join(dir, 'missing.xml')).status, 1, 'a missing file');
});
