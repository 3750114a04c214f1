-- Duplicates and repeats without DE7 (docs/switch.md, "Duplicates and repeats"): the key is MTI class, DE11,
-- DE41, DE42 led by DE13+DE12 or by the duplicate window's number; the previous window's key is checked too.
alter type switch_intent_in add attribute prev_key text;
-- (the previous window's key is probed on the unique index (day, psp, dup_key), as the key itself is)

-- The original a capture or reversal names by DE90 (MTI, DE11, DE7) with DE41 and DE42, found and kept unique
-- by those: a reversal that came first files the original's decline under them, so an original being written
-- at the same moment collides with it (docs/faults.md F11).
create unique index switch_intent_original on switch_intent (day, psp, psp_dt, psp_stan, psp_terminal, psp_merchant)
  where attempt = 1 and kind in ('auth', 'financial');
