import t from 'tap';
import { readFileSync } from 'node:fs';
import { ERROR_TEMPLATES, SwitchError, renderError } from '../src/errors.js';
import { renderErrorDoc } from '../scripts/errors-doc.js';

t.test('every code is SW_ERR_*, unique and has a template', async (t) => {
  const codes = Object.keys(ERROR_TEMPLATES);
  t.ok(codes.length > 10);
  for (const c of codes) t.match(c, /^SW_ERR_[A-Z0-9_]+$/);
  t.equal(new Set(codes).size, codes.length);
});

t.test('the codec codes are pinned: renaming one breaks peers that match on them', async (t) => {
  for (const c of ['SW_ERR_CODEC_TRUNCATED', 'SW_ERR_CODEC_BAD_LENGTH', 'SW_ERR_CODEC_BAD_LENGTH_PREFIX', 'SW_ERR_CODEC_BAD_CHARSET', 'SW_ERR_CODEC_BAD_MTI', 'SW_ERR_CODEC_BAD_BITMAP', 'SW_ERR_CODEC_UNKNOWN_FIELD', 'SW_ERR_CODEC_TRAILING_BYTES', 'SW_ERR_CODEC_OVERSIZED', 'SW_ERR_CODEC_BAD_TLV', 'SW_ERR_CODEC_UNKNOWN_TAG', 'SW_ERR_CODEC_VALUE_INVALID', 'SW_ERR_SPEC_INVALID', 'SW_ERR_FRAME_TOO_LARGE']) {
    t.ok(c in ERROR_TEMPLATES, c);
  }
});

t.test('the start-up codes are pinned: npm start prints them, operators and docs match on them', async (t) => {
  for (const c of ['SW_ERR_START_PORT_IN_USE', 'SW_ERR_START_LISTEN', 'SW_ERR_START_DATABASE', 'SW_ERR_START_DATABASE_LOGIN', 'SW_ERR_START_REDIS', 'SW_ERR_START_CONFIG', 'SW_ERR_START_RULES', 'SW_ERR_START_FAILED', 'SW_ERR_DB_EMBEDDED_FAILED', 'SW_ERR_PAN_HASH_KEY']) {
    t.ok(c in ERROR_TEMPLATES, c);
  }
  t.equal(renderError('SW_ERR_START_PORT_IN_USE', { what: 'PSP', port: 8583, env: 'PSP_PORT', key: 'psp.port' }), 'PSP port 8583 is in use (set PSP_PORT or psp.port)');
});

t.test('messages render from templates and errors carry their code', async (t) => {
  t.equal(renderError('SW_ERR_CODEC_BAD_MTI', { offset: 0 }), 'field 0: MTI at byte 0 is not 4 digits');
  const e = new SwitchError('SW_ERR_FRAME_TOO_LARGE', { length: 10, max: 5 });
  t.equal(e.code, 'SW_ERR_FRAME_TOO_LARGE');
  t.equal(e.message, 'frame length 10 exceeds the cap of 5 bytes');
  t.same(e.toJSON(), { code: 'SW_ERR_FRAME_TOO_LARGE', message: e.message });
});

t.test('docs/errors.md lists every code (npm run docs:errors)', async (t) => {
  t.equal(readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8'), renderErrorDoc());
});
