import t from 'tap';
import { loadConfig } from '../../src/switch/config.js';

const SHA = 'a'.repeat(64);

t.test('ADMIN_TOKENS gives admin.tokens; a malformed entry is refused with the config error', async (t) => {
  const cfg = loadConfig({ env: { ADMIN_TOKENS: `rita:risk-editor:${SHA},ops:operator:${'b'.repeat(64)}` } });
  t.same(cfg.admin.tokens, [
    { name: 'rita', role: 'risk-editor', sha256: SHA, expires: '' },
    { name: 'ops', role: 'operator', sha256: 'b'.repeat(64), expires: '' },
  ]);
  t.throws(() => loadConfig({ env: { ADMIN_TOKENS: 'rita:boss:' + SHA } }), { code: 'SW_ERR_CONFIG_INVALID' });
  t.throws(() => loadConfig({ env: { ADMIN_TOKENS: 'rita:viewer:not-a-hash' } }), { code: 'SW_ERR_CONFIG_INVALID' });
});
