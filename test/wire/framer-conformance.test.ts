/**
 * One conformance suite every framer passes: binary2, ascii4 and bcd2, each with and without a TPDU.
 */
import t from 'tap';
import fc from 'fast-check';
import { createFramer, encodeFrame, keepAliveFrame, framerByName, frameSize, LENGTH_HEADER_KINDS, Reassembler, type Framer } from '../../src/wire/index.js';
import { SwitchError } from '../../src/errors.js';
import { propertyHolds } from '../helpers/seed.js';

const FRAMERS: Framer[] = [];
for (const header of LENGTH_HEADER_KINDS) for (const tpdu of [false, true]) FRAMERS.push(createFramer({ header, tpdu }));

interface Got {
  payloads: Buffer[];
  tpdus: (Buffer | undefined)[];
}

function collector(framer: Framer, maxFrameBytes?: number): { r: Reassembler; got: Got } {
  const got: Got = { payloads: [], tpdus: [] };
  const r = new Reassembler(framer, {
    ...(maxFrameBytes !== undefined ? { maxFrameBytes } : {}),
    onFrame: (p, tp) => {
      got.payloads.push(Buffer.from(p)); // copy: views may point into chunks
      got.tpdus.push(tp ? Buffer.from(tp) : undefined);
    },
  });
  return { r, got };
}

const tpduOf = (i: number): Buffer => Buffer.from([0x60, 0x00, i & 0xff, 0x00, 0x01]);

for (const framer of FRAMERS) {
  t.test(`framer ${framer.name}`, async (t) => {
    t.equal(framerByName(framer.name).name, framer.name, 'name round-trips');

    t.test('header encodes the length of TPDU + payload', async (t) => {
      const payload = Buffer.from('0100ABCDEF');
      const f = encodeFrame(framer, payload, framer.tpduBytes ? tpduOf(7) : undefined);
      t.equal(f.length, frameSize(framer, payload.length));
      t.equal(framer.readLength(f, 0), payload.length + framer.tpduBytes);
      t.same(f.subarray(framer.headerBytes + framer.tpduBytes), payload);
    });

    t.test('every length up to the max round-trips through the header', async (t) => {
      const b = Buffer.alloc(framer.headerBytes);
      for (const n of [0, 1, 9, 10, 99, 100, 255, 256, 999, 1000, 4095, 9999, framer.maxLength]) {
        if (n > framer.maxLength) continue;
        framer.writeLength(b, 0, n);
        t.equal(framer.readLength(b, 0), n, `length ${n}`);
      }
    });

    t.test('1-byte fragments', async (t) => {
      const { r, got } = collector(framer);
      const msgs = [Buffer.from('0800A'), Buffer.from('0110' + 'x'.repeat(300)), Buffer.from([0, 1, 2, 255])];
      const stream = Buffer.concat(msgs.map((m, i) => encodeFrame(framer, m, framer.tpduBytes ? tpduOf(i) : undefined)));
      for (let i = 0; i < stream.length; i++) r.push(stream.subarray(i, i + 1));
      t.same(got.payloads, msgs);
      if (framer.tpduBytes)
        t.same(
          got.tpdus,
          msgs.map((_, i) => tpduOf(i)),
        );
      else t.same(got.tpdus, [undefined, undefined, undefined]);
      t.equal(r.frames, 3);
      t.equal(r.buffered, 0);
    });

    t.test('several frames in one chunk, plus keep-alives skipped and counted', async (t) => {
      const { r, got } = collector(framer);
      let ka = 0;
      const r2 = new Reassembler(framer, { onFrame: (p) => got.payloads.push(Buffer.from(p)), onKeepAlive: () => ka++ });
      const ping = keepAliveFrame(framer);
      const chunk = Buffer.concat([ping, encodeFrame(framer, Buffer.from('a1')), ping, ping, encodeFrame(framer, Buffer.from('b22')), ping]);
      r2.push(chunk);
      t.same(got.payloads.map(String), ['a1', 'b22']);
      t.equal(r2.keepAlives, 4);
      t.equal(ka, 4);
      t.equal(r2.frames, 2);
      t.equal(r.frames, 0);
    });

    t.test('random splits of random frames (property)', async (t) => {
      await propertyHolds(
        t,
        fc.property(
          fc.array(fc.uint8Array({ minLength: 0, maxLength: 600 }), { minLength: 1, maxLength: 12 }),
          fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 30 }),
          (payloads, cuts) => {
            const { r, got } = collector(framer);
            const want = payloads.map((p) => Buffer.from(p));
            // a zero-length payload is a keep-alive only without TPDU; with TPDU it is a TPDU-only frame, which we
            // never send, so give those one byte
            const sent = want.map((p) => (p.length === 0 ? Buffer.from([0x41]) : p));
            const stream = Buffer.concat(sent.map((p, i) => encodeFrame(framer, p, framer.tpduBytes ? tpduOf(i) : undefined)));
            let off = 0;
            let i = 0;
            while (off < stream.length) {
              const n = cuts[i++ % cuts.length]!;
              r.push(stream.subarray(off, off + n));
              off += n;
            }
            return Buffer.concat(got.payloads).equals(Buffer.concat(sent)) && got.payloads.length === sent.length && r.buffered === 0;
          },
        ),
        { numRuns: 300, seed: 42 },
        'every frame comes out whole, in order, nothing left buffered',
      );
    });

    t.test('a length over the cap is a typed connection-level error, and stays one', async (t) => {
      const { r, got } = collector(framer, 100);
      r.push(encodeFrame(framer, Buffer.alloc(100 - framer.tpduBytes, 0x31)));
      t.equal(got.payloads.length, 1, 'exactly at the cap is accepted');
      const big = Buffer.alloc(framer.headerBytes);
      framer.writeLength(big, 0, 101);
      t.throws(() => r.push(big), { code: 'SW_ERR_FRAME_TOO_LARGE' });
      t.throws(() => r.push(Buffer.from([1])), { code: 'SW_ERR_FRAME_TOO_LARGE', name: 'SwitchError' });
      t.equal(
        (() => {
          try {
            r.push(Buffer.alloc(0));
          } catch (e) {
            return (e as SwitchError).message;
          }
          return '';
        })(),
        'frame length 101 exceeds the cap of 100 bytes',
      );
    });

    t.test('the cap is also enforced when the header arrives byte by byte', async (t) => {
      const { r } = collector(framer, 50);
      const big = Buffer.alloc(framer.headerBytes);
      framer.writeLength(big, 0, 51);
      for (let i = 0; i < big.length - 1; i++) r.push(big.subarray(i, i + 1));
      t.throws(() => r.push(big.subarray(big.length - 1)), { code: 'SW_ERR_FRAME_TOO_LARGE' });
    });

    if (framer.header !== 'binary2') {
      t.test('a header that is not a number is a typed error', async (t) => {
        const { r } = collector(framer);
        const bad = framer.header === 'ascii4' ? Buffer.from('00A1') : Buffer.from([0x0a, 0x10]);
        t.throws(() => r.push(bad), { code: 'SW_ERR_FRAME_BAD_HEADER' });
      });
    }

    if (framer.tpduBytes) {
      t.test('a length shorter than the TPDU is a bad header', async (t) => {
        const { r } = collector(framer);
        const b = Buffer.alloc(framer.headerBytes + 3);
        framer.writeLength(b, 0, 3);
        t.throws(() => r.push(b), { code: 'SW_ERR_FRAME_BAD_HEADER' });
      });
    }

    t.test('pause inside onFrame holds the rest; resume delivers it in order', async (t) => {
      const seen: string[] = [];
      const r: Reassembler = new Reassembler(framer, {
        onFrame: (p) => {
          seen.push(String(p));
          if (seen.length % 2 === 1) r.pause();
        },
      });
      const chunk = Buffer.concat(['a', 'b', 'c', 'd', 'e'].map((s) => encodeFrame(framer, Buffer.from(s))));
      r.push(chunk.subarray(0, chunk.length - 2));
      t.same(seen, ['a']);
      t.ok(r.paused);
      r.push(chunk.subarray(chunk.length - 2));
      t.same(seen, ['a'], 'a push while paused only queues');
      r.resume();
      t.same(seen, ['a', 'b', 'c']);
      r.resume();
      t.same(seen, ['a', 'b', 'c', 'd', 'e']);
      t.equal(r.buffered, 0);
    });

    t.test('random bytes never throw anything but the typed frame errors (property)', async (t) => {
      await propertyHolds(
        t,
        fc.property(fc.array(fc.uint8Array({ minLength: 0, maxLength: 64 }), { maxLength: 40 }), (chunks) => {
          const r = new Reassembler(framer, { maxFrameBytes: 512, onFrame: () => undefined });
          try {
            for (const c of chunks) r.push(Buffer.from(c));
          } catch (e) {
            return e instanceof SwitchError && (e.code === 'SW_ERR_FRAME_TOO_LARGE' || e.code === 'SW_ERR_FRAME_BAD_HEADER');
          }
          return r.buffered <= 512 + framer.headerBytes;
        }),
        { numRuns: 2000, seed: 7 },
        'only the typed frame errors, and the buffer stays under the cap',
      );
    });

    t.test('writeFrame refuses a payload the header cannot express', async (t) => {
      t.throws(() => encodeFrame(framer, Buffer.alloc(framer.maxLength + 1)), { code: 'SW_ERR_FRAME_TOO_LARGE' });
    });
  });
}

t.test('unknown framer names are config errors', async (t) => {
  t.throws(() => framerByName('binary3'), { code: 'SW_ERR_CONFIG_INVALID' });
  t.throws(() => framerByName('ascii4+xyz'), { code: 'SW_ERR_CONFIG_INVALID' });
  t.equal(createFramer().name, 'binary2', 'default is the 2-byte binary length');
});
