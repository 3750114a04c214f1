/** When cut-over totals are due (src/switch/cutover-totals.ts nextTotalsRun): the day that closed, at its end plus the delay. */
import t from 'tap';
import { nextTotalsRun } from '../../src/switch/cutover-totals.js';

const at = (iso: string) => Date.parse(iso);
const iso = (ms: number) => new Date(ms).toISOString();

t.test('UTC midnight cut-over, 60 s delay', async (t) => {
  const r = nextTotalsRun(at('2026-12-04T15:00:00Z'), {}, 60_000);
  t.same([r.day, iso(r.at)], ['2026-12-04', '2026-12-05T00:01:00.000Z'], 'during the day: that day, at the next midnight + 1 min');
  const r2 = nextTotalsRun(at('2026-12-05T00:00:30Z'), {}, 60_000);
  t.same([r2.day, iso(r2.at)], ['2026-12-04', '2026-12-05T00:01:00.000Z'], 'within the delay after the cut-over: the day just closed');
  const r3 = nextTotalsRun(at('2026-12-05T00:01:00Z'), {}, 60_000);
  t.same([r3.day, iso(r3.at)], ['2026-12-05', '2026-12-06T00:01:00.000Z'], 'once the closed day is due: the next one');
});

t.test('22:00 Europe/Berlin, across the DST change', async (t) => {
  const spec = { cutover: '22:00', timezone: 'Europe/Berlin' };
  // 22:00 CET is 21:00Z; a capture at 21:30Z belongs to the next business day
  const r = nextTotalsRun(at('2026-12-04T21:30:00Z'), spec, 0);
  t.same([r.day, iso(r.at)], ['2026-12-05', '2026-12-05T21:00:00.000Z']);
  // 28 March 2026 22:00 CET = 21:00Z; 29 March (CEST) 22:00 = 20:00Z
  const r2 = nextTotalsRun(at('2026-03-29T12:00:00Z'), spec, 0);
  t.same([r2.day, iso(r2.at)], ['2026-03-29', '2026-03-29T20:00:00.000Z'], 'summer time: the cut-over moves an hour in UTC');
});
