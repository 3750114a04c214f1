/**
 * Maker-checker (docs/admin.md, "Maker-checker"): activations proposed by one person and decided by an approver.
 * The table (admin_pending_activations) is this module's; a proposal is decided once (an update that only an
 * undecided row passes), whichever instance or approver comes first.
 */
import type pg from 'pg';

export interface PendingActivation {
  id: number;
  version: number;
  comment: string;
  proposedBy: string;
  proposedAt: string;
  decision: 'approved' | 'rejected' | null;
  decidedBy: string | null;
  decidedAt: string | null;
}

const COLUMNS = 'id, version, comment, proposed_by, proposed_at, decision, decided_by, decided_at';

function fromRow(r: Record<string, unknown>): PendingActivation {
  return {
    id: Number(r.id),
    version: Number(r.version),
    comment: r.comment as string,
    proposedBy: r.proposed_by as string,
    proposedAt: (r.proposed_at as Date).toISOString(),
    decision: (r.decision as PendingActivation['decision']) ?? null,
    decidedBy: (r.decided_by as string | null) ?? null,
    decidedAt: r.decided_at ? (r.decided_at as Date).toISOString() : null,
  };
}

export class PendingActivations {
  constructor(private readonly pool: pg.Pool) {}

  async propose(version: number, comment: string, proposedBy: string): Promise<PendingActivation> {
    const q = await this.pool.query(`insert into admin_pending_activations (version, comment, proposed_by) values ($1, $2, $3) returning ${COLUMNS}`, [
      version,
      comment,
      proposedBy,
    ]);
    return fromRow(q.rows[0] as Record<string, unknown>);
  }

  /** An undecided proposal, or null. */
  async get(id: number): Promise<PendingActivation | null> {
    const q = await this.pool.query(`select ${COLUMNS} from admin_pending_activations where id = $1 and decision is null`, [id]);
    return q.rows[0] ? fromRow(q.rows[0] as Record<string, unknown>) : null;
  }

  /** Decides an undecided proposal; null when it was decided already. */
  async decide(id: number, decision: 'approved' | 'rejected', by: string): Promise<PendingActivation | null> {
    const q = await this.pool.query(
      `update admin_pending_activations set decision = $2, decided_by = $3, decided_at = now() where id = $1 and decision is null returning ${COLUMNS}`,
      [id, decision, by],
    );
    return q.rows[0] ? fromRow(q.rows[0] as Record<string, unknown>) : null;
  }

  /** Open proposals, oldest first, and the latest decided ones. */
  async list(decidedLimit: number): Promise<{ pending: PendingActivation[]; decided: PendingActivation[] }> {
    const open = await this.pool.query(`select ${COLUMNS} from admin_pending_activations where decision is null order by id`);
    const done = await this.pool.query(
      `select ${COLUMNS} from admin_pending_activations where decision is not null order by decided_at desc, id desc limit $1`,
      [decidedLimit],
    );
    return { pending: open.rows.map((r) => fromRow(r as Record<string, unknown>)), decided: done.rows.map((r) => fromRow(r as Record<string, unknown>)) };
  }
}
