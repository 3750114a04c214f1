/**
 * The admin API answers a SwitchError with its code's own HTTP status from the registry (src/errors.ts), and
 * anything else with 500 SW_ERR_ADMIN_INTERNAL, logging a scrubbed summary. Unit level: no database, a
 * transactions dependency that throws, requests through fastify's inject.
 */
import t from 'tap';
import type pg from 'pg';
import { pino } from 'pino';
import { buildAdminApp } from '../../src/admin/app.js';
import type { TransactionQueries } from '../../src/admin/deps.js';
import { ERROR_REGISTRY, SwitchError, type ErrorCode } from '../../src/errors.js';
import { TOKEN_ENTRIES, TOKENS } from './fixtures.js';

async function appThrowing(t: { teardown(fn: () => unknown): void }, make: () => unknown) {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  const transactions: TransactionQueries = {
    search: async () => {
      throw make();
    },
    get: async () => null,
  };
  // no database: the one query the auth hook makes (is the token revoked?) answers no
  const pool = { query: async () => ({ rowCount: 0, rows: [] }) } as unknown as pg.Pool;
  const app = await buildAdminApp({ pool, migrate: false, tokens: TOKEN_ENTRIES, transactions, logger });
  t.teardown(() => app.close());
  const get = () => app.inject({ method: 'GET', url: '/api/transactions', headers: { authorization: `Bearer ${TOKENS.viewer}` } });
  return { get, lines };
}

t.test('an overloaded group committer answers 503 with its code', async (t) => {
  const { get, lines } = await appThrowing(t, () => new SwitchError('SW_ERR_GROUP_COMMIT_OVERLOADED', { name: 'intent', max: 4096 }));
  const r = await get();
  t.equal(r.statusCode, 503);
  t.same(r.json(), { code: 'SW_ERR_GROUP_COMMIT_OVERLOADED', message: 'group committer intent queue is full (4096 requests waiting)' });
  const failed = lines.find((l) => l['msg'] === 'admin request failed');
  t.match(
    failed?.['err'],
    { code: 'SW_ERR_GROUP_COMMIT_OVERLOADED', message: 'group committer intent queue is full (4096 requests waiting)' },
    '5xx logged with the safe summary',
  );
});

t.test('every code answers with the status of its registry entry', async (t) => {
  let code: ErrorCode = 'SW_ERR_ADMIN_INTERNAL';
  const { get } = await appThrowing(t, () => new SwitchError(code));
  for (const e of Object.values(ERROR_REGISTRY)) {
    code = e.code;
    const r = await get();
    t.equal(r.statusCode, e.httpStatus, `${e.code} → ${e.httpStatus}`);
    t.equal(r.json().code, e.code);
  }
});

t.test('an error that is not a SwitchError: 500 SW_ERR_ADMIN_INTERNAL, logged scrubbed, nothing echoed', async (t) => {
  const { get, lines } = await appThrowing(t, () =>
    Object.assign(new Error('row for pan 4111111111111111 key 0123456789ABCDEF0123456789ABCDEF broke'), { code: 'XX000' }),
  );
  const r = await get();
  t.equal(r.statusCode, 500);
  t.same(r.json(), { code: 'SW_ERR_ADMIN_INTERNAL', message: 'admin API: internal error (see the server log)' });
  const failed = lines.find((l) => l['msg'] === 'admin request failed');
  t.match(failed?.['err'], { code: 'XX000', message: 'row for pan [digits] key [hex] broke' });
  t.notMatch(JSON.stringify(lines), /4111111111111111|0123456789ABCDEF/, 'no PAN or key in any log line');
});
