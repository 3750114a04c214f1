import t from 'tap';
import { addDays, businessDay, businessDayEnd } from '../../src/ledger/business-day.js';

t.test('the calendar day in UTC by default', async (t) => {
  t.equal(businessDay(new Date('2026-12-03T23:59:59Z')), '2026-12-03');
  t.equal(businessDay(new Date('2026-12-04T00:00:00Z')), '2026-12-04');
  t.same(businessDayEnd('2026-12-03'), new Date('2026-12-04T00:00:00Z'));
});

t.test('a cut-over moves what comes at or after it to the next business day', async (t) => {
  const spec = { cutover: '22:00' };
  t.equal(businessDay(new Date('2026-12-03T21:59:59Z'), spec), '2026-12-03');
  t.equal(businessDay(new Date('2026-12-03T22:00:00Z'), spec), '2026-12-04');
  t.same(businessDayEnd('2026-12-03', spec), new Date('2026-12-03T22:00:00Z'));
  t.equal(addDays('2026-12-31', 1), '2027-01-01');
  t.equal(addDays('2027-03-01', -1), '2027-02-28');
});

t.test('a time zone, also across its clock changes', async (t) => {
  const spec = { cutover: '18:00', timezone: 'Europe/Berlin' };
  // CET (UTC+1) in December: 18:00 local is 17:00 UTC
  t.equal(businessDay(new Date('2026-12-03T16:59:00Z'), spec), '2026-12-03');
  t.equal(businessDay(new Date('2026-12-03T17:00:00Z'), spec), '2026-12-04');
  t.same(businessDayEnd('2026-12-03', spec), new Date('2026-12-03T17:00:00Z'));
  // CEST (UTC+2) on 2026-03-29, the day Berlin moves its clocks forward
  t.same(businessDayEnd('2026-03-29', spec), new Date('2026-03-29T16:00:00Z'));
  t.same(businessDayEnd('2026-03-28', spec), new Date('2026-03-28T17:00:00Z'));
  // midnight cut-over in a zone west of UTC: the local date, not the UTC one
  t.equal(businessDay(new Date('2026-12-04T03:00:00Z'), { timezone: 'America/New_York' }), '2026-12-03');
  t.same(businessDayEnd('2026-12-03', { timezone: 'America/New_York' }), new Date('2026-12-04T05:00:00Z'));
});

t.test('a bad cut-over or zone is a typed error', async (t) => {
  t.throws(() => businessDay(new Date(), { cutover: '24:00' }), { code: 'SW_ERR_CONFIG_INVALID' });
  t.throws(() => businessDay(new Date(), { timezone: 'Mars/Olympus' }), { code: 'SW_ERR_CONFIG_INVALID' });
});
