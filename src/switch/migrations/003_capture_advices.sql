-- Completion advices (0220) go through store-and-forward beside reversals: a capture the acquirer did not
-- answer is committed, answered and repeated as 0221 until acknowledged (docs/switch.md, "Captures").
alter table switch_saf drop constraint switch_saf_mti_check;
alter table switch_saf add constraint switch_saf_mti_check check (mti in ('0400', '0420', '0220'));

alter table switch_note drop constraint switch_note_event_check;
alter table switch_note add constraint switch_note_event_check
  check (event in ('late_response', 'reversal_sent', 'dead_letter', 'duplicate', 'reversal_queued', 'advice_queued', 'advice_sent'));

-- Whether an attempt may have reached the acquirer: the next one goes as the repeat (0401, 0421, 0221). An
-- attempt that never left (the link down) does not count, so a reversal or advice still goes first as itself.
alter table switch_saf add column sent boolean not null default false;
update switch_saf set sent = attempts > 0;
