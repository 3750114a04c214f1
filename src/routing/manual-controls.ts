/**
 * Manual controls (docs/routing.md, "Manual controls"): an operator drains, forces down or forces up a terminal or
 * an acquirer, with a reason and an optional expiry. The controls live in Postgres (routing_controls, this module's
 * table); each instance reads the active ones every `pollMs` (250 ms), so a control takes effect on every instance
 * well within a second, and at once on the instance that set it. Expiry is checked at each lookup, not only at
 * the next poll. The selector asks `controlOf(terminal, acquirer)`: the terminal's own control, else its acquirer's.
 */
import type pg from 'pg';
import { SwitchError, errorSummary } from '../errors.js';
import { inTransaction } from '../store/tx.js';

export type ControlState = 'drain' | 'down' | 'up';
export type ControlTargetKind = 'acquirer' | 'terminal';
export const CONTROL_STATES: readonly ControlState[] = ['drain', 'down', 'up'];

export interface ManualControl {
  id: number;
  targetKind: ControlTargetKind;
  target: string;
  state: ControlState;
  reason: string;
  actor: string;
  createdAt: string;
  /** ISO time at which it lapses by itself, or null (until lifted). */
  expiresAt: string | null;
}

export interface ClearedControl extends ManualControl {
  clearedAt: string | null;
  clearedBy: string | null;
}

export interface ControlRequest {
  targetKind: ControlTargetKind;
  target: string;
  state: ControlState;
  reason: string;
  actor: string;
  /** When it lapses; absent: until lifted. */
  expiresAt?: Date;
}

/** What the selector reads: the control that applies to a terminal of an acquirer, if any. */
export interface ControlView {
  controlOf(terminal: string, acquirer: string): ManualControl | undefined;
}

export interface ManualControlsOptions {
  pool: pg.Pool;
  pollMs?: number;
  /** True when the rules in use know the target: a control of nothing is refused. */
  known?: (kind: ControlTargetKind, id: string) => boolean;
  log?: { warn(obj: object, msg: string): void };
}

const COLUMNS = `id, target_kind, target, state, reason, actor, created_at, expires_at, cleared_at, cleared_by`;
const TARGET = /^[A-Za-z0-9._-]{1,64}$/;

function fromRow(r: Record<string, unknown>): ClearedControl {
  return {
    id: Number(r.id),
    targetKind: r.target_kind as ControlTargetKind,
    target: r.target as string,
    state: r.state as ControlState,
    reason: r.reason as string,
    actor: r.actor as string,
    createdAt: (r.created_at as Date).toISOString(),
    expiresAt: r.expires_at ? (r.expires_at as Date).toISOString() : null,
    clearedAt: r.cleared_at ? (r.cleared_at as Date).toISOString() : null,
    clearedBy: (r.cleared_by as string | null) ?? null,
  };
}

const key = (kind: ControlTargetKind, id: string): string => `${kind}:${id}`;

export class ManualControls implements ControlView {
  private active = new Map<string, ManualControl & { expiresAtMs: number }>();
  private timer: NodeJS.Timeout | undefined;
  private reading: Promise<void> | undefined;

  private constructor(private readonly o: ManualControlsOptions) {}

  /** Reads the active controls once, then every pollMs. */
  static async start(o: ManualControlsOptions): Promise<ManualControls> {
    const c = new ManualControls(o);
    await c.refresh();
    c.timer = setInterval(() => void c.refresh().catch((e: unknown) => o.log?.warn({ err: errorSummary(e) }, 'manual controls not read')), o.pollMs ?? 250);
    c.timer.unref();
    return c;
  }

  /** The control in force on a target (its expiry checked now). */
  get(kind: ControlTargetKind, id: string): ManualControl | undefined {
    const c = this.active.get(key(kind, id));
    return c && c.expiresAtMs > Date.now() ? c : undefined;
  }

  controlOf(terminal: string, acquirer: string): ManualControl | undefined {
    if (this.active.size === 0) return undefined;
    return this.get('terminal', terminal) ?? this.get('acquirer', acquirer);
  }

  /** Every control in force now. */
  list(): ManualControl[] {
    const now = Date.now();
    return [...this.active.values()].filter((c) => c.expiresAtMs > now).map(({ expiresAtMs: _x, ...c }) => c);
  }

  /**
   * Puts a control on a target, replacing the one it had (cleared by the same actor, in the same transaction).
   * SW_ERR_CONTROL_INVALID for an unknown target, an empty reason or an expiry not in the future.
   */
  async set(r: ControlRequest): Promise<ManualControl> {
    const what = `${r.targetKind} ${r.target}`;
    const invalid = (reason: string) => new SwitchError('SW_ERR_CONTROL_INVALID', { target: what, reason });
    if (r.targetKind !== 'acquirer' && r.targetKind !== 'terminal') throw invalid('the target is an acquirer or a terminal');
    if (!TARGET.test(r.target)) throw invalid('the id is 1 to 64 of A-Z a-z 0-9 . _ -');
    if (!CONTROL_STATES.includes(r.state)) throw invalid(`the state is one of ${CONTROL_STATES.join(', ')}`);
    if (this.o.known && !this.o.known(r.targetKind, r.target)) throw invalid(`no ${r.targetKind} ${r.target} in the rules in use`);
    const reason = r.reason.trim();
    if (reason.length === 0 || reason.length > 500) throw invalid('a reason of 1 to 500 characters is required');
    if (r.expiresAt && !(r.expiresAt.getTime() > Date.now())) throw invalid('the expiry is in the past');
    const row = await inTransaction(this.o.pool, async (c) => {
      await c.query(`update routing_controls set cleared_at = now(), cleared_by = $3 where target_kind = $1 and target = $2 and cleared_at is null`, [
        r.targetKind,
        r.target,
        r.actor,
      ]);
      const q = await c.query(
        `insert into routing_controls (target_kind, target, state, reason, actor, expires_at) values ($1, $2, $3, $4, $5, $6) returning ${COLUMNS}`,
        [r.targetKind, r.target, r.state, reason, r.actor, r.expiresAt ?? null],
      );
      return fromRow(q.rows[0] as Record<string, unknown>);
    });
    await this.reread();
    const { clearedAt: _c, clearedBy: _b, ...control } = row;
    return control;
  }

  /** Lifts the control of a target; the lifted one, or null when it had none in force. */
  async clear(kind: ControlTargetKind, target: string, actor: string): Promise<ClearedControl | null> {
    const q = await this.o.pool.query(
      `update routing_controls set cleared_at = now(), cleared_by = $3
        where target_kind = $1 and target = $2 and cleared_at is null and (expires_at is null or expires_at > now()) returning ${COLUMNS}`,
      [kind, target, actor],
    );
    await this.reread();
    return q.rows[0] ? fromRow(q.rows[0] as Record<string, unknown>) : null;
  }

  /** The latest controls, in force or not, newest first. */
  async history(limit = 50): Promise<ClearedControl[]> {
    const q = await this.o.pool.query(`select ${COLUMNS} from routing_controls order by id desc limit $1`, [limit]);
    return q.rows.map((r) => fromRow(r as Record<string, unknown>));
  }

  /** Reads the controls in force (one read at a time; callers during a read share it). */
  refresh(): Promise<void> {
    this.reading ??= this.read().finally(() => {
      this.reading = undefined;
    });
    return this.reading;
  }

  /** A read that starts after this call: one under way may have begun before a change this instance just made. */
  private async reread(): Promise<void> {
    await this.reading?.catch(() => undefined);
    await this.refresh();
  }

  private async read(): Promise<void> {
    const q = await this.o.pool.query(`select ${COLUMNS} from routing_controls where cleared_at is null and (expires_at is null or expires_at > now())`);
    const next = new Map<string, ManualControl & { expiresAtMs: number }>();
    for (const r of q.rows) {
      const { clearedAt: _c, clearedBy: _b, ...c } = fromRow(r as Record<string, unknown>);
      next.set(key(c.targetKind, c.target), { ...c, expiresAtMs: c.expiresAt ? Date.parse(c.expiresAt) : Infinity });
    }
    this.active = next;
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.reading?.catch(() => undefined);
  }
}
