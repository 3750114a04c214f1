/** The ledger's operations (count, latency) and every group committer's batches. */
import client from 'prom-client';
import type { BatchInfo } from '../store/group-commit.js';
import type { LedgerWriteOp } from '../ledger/types.js';
import { registry, BATCH_BUCKETS, LATENCY_BUCKETS, nameLabel, type Unbind } from './registry.js';

export const ledgerOperations = new client.Counter({
  name: 'switch_ledger_operations_total',
  help: 'Ledger operations by kind and result (ok, error)',
  labelNames: ['op', 'result'] as const,
  registers: [registry],
});

export const ledgerOperationLatency = new client.Histogram({
  name: 'switch_ledger_operation_seconds',
  help: 'Ledger operation latency as the caller sees it (group commit wait included)',
  labelNames: ['op'] as const,
  buckets: LATENCY_BUCKETS,
  registers: [registry],
});

export const groupCommitBatchSize = new client.Histogram({
  name: 'switch_group_commit_batch_size',
  help: 'Requests per group-commit transaction',
  labelNames: ['committer'] as const,
  buckets: BATCH_BUCKETS,
  registers: [registry],
});

export const groupCommitLatency = new client.Histogram({
  name: 'switch_group_commit_seconds',
  help: 'Duration of one group-commit transaction',
  labelNames: ['committer'] as const,
  buckets: LATENCY_BUCKETS,
  registers: [registry],
});

export const groupCommitIsolated = new client.Counter({
  name: 'switch_group_commit_isolated_total',
  help: 'Group-commit batches that failed as a whole and were re-run one request per transaction',
  labelNames: ['committer'] as const,
  registers: [registry],
});

interface GroupCommitSource {
  committer: string;
  stats: () => { batches: number; requests: number; isolatedBatches: number; queued: number };
}
const gcSources = new Set<GroupCommitSource>();

export const groupCommitBatches = new client.Counter({
  name: 'switch_group_commit_batches_total',
  help: 'Group-commit transactions (from the committer stats)',
  labelNames: ['committer'] as const,
  registers: [registry],
  collect() {
    this.reset();
    for (const g of gcSources) this.inc({ committer: g.committer }, g.stats().batches);
  },
});

export const groupCommitRequests = new client.Counter({
  name: 'switch_group_commit_requests_total',
  help: 'Requests written by group commit (from the committer stats); requests / batches = mean batch size',
  labelNames: ['committer'] as const,
  registers: [registry],
  collect() {
    this.reset();
    for (const g of gcSources) this.inc({ committer: g.committer }, g.stats().requests);
  },
});

export const groupCommitQueued = new client.Gauge({
  name: 'switch_group_commit_queued',
  help: 'Requests waiting for the next group-commit batch',
  labelNames: ['committer'] as const,
  registers: [registry],
  collect() {
    this.reset();
    for (const g of gcSources) this.set({ committer: g.committer }, g.stats().queued);
  },
});

/** Export a group committer's running stats (e.g. ledger.stats(), the switch store's stats()). */
export function bindGroupCommitStats(committer: string, stats: GroupCommitSource['stats']): Unbind {
  const src: GroupCommitSource = { committer: nameLabel(committer), stats };
  gcSources.add(src);
  return () => {
    gcSources.delete(src);
  };
}

for (const op of ['hold', 'addBatch', 'commit', 'rollback', 'release'] as const)
  for (const result of ['ok', 'error'] as const) ledgerOperations.inc({ op, result }, 0);

/** One ledger operation as its caller saw it: the ledger's own writes (LedgerOptions.onOperation) and the switch's in its transactions. */
export function recordLedgerOperation(o: { op: LedgerWriteOp; ok: boolean; ms: number }): void {
  ledgerOperations.inc({ op: o.op, result: o.ok ? 'ok' : 'error' });
  ledgerOperationLatency.observe({ op: o.op }, o.ms / 1000);
}

/** An `onBatch` observer for createGroupCommit: batch size, transaction latency, isolation. */
export function groupCommitObserver(committer: string): (info: BatchInfo) => void {
  const c = nameLabel(committer);
  return (info) => {
    groupCommitBatchSize.observe({ committer: c }, info.size);
    groupCommitLatency.observe({ committer: c }, info.ms / 1000);
    if (info.isolated) groupCommitIsolated.inc({ committer: c });
  };
}
