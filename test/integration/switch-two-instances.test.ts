/**
 * Two switch instances on one database and one Redis: they agree on a dead route (the failure detector's
 * counts are shared through Redis), and a rules version activated through one is in use on the other
 * within a second (LISTEN/NOTIFY).
 */
import t from 'tap';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import { stringify as stringifyYaml } from 'yaml';
import { loadConfig } from '../../src/switch/config.js';
import { startSwitch, type SwitchHandle } from '../../src/app/runtime.js';
import { loadRuleSet } from '../../src/routing/rules-loader.js';
import { PspClient } from '../../simulators/psp/client.js';
import { testDb } from '../helpers/db.js';
import { testRedis } from '../helpers/redis.js';
import { startBuiltInSimulator } from '../../simulators/acquirer/index.js';
import { auth, eventually, rc, rulesFor, startSimulators, testOverrides } from '../helpers/switch.js';
import { until } from '../helpers/wait.js';

t.test('two instances sharing Redis agree on a dead route; a version activated on one reaches the other', async (t) => {
  const db = await testDb(t, { max: 4 });
  const redis = await testRedis(t);
  const sims = await startSimulators(t);
  const dir = rulesFor(t, Object.fromEntries([...sims].map(([id, s]) => [id, s.port])));
  // One rule: acq-a first, then acq-b, then acq-c.
  writeFileSync(
    path.join(dir, 'routing.yaml'),
    stringifyYaml({
      rules: [
        {
          id: 'chain',
          default: true,
          then: {
            terminals: [
              { terminal: 'a-eur-1', priority: 1 },
              { terminal: 'b-eur-1', priority: 2 },
              { terminal: 'c-eur-1', priority: 3 },
            ],
          },
        },
      ],
    }),
  );
  const start = async (): Promise<SwitchHandle> => {
    const cfg = loadConfig({
      env: {},
      overrides: testOverrides(db.url, { rulesDir: dir, redis: { url: redis.url, prefix: redis.prefix }, acquirerTimeoutMs: 1000 }),
    });
    const h = await startSwitch(cfg, { log: pino({ level: 'silent' }), startSimulator: startBuiltInSimulator });
    t.teardown(() => h.stop());
    return h;
  };
  const a = await start();
  const b = await start();
  const clientA = await PspClient.connect({ port: a.pspPort, timeoutMs: 30_000 });
  t.teardown(() => clientA.close());

  const first = await clientA.send(auth());
  t.equal(rc(first), '00', 'approved through acq-a while it answers');
  t.ok(a.detector.isAlive('acq-a') && b.detector.isAlive('acq-a'), 'both see acq-a alive');

  // acq-a goes silent: only instance A carries traffic.
  sims.get('acq-a')!.setBehaviour({ faults: { neverAnswer: 1 } });
  const sending = (async () => {
    for (let i = 0; i < 60 && a.detector.isAlive('acq-a'); i++) await clientA.send(auth()).catch(() => undefined);
  })();
  await eventually(() => !a.detector.isAlive('acq-a') || undefined, 'instance A judges acq-a dead', 30_000);
  await sending;
  const seenByB = await until(
    () => b.detector.health('acq-a'),
    (h) => !h.alive,
    5_000,
  );
  t.notOk(a.detector.isAlive('acq-a'), 'instance A considers acq-a dead');
  t.notOk(seenByB.alive, 'and so does instance B, which sent nothing to acq-a');
  t.ok(seenByB.volume > 0, 'B judges from the calls A recorded');
  // Traffic goes around the dead acquirer; at most one request per probe interval tests it (and is lost).
  // Sent together, so all six are decided within one probe interval (sent one by one, each lost probe takes
  // the 1 s timeout and the next request already falls in the next interval).
  const codes = (await Promise.all(Array.from({ length: 6 }, () => clientA.send(auth())))).map((r) => rc(r) ?? '');
  const approved = codes.filter((c) => c === '00').length;
  t.ok(approved >= 5, `${approved} of 6 approved around the dead acquirer (codes ${codes.join(',')})`);

  // Activate a new version through A: B picks it up.
  const before = b.watcher.current().version;
  const set = loadRuleSet(dir);
  const files = JSON.parse(JSON.stringify(set.files)) as typeof set.files;
  files.routing.rules[0]!.id = 'chain-v2';
  const v = await a.versions.create(files, { author: 'test', comment: 'two instances' });
  const t0 = Date.now();
  await a.versions.activate(v.version, { actor: 'test' });
  // a liveness bound, not a benchmark: LISTEN/NOTIFY takes some milliseconds, the poll fallback a second; 15 s is
  // ten times the 1.5 s this used to assert, for a loaded machine
  const onB = await until(
    () => b.watcher.current().version,
    (x) => x === v.version,
    15_000,
    10,
  );
  const ms = Date.now() - t0;
  t.not(before, v.version);
  t.equal(onB, v.version, `instance B switched to version ${v.version} ${ms} ms after activation`);
});
