/**
 * A second independent codec oracle: Wireshark's ISO 8583 dissector (tshark, Debian's package, in
 * .ci/apt-packages). The switch's acquirer link talks to a simulator in each dialect the dissector can read,
 * dumpcap captures the loopback traffic, and tshark decodes it with the dissector's preferences set for that
 * dialect. Every frame must decode without a malformed or expert mark, and the MTI, the primary bitmap and every
 * field the dissector shows must equal what our codec reads from the same bytes (docs/codec.md, "Oracles").
 *
 * Left out where the dissector cannot be told the dialect's convention (the rest of the message is compared):
 * - DE55 in the 1987 dialects: the dissector's 1987 table types it ans..999 with an LLL prefix counting
 *   characters, where ICC data is binary and jPOS and we count its bytes. Its 1993 table has b..255, and in
 *   iso93-ascii DE55 is compared like any field; in iso93-binary (nibbles) it counts a binary field's length in
 *   hex digits, where the dialect (as jPOS's IFB_LLLBINARY) counts bytes, so it is left out there.
 * - DE35 in iso87-ascii-bbitmap: with "binary data not encoded" the dissector reads track 2 (type z) as packed
 *   nibbles too, while this dialect (that of the npm iso_8583 package) keeps text fields ASCII beside a binary
 *   bitmap. In iso87-binary the dissector does not take a BCD track 2's length as a count of digits either (it
 *   reads past the field), so DE35 is compared in iso87-ascii and iso93-ascii only (iso93-binary leaves it out).
 * - DE49 in iso87-binary: ISO 8583:1987 has it n 3 (BCD in this dialect); the dissector's 1987 table has it ans 3,
 *   as 1993 ("a or n") does, and reads three characters. It is compared in the ASCII dialects.
 * The messages without those fields still decode field for field, DE90 of the reversal included.
 */
import t from 'tap';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { AcquirerLink } from '../../src/net/link/index.js';
import { IsoMessage, loadDialect, loadWireCodec, type TlvEntry } from '../../src/iso8583/index.js';
import { framerByName } from '../../src/wire/index.js';
import { startAcquirerSimulator } from '../../simulators/acquirer/index.js';
import { realistic0100 } from '../../bench/fixtures.js';

for (const tool of ['tshark', 'dumpcap']) {
  if (spawnSync(tool, ['--version'], { encoding: 'utf8' }).status !== 0)
    throw new Error(`${tool} is needed (Debian package tshark, listed in .ci/apt-packages)`);
}

interface Case {
  dialect: string;
  /** The dissector's preferences for this dialect's encodings. */
  charset: 'Digits represented as ASCII Characters' | 'Digits represented in nibbles';
  binencode: 'Bin data represented as Hex Ascii characters' | 'Bin data not encoded';
  /** Fields left out of the messages, with the reason in the module comment. */
  omit: number[];
}

const CASES: Case[] = [
  { dialect: 'iso87-ascii', charset: 'Digits represented as ASCII Characters', binencode: 'Bin data represented as Hex Ascii characters', omit: [55] },
  { dialect: 'iso87-ascii-bbitmap', charset: 'Digits represented as ASCII Characters', binencode: 'Bin data not encoded', omit: [35, 55] },
  { dialect: 'iso87-binary', charset: 'Digits represented in nibbles', binencode: 'Bin data not encoded', omit: [35, 49, 55] },
  { dialect: 'iso93-ascii', charset: 'Digits represented as ASCII Characters', binencode: 'Bin data represented as Hex Ascii characters', omit: [] },
  { dialect: 'iso93-binary', charset: 'Digits represented in nibbles', binencode: 'Bin data not encoded', omit: [35, 55] },
];

/** What the switch sends in each case: an authorization, a financial request, a reversal and an echo. */
function requests(omit: number[]): IsoMessage[] {
  const auth = realistic0100().set(11, '000101');
  const financial = realistic0100().set(11, '000102').set(4, '000000012345').delete(35).delete(55);
  financial.mti = '0200';
  const rev = new IsoMessage('0420', {
    3: '000000',
    4: '000000005000',
    7: '1122131500',
    11: '000103',
    37: '633213000123',
    41: 'TERM0001',
    42: 'MERCHANT0000001',
    49: '978',
    90: `0100000101${'1122131411'}${'0'.repeat(22)}`,
  });
  const echo = new IsoMessage('0800', { 7: '1122131501', 11: '000104', 70: '301' });
  const all = [auth, financial, rev, echo];
  for (const m of all) for (const f of omit) m.delete(f);
  return all;
}

/** Waits until a probe connection to `port` shows in the capture file: then dumpcap is capturing. */
async function probeSeen(file: string, port: number, atLeast: number): Promise<number> {
  const count = (): number =>
    spawnSync('tshark', ['-r', file, '-Y', 'tcp.flags.syn==1 && tcp.flags.ack==0'], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).length;
  for (let i = 0; i < 200; i++) {
    const c = net.connect(port, '127.0.0.1');
    await once(c, 'connect');
    c.destroy();
    const n = count();
    if (n >= atLeast) return n;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('dumpcap never showed the probe connection');
}

function ourView(v: unknown): string {
  if (typeof v === 'string') return v;
  if (Buffer.isBuffer(v)) return v.toString('hex').toUpperCase();
  if (Array.isArray(v)) {
    return (v as TlvEntry[])
      .map((e) => e.tag + e.value.length.toString(16).padStart(2, '0') + e.value.toString('hex'))
      .join('')
      .toUpperCase();
  }
  return JSON.stringify(v);
}

function primaryBitmap(m: IsoMessage): string {
  const bits = new Uint8Array(8);
  const nums = m.fieldNumbers();
  if (nums.some((n) => n > 64)) bits[0]! |= 0x80;
  for (const n of nums) if (n <= 64) bits[(n - 1) >> 3]! |= 0x80 >> ((n - 1) & 7);
  return Buffer.from(bits).toString('hex').toUpperCase();
}

/** The frames of one direction, from the TCP payloads in capture order, split by the 2-byte length header. */
function frames(payloadsHex: string[]): Buffer[] {
  const all = Buffer.from(payloadsHex.join(''), 'hex');
  const out: Buffer[] = [];
  for (let o = 0; o + 2 <= all.length;) {
    const n = all.readUInt16BE(o);
    out.push(all.subarray(o + 2, o + 2 + n));
    o += 2 + n;
  }
  return out;
}

for (const c of CASES) {
  t.test(`${c.dialect}: Wireshark's dissector reads what the switch writes, as our codec does`, async (t) => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'tshark-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'capture.pcapng');
    const sim = await startAcquirerSimulator({
      dialect: c.dialect,
      framer: framerByName('binary2'),
      port: 0,
      control: false,
      behaviour: { defaultResponseCode: '00', rules: [] },
    });
    t.teardown(() => sim.close());
    const cap: ChildProcess = spawn('dumpcap', ['-i', 'lo', '-f', `tcp port ${sim.port}`, '-w', file, '-q'], { stdio: ['ignore', 'ignore', 'pipe'] });
    t.teardown(() => {
      if (cap.exitCode === null) cap.kill('SIGKILL');
    });
    let err = '';
    await new Promise<void>((resolve, reject) => {
      cap.stderr!.on('data', (d: Buffer) => {
        err += d.toString();
        if (err.includes('File:')) resolve();
      });
      cap.on('exit', (code) => reject(new Error(`dumpcap exited ${code}: ${err}`)));
    });
    const probes = await probeSeen(file, sim.port, 1);

    const link = new AcquirerLink({
      name: 'tshark',
      host: '127.0.0.1',
      port: sim.port,
      codec: loadWireCodec(c.dialect),
      framer: framerByName('binary2'),
      connections: 1,
    });
    link.start();
    await link.waitReady(1, 10_000);
    const sent = requests(c.omit);
    for (const m of sent) {
      const res = await link.request(m, { timeoutMs: 5_000 });
      t.equal(res.get(39), '00', `${m.mti} answered`);
    }
    await link.close();
    await probeSeen(file, sim.port, probes + 1); // everything before this probe is in the file
    cap.kill('SIGTERM');
    await once(cap, 'exit');

    const prefs = ['-o', 'iso8583.len_endian:Big endian', '-o', `iso8583.charset:${c.charset}`, '-o', `iso8583.binencode:${c.binencode}`];
    const decoded = spawnSync(
      'tshark',
      ['-r', file, '-d', `tcp.port==${sim.port},iso8583`, ...prefs, '-Y', 'iso8583 || _ws.malformed', '-T', 'json', '--no-duplicate-keys'],
      { encoding: 'utf8', maxBuffer: 64 << 20 },
    );
    t.equal(decoded.status, 0, decoded.stderr);
    const packets = JSON.parse(decoded.stdout) as Array<{ _source: { layers: Record<string, unknown> } }>;
    const raw = spawnSync('tshark', ['-r', file, '-Y', 'tcp.len>0', '-T', 'fields', '-e', 'tcp.srcport', '-e', 'tcp.payload'], { encoding: 'utf8' })
      .stdout.trim()
      .split('\n')
      .map((l) => l.split('\t'));

    const wire = loadDialect(c.dialect); // the dialect as written: no 1993 translation
    for (const [direction, fromPort] of [
      ['to the acquirer', (p: string) => p !== String(sim.port)],
      ['from the acquirer', (p: string) => p === String(sim.port)],
    ] as const) {
      const ours = frames(raw.filter(([p]) => fromPort(p!)).map(([, hex]) => hex!)).map((b) => wire.unpack(b));
      const theirs = packets
        .filter((p) => fromPort(String((p._source.layers['tcp'] as Record<string, string>)['tcp.srcport'])))
        .flatMap((p) => {
          const l = p._source.layers;
          t.notOk('_ws.malformed' in l, `no frame ${direction} is marked malformed`);
          const iso = l['iso8583'];
          if (iso === undefined) return []; // a probe connection, a bare ACK: TCP's own expert notes are not ours
          return (Array.isArray(iso) ? iso : [iso]) as Array<Record<string, unknown>>;
        });
      t.equal(theirs.length, ours.length, `${ours.length} messages ${direction}, both decoders`);
      t.ok(ours.length >= sent.length, `at least the ${sent.length} requests and their answers`);
      for (const [i, m] of ours.entries()) {
        const d = theirs[i]!;
        t.notOk('_ws.expert' in d, `${m.mti}: no expert mark`);
        t.equal(d['iso8583.mti'], m.mti, `${direction} #${i}: MTI`);
        t.equal(String(d['iso8583.map1']).toUpperCase(), primaryBitmap(m), `${m.mti}: primary bitmap`);
        const theirFields = Object.keys(d)
          .filter((k) => /^iso8583\.bit[0-9]+$/.test(k))
          .map((k) => Number(k.slice(11)))
          .filter((n) => n !== 1 && n !== 65);
        t.same(
          theirFields.sort((a, b) => a - b),
          m.fieldNumbers(),
          `${m.mti}: the same fields`,
        );
        for (const n of m.fieldNumbers()) {
          let theirs = String(d[`iso8583.bit${n}`]);
          // track 2 in nibbles: the dissector shows the separator as the hex digit D
          if (n === 35 && c.charset === 'Digits represented in nibbles') theirs = theirs.replace('D', '=');
          t.equal(theirs, ourView(m.get(n)), `${m.mti} DE${n}`);
        }
      }
    }
  });
}
