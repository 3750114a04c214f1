/** Cut-over totals (src/switch/cutover-totals.ts, docs/switch.md "Cut-over totals"): each 0500's verdict. */
import client from 'prom-client';
import { registry } from './registry.js';

export const cutoverTotals = new client.Counter({
  name: 'switch_cutover_totals_total',
  help: 'Cut-over totals (0500) sent, by acquirer and verdict: in_balance, out_of_balance, failed (no 0510)',
  labelNames: ['acquirer', 'verdict'] as const,
  registers: [registry],
});

export const cutoverOutOfBalance = new client.Gauge({
  name: 'switch_cutover_totals_out_of_balance',
  help: "1 when the last business day's totals of this acquirer and currency disagree with its 0510 (or it sent none), else 0",
  labelNames: ['acquirer', 'currency'] as const,
  registers: [registry],
});

/** Records one verdict; a day another instance sent is not counted again. */
export function recordCutoverResult(r: { acquirer: string; currency: number; verdict: string }): void {
  if (r.verdict === 'already_sent') return;
  cutoverTotals.inc({ acquirer: r.acquirer, verdict: r.verdict });
  cutoverOutOfBalance.set({ acquirer: r.acquirer, currency: String(r.currency) }, r.verdict === 'in_balance' ? 0 : 1);
}
