/**
 * Maker-checker, token expiry and revocation, and the per-token limit of heavy requests (docs/admin.md), on the
 * running switch: a risk editor proposes, a second person with the approver role approves (then the version is
 * active on the switch) or rejects; the proposer cannot approve their own; an expired or revoked token is refused.
 */
import t from 'tap';
import { hashToken } from '../../src/admin/auth.js';
import { startTestSwitch } from './harness.js';
import { eventually } from '../helpers/wait.js';

const T = {
  editor: 'mc-editor-token-0123456789',
  approver: 'mc-approver-token-0123456789',
  approver2: 'mc-approver2-token-0123456789',
  operator: 'mc-operator-token-0123456789',
  viewer: 'mc-viewer-token-0123456789',
  old: 'mc-expired-token-0123456789',
};
const ENTRIES = [
  { name: 'rita', role: 'risk-editor', sha256: hashToken(T.editor), expires: '' },
  { name: 'anna', role: 'approver', sha256: hashToken(T.approver), expires: '' },
  { name: 'arno', role: 'approver', sha256: hashToken(T.approver2), expires: '' },
  { name: 'otto', role: 'operator', sha256: hashToken(T.operator), expires: '' },
  { name: 'vera', role: 'viewer', sha256: hashToken(T.viewer), expires: '2999-01-01T00:00:00Z' },
  { name: 'olaf', role: 'viewer', sha256: hashToken(T.old), expires: '2020-01-01T00:00:00Z' },
];

async function start(t: Parameters<typeof startTestSwitch>[0], admin: Record<string, unknown> = {}) {
  const sw = await startTestSwitch(t, 'admin-maker-checker', undefined, {
    admin: { enabled: true, host: '127.0.0.1', port: 0, tokens: ENTRIES, ...admin },
  });
  const call = async (token: string, method: string, url: string, body?: unknown): Promise<{ status: number; body: any }> => {
    const r = await fetch(`${sw.adminUrl}${url}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    return { status: r.status, body: await r.json() };
  };
  return { sw, call };
}

/** A new version (a copy of v1 with one more rule) stored by rita. */
async function newVersion(call: Awaited<ReturnType<typeof start>>['call']): Promise<number> {
  const v1 = await call(T.editor, 'GET', '/api/rules/versions/1');
  const files = v1.body.files;
  files.routing.rules.unshift({ id: `mc-${Date.now()}`, when: { amount: { min: 777, max: 777 } }, then: { decline: '57', reason: 'maker-checker test' } });
  const created = await call(T.editor, 'POST', '/api/rules/versions', { base: 1, files, comment: 'decline 777' });
  return created.body.version as number;
}

t.test('maker-checker: proposed by one, approved by another, then active; rejected; never self-approved', async (t) => {
  const { sw, call } = await start(t);
  const v2 = await newVersion(call);
  const proposed = await call(T.editor, 'POST', `/api/rules/versions/${v2}/activate`, { comment: 'please' });
  t.equal(proposed.status, 202, 'an approver exists: the activation is proposed, not made');
  t.match(proposed.body, { version: v2, proposedBy: 'rita', decision: null, comment: 'please' });
  t.equal(sw.h.watcher.version, 1, 'nothing changed yet');
  const listed = await call(T.viewer, 'GET', '/api/rules/pending');
  t.match(listed.body, { makerChecker: true, pending: [{ id: proposed.body.id, version: v2, proposedBy: 'rita' }] }, 'the pending change and who proposed it');

  t.equal((await call(T.editor, 'POST', `/api/rules/pending/${proposed.body.id}/approve`)).status, 403, 'a risk editor cannot approve');
  t.equal((await call(T.operator, 'POST', `/api/rules/pending/${proposed.body.id}/approve`)).status, 403, 'nor an operator');
  const ok = await call(T.approver, 'POST', `/api/rules/pending/${proposed.body.id}/approve`);
  t.equal(ok.status, 200);
  t.match(ok.body, { pending: { decision: 'approved', decidedBy: 'anna' }, active: { version: v2, changed: true } });
  await eventually(() => sw.h.watcher.version === v2, 'v2 in use at the switch');
  t.match((await call(T.approver2, 'POST', `/api/rules/pending/${proposed.body.id}/approve`)).body, { code: 'SW_ERR_ADMIN_NOT_FOUND' }, 'decided once');

  // an approver who proposes cannot approve their own: the proposer is the person, not the role
  const v3 = await newVersion(call);
  const second = await call(T.editor, 'POST', `/api/rules/versions/${v3}/activate`, {});
  const rejected = await call(T.approver2, 'POST', `/api/rules/pending/${second.body.id}/reject`);
  t.match(rejected, { status: 200, body: { pending: { decision: 'rejected', decidedBy: 'arno' } } });
  t.equal(sw.h.watcher.version, v2, 'a rejected version is not activated');

  const audit = (await call(T.viewer, 'GET', '/api/audit?limit=20')).body.entries.map((e: any) => `${e.actor}:${e.action}`);
  t.same(audit.slice(0, 5), ['arno:rules.reject', 'rita:rules.propose', 'rita:rules.create', 'anna:rules.activate', 'rita:rules.propose']);
  const activation = (await call(T.viewer, 'GET', '/api/audit?action=rules.activate')).body.entries[0];
  t.match(activation.detail, { proposedBy: 'rita', approvedBy: 'anna' }, 'the activation names both people');
});

t.test('the proposer cannot approve their own proposal: SW_ERR_ADMIN_SAME_PERSON', async (t) => {
  // one token per name, one role per token: a person who proposed as a risk editor and holds an approver token
  // later (the config changed in between) is still the proposer
  const { sw, call } = await start(t);
  const v2 = await newVersion(call);
  const { rows } = await sw.h.pool.query<{ id: string }>(
    `insert into admin_pending_activations (version, comment, proposed_by) values ($1, 'mine', 'anna') returning id`,
    [v2],
  );
  const r = await call(T.approver, 'POST', `/api/rules/pending/${rows[0]!.id}/approve`);
  t.match(r, { status: 403, body: { code: 'SW_ERR_ADMIN_SAME_PERSON', message: /anna proposed this change/ } });
  t.equal(sw.h.watcher.version, 1, 'not activated');
  t.match(await call(T.approver2, 'POST', `/api/rules/pending/${rows[0]!.id}/approve`), { status: 200 }, 'another approver may');
});

t.test('makerChecker off: a risk editor activates directly', async (t) => {
  const { sw, call } = await start(t, { makerChecker: 'off' });
  const v2 = await newVersion(call);
  const r = await call(T.editor, 'POST', `/api/rules/versions/${v2}/activate`, {});
  t.match(r, { status: 200, body: { version: v2, changed: true } });
  await eventually(() => sw.h.watcher.version === v2, 'active');
  t.match((await call(T.viewer, 'GET', '/api/rules/pending')).body, { makerChecker: false, pending: [] });
});

t.test('expired and revoked tokens are refused; heavy requests are limited per token', async (t) => {
  const { call } = await start(t, { heavyRequestsPerMinute: 3 });
  t.match(await call(T.old, 'GET', '/api/whoami'), {
    status: 401,
    body: { code: 'SW_ERR_ADMIN_UNAUTHORIZED', message: /expired at 2020-01-01T00:00:00.000Z/ },
  });
  t.equal((await call(T.viewer, 'GET', '/api/whoami')).status, 200, 'not yet expired');
  const tokens = (await call(T.viewer, 'GET', '/api/tokens')).body.tokens;
  t.match(
    tokens.find((x: any) => x.name === 'olaf'),
    { role: 'viewer', expired: true, revoked: null },
  );
  t.notMatch(JSON.stringify(tokens), /[0-9a-f]{64}/, 'no hash in the list');

  t.equal((await call(T.viewer, 'POST', '/api/tokens/vera/revoke', { reason: 'left the team' })).status, 403, 'a viewer cannot revoke');
  const revoked = await call(T.operator, 'POST', '/api/tokens/vera/revoke', { reason: 'left the team' });
  t.match(revoked, { status: 200, body: { name: 'vera', revoked: { by: 'otto', reason: 'left the team' } } });
  t.match(await call(T.viewer, 'GET', '/api/whoami'), { status: 401, body: { message: /revoked/ } }, 'refused from now on');

  const sample = { bin: '41111111', cardToken: 'c', amountMinor: 100, currency: '978', merchantId: 'SHOP00000000001', psp: 'psp-alpha' };
  const codes: number[] = [];
  for (let i = 0; i < 4; i++) codes.push((await call(T.editor, 'POST', '/api/rules/evaluate', { context: sample })).status);
  t.same(codes, [200, 200, 200, 429], 'the fourth in a minute is refused');
  const limited = await call(T.editor, 'POST', '/api/rules/validate', { files: {} });
  t.match(
    limited.body,
    { code: 'SW_ERR_ADMIN_RATE_LIMITED', message: /more than 3 validate requests a minute/ },
    'one budget per token for every heavy request',
  );
  t.equal((await call(T.approver, 'POST', '/api/rules/evaluate', { context: sample })).status, 200, 'another token has its own');
  t.equal((await call(T.editor, 'GET', '/api/rules/versions')).status, 200, 'light requests are not limited');
});
