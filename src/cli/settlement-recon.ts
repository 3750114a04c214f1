/**
 * `npm run ledger:recon -- --settlement FILE --acquirer ID --day D` (docs/ledger.md, "Settlement files"): the
 * switch's books of one acquirer and business day matched against the file that acquirer settled, read by the
 * layout its acquirers.yaml gives. Prints a table of the breaks and, as its last line, one JSON summary; the
 * run is recorded for the console; the exit code is 1 when anything did not match.
 */
import fs from 'node:fs';
import path from 'node:path';
import type pg from 'pg';
import { readSettlementFile, DEFAULT_SETTLEMENT_LAYOUT } from '../ledger/settlement-file.js';
import { reconcileSettlement, recordSettlementRun, type SettlementResult } from '../ledger/settlement.js';
import { acquirerReferences } from '../switch/store/index.js';
import { SwitchError } from '../errors.js';
import type { RuleSet } from '../routing/types.js';

export interface SettlementReconArgs {
  file: string;
  acquirer: string;
  day: string;
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

/** The breaks as a table, then the counts. */
export function settlementTable(r: SettlementResult): string {
  const head = ['kind', 'rrn', 'type', 'ours', 'theirs', 'fee ours', 'fee theirs', 'line'];
  const rows = r.breaks.map((b) => [
    b.kind,
    b.rrn,
    b.type,
    b.ours ? `${b.ours.amount} ${b.ours.currency}${b.ours.day !== r.day ? ` (${b.ours.day})` : ''}` : '-',
    b.theirs ? `${b.theirs.amount} ${b.theirs.currency}${b.theirs.day !== r.day ? ` (${b.theirs.day})` : ''}` : '-',
    b.ours ? b.ours.fee : '-',
    b.theirs ? (b.theirs.fee ?? '-') : '-',
    b.theirs ? String(b.theirs.line) : '-',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => pad(c, widths[i]!))
      .join('  ')
      .trimEnd();
  const out = [
    `settlement ${r.acquirer} ${r.day} (${r.file}): ${r.ours} item(s) in our books, ${r.theirs} in the file, ${r.matched} matched, ${r.breaks.length} break(s)`,
  ];
  if (rows.length) out.push(line(head), ...rows.map(line));
  out.push(
    Object.entries(r.counts)
      .map(([k, n]) => `${k}=${n}`)
      .join('  '),
  );
  return out.join('\n') + '\n';
}

/** Runs one reconciliation; writes the table and the JSON line to `out`; resolves with the exit code. */
export async function settlementRecon(pool: pg.Pool, a: SettlementReconArgs, rules: RuleSet, out: (s: string) => void): Promise<number> {
  const def = rules.files.acquirers.acquirers.find((x) => x.id === a.acquirer);
  if (!def) throw new SwitchError('SW_ERR_SETTLEMENT_FILE_INVALID', { file: a.file, line: 0, reason: `no acquirer '${a.acquirer}' in the rules` });
  const text = fs.readFileSync(a.file, 'utf8');
  const lines = readSettlementFile(text, def.settlement?.file ?? DEFAULT_SETTLEMENT_LAYOUT, path.basename(a.file));
  const r = await reconcileSettlement(
    pool,
    { acquirer: a.acquirer, day: a.day, file: path.basename(a.file), ...(def.settlement ? { cutover: def.settlement } : {}) },
    lines,
    (ids) => acquirerReferences(pool, ids),
  );
  await recordSettlementRun(pool, r);
  out(settlementTable(r));
  out(
    JSON.stringify({
      acquirer: r.acquirer,
      day: r.day,
      file: r.file,
      ours: r.ours,
      theirs: r.theirs,
      matched: r.matched,
      breaks: r.breaks.length,
      ...r.counts,
    }) + '\n',
  );
  return r.breaks.length === 0 ? 0 : 1;
}
