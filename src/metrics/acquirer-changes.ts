/** Acquirers changed by an activated acquirers.yaml (src/switch/acquirers.ts, docs/switch.md "Acquirers on activation"). */
import client from 'prom-client';
import { registry } from './registry.js';

export const acquirerChanges = new client.Counter({
  name: 'switch_acquirer_changes_total',
  help: 'Acquirer changes applied from an activated rules version, by acquirer and change: added, replaced (new link), updated (same link), removed, failed',
  labelNames: ['acquirer', 'change'] as const,
  registers: [registry],
});

/** Counts what one apply did (the shape of AcquirerChanges). */
export function recordAcquirerChanges(ch: {
  added: readonly string[];
  replaced: readonly string[];
  updated: readonly string[];
  removed: readonly string[];
  failed: ReadonlyArray<{ acquirer: string }>;
}): void {
  for (const change of ['added', 'replaced', 'updated', 'removed'] as const) for (const acquirer of ch[change]) acquirerChanges.inc({ acquirer, change });
  for (const f of ch.failed) acquirerChanges.inc({ acquirer: f.acquirer, change: 'failed' });
}
