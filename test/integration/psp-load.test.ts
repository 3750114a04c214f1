/**
 * `npm run load` against the switch with its built-in simulators: by default a fresh test card per request, so
 * the approval rate is the simulators' (they approve every card but the 0002 test card: docs/switch.md, "Test
 * cards"); with `--pan` one card is sent over and over, and risk velocity declines it (59) after 30.
 */
import t from 'tap';
import { formatLoadResult, parseLoadArgs, runLoad } from '../../simulators/psp/load.js';
import { startTestSwitch } from '../helpers/switch.js';

// every answer must be the acquirer's: an approval slower than the tests' 400 ms acquirer timeout on a loaded
// machine would be a 91, so the switch waits as long as a real one would
const overrides = { acquirerTimeoutMs: 10_000 };

t.test("load: a fresh card per request by default, so every answer is the simulators' approval", async (t) => {
  const s = await startTestSwitch(t, { overrides });
  const o = { ...parseLoadArgs(['--port', String(s.h.pspPort), '--connections', '2', '--depth', '4', '--duration', '1.5']), progress: false, cardSeed: 4242 };
  t.equal(o.pan, undefined, 'no --pan: no fixed card');
  const r = await runLoad(o);
  t.ok(r.answered > 40, `enough answers to mean something (${r.answered})`);
  t.equal(r.errors + r.timeouts, 0);
  // the built-in simulators answer 00 to every PAN not ending in 0002 (src/switch/acquirers.ts simulatorBehaviour)
  for (const sim of s.sims())
    t.same(
      sim.behaviour().rules.map((x) => x.when?.panSuffix),
      ['0002'],
      'only the 0002 test card is declined',
    );
  t.same(r.response_codes, { '00': r.answered }, 'approval rate 100 %, as the simulators are configured');
  t.equal(r.cards, 'fresh');
  t.match(formatLoadResult(r), /cards\s+a fresh test card per request/);
});

t.test('load --pan: one card every time, declined 59 by risk velocity after 30 in an hour', async (t) => {
  const s = await startTestSwitch(t, { overrides });
  const pan = '4111110000009999';
  const o = { ...parseLoadArgs(['--port', String(s.h.pspPort), '--connections', '1', '--depth', '2', '--duration', '1.5', '--pan', pan]), progress: false };
  const r = await runLoad(o);
  t.ok(r.answered > 30, `more than 30 answers (${r.answered})`);
  t.ok((r.response_codes['00'] ?? 0) <= 30, 'at most 30 approvals for one card');
  t.ok((r.response_codes['59'] ?? 0) >= r.answered - 30, 'the rest declined by velocity');
  t.equal(r.cards, '411111******9999', 'the summary names the fixed card, masked');
  t.match(formatLoadResult(r), /one card, 411111\*{6}9999 \(--pan\)/);
});
