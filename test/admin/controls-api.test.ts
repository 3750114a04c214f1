/**
 * The manual-controls API (docs/admin.md, "Manual controls") on the running switch: operators only, audited,
 * shown in the acquirers' health table, exported as switch_manual_control, lifted by DELETE.
 */
import t from 'tap';
import { startTestSwitch } from './harness.js';
import { TOKENS } from './fixtures.js';

t.test('drain an acquirer through the API: permission, health table, audit log, metric, lift', async (t) => {
  const sw = await startTestSwitch(t, 'admin-controls');
  const call = async (who: keyof typeof TOKENS, method: string, url: string, body?: unknown): Promise<{ status: number; body: any }> => {
    const r = await fetch(`${sw.adminUrl}${url}`, {
      method,
      headers: { authorization: `Bearer ${TOKENS[who]}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    return { status: r.status, body: await r.json() };
  };
  const drain = { state: 'drain', reason: 'bank maintenance', ttlSeconds: 3600 };
  t.equal((await call('viewer', 'PUT', '/api/controls/acquirer/acq-a', drain)).status, 403, 'a viewer may not');
  t.equal((await call('editor', 'PUT', '/api/controls/acquirer/acq-a', drain)).status, 403, 'nor a risk editor');
  const set = await call('operator', 'PUT', '/api/controls/acquirer/acq-a', drain);
  t.equal(set.status, 200);
  t.match(set.body, { targetKind: 'acquirer', target: 'acq-a', state: 'drain', reason: 'bank maintenance', actor: 'otto' });
  const lapses = Date.parse(set.body.expiresAt) - Date.now();
  t.ok(lapses > 3_500_000 && lapses <= 3_600_000, `expires in an hour (${lapses} ms)`);

  const bad = await call('operator', 'PUT', '/api/controls/terminal/no-such-terminal', drain);
  t.match(bad, { status: 400, body: { code: 'SW_ERR_CONTROL_INVALID' } }, 'an unknown target is refused');
  t.equal((await call('operator', 'PUT', '/api/controls/acquirer/acq-a', { state: 'drain' })).status, 400, 'a reason is required');

  const health = await call('viewer', 'GET', '/api/acquirers/acq-a');
  t.match(health.body.control, { state: 'drain', reason: 'bank maintenance', actor: 'otto' }, 'the health table shows it');
  t.equal((await call('viewer', 'GET', '/api/acquirers/acq-b')).body.control, null);
  const listed = await call('viewer', 'GET', '/api/controls');
  t.same(
    listed.body.active.map((c: any) => [c.target, c.state]),
    [['acq-a', 'drain']],
  );

  const metrics = await (await fetch(`${sw.adminUrl}/metrics`)).text();
  t.match(metrics, /switch_manual_control\{target_kind="acquirer",target="acq-a",state="drain"\} 1/, 'exported as a metric');

  const lift = await call('operator', 'DELETE', '/api/controls/acquirer/acq-a');
  t.match(lift, { status: 200, body: { state: 'drain', clearedBy: 'otto' } });
  t.equal((await call('operator', 'DELETE', '/api/controls/acquirer/acq-a')).status, 404, 'nothing left to lift');
  t.equal((await call('viewer', 'GET', '/api/acquirers/acq-a')).body.control, null);
  t.notMatch(await (await fetch(`${sw.adminUrl}/metrics`)).text(), /switch_manual_control\{[^}]*target="acq-a"/, 'gone from the metric');

  const audit = await call('viewer', 'GET', '/api/audit?limit=10');
  const actions = audit.body.entries.map((e: any) => [e.action, e.actor, e.target]);
  t.same(actions.filter((a: string[]) => a[2] === 'acquirer acq-a').slice(0, 2), [
    ['control.lift', 'otto', 'acquirer acq-a'],
    ['control.drain', 'otto', 'acquirer acq-a'],
  ]);
  t.ok(
    actions.some((a: string[]) => a[0] === 'control.drain.failed' && a[2] === 'terminal no-such-terminal'),
    'the refused one is audited as failed',
  );
});
