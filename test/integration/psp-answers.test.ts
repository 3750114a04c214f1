/**
 * The answers the PSP server forms itself (an unreadable request, a failed handler, the switch full) carry the
 * switch's configured response codes (docs/switch.md, "Response codes"): src/app/runtime.ts hands
 * `responseCodes` to the server, which decides none of them itself.
 */
import t from 'tap';
import { loadDialect } from '../../src/iso8583/index.js';
import { encodeFrame } from '../../src/wire/framer.js';
import { framerByName } from '../../src/wire/index.js';
import { waitFor } from '../helpers/net.js';
import { auth, startTestSwitch } from '../helpers/switch.js';

t.test('the PSP server answers with config.responseCodes', async (t) => {
  const responseCodes = { formatError: 'F1', systemError: 'S1', unavailable: 'U1' };
  const s = await startTestSwitch(t, { overrides: { responseCodes } });
  t.same(s.h.psp.options.answers, responseCodes, 'runtime passes the configured codes');
  const codec = loadDialect(s.cfg.psp.dialect);
  const framer = framerByName(s.cfg.psp.framer);
  const packed = codec.pack(auth());
  const got: Buffer[] = [];
  s.client.socket.on('data', (b: Buffer) => got.push(b));
  // a readable MTI, a body cut short: the server answers it with the format error code of the config
  s.client.socket.write(encodeFrame(framer, packed.subarray(0, packed.length - 5)));
  await waitFor(() => s.h.psp.stats.formatErrorResponses === 1, 20_000, 'format error answer');
  await waitFor(() => Buffer.concat(got).includes(Buffer.from('F1')), 20_000, 'F1 on the wire');
  t.pass('answered F1');
});
