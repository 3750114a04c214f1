/**
 * Rule set versions in Postgres: a validated rule set becomes an immutable version (author, time, comment,
 * content hash, content JSON); one version is active; activation and rollback are audited and announced
 * with NOTIFY, and every instance's RulesWatcher swaps in the new compiled rules within a second (a poll
 * backs LISTEN up). In-flight decisions keep the compiled object they started with.
 */
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import type pg from 'pg';
import { createLogger } from '../log.js';
import { migrate, type MigrateResult } from '../store/migrate.js';
import { errorSummary, SwitchError } from '../errors.js';
import { ruleSetFromContent } from './rules-loader.js';
import { compileRuleSet, type CompiledRules } from './compiler.js';
import type { RuleSet } from './types.js';

export const ROUTING_MIGRATIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'migrations');
export const RULES_CHANNEL = 'sw_routing_rules';

export interface VersionInfo {
  version: number;
  hash: string;
  author: string;
  comment: string;
  createdAt: Date;
}

export interface ActiveInfo {
  version: number;
  activatedAt: Date;
  activatedBy: string;
}

export interface VersionLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export function migrateRouting(pool: pg.Pool): Promise<MigrateResult> {
  return migrate(pool, { module: 'routing', dir: ROUTING_MIGRATIONS_DIR });
}

interface VersionRow {
  version: string;
  content_hash: string;
  author: string;
  comment: string;
  created_at: Date;
}

const info = (r: VersionRow): VersionInfo => ({
  version: Number(r.version),
  hash: r.content_hash,
  author: r.author,
  comment: r.comment,
  createdAt: r.created_at,
});

export class RuleVersionStore {
  constructor(private readonly pool: pg.Pool) {}

  /**
   * Store a rule set (validated again here) as a new version. An identical content hash returns the
   * existing version instead (`created: false`): versions stay unique by content.
   */
  async create(rules: RuleSet | unknown, meta: { author: string; comment?: string }): Promise<VersionInfo & { created: boolean }> {
    const rs = isRuleSet(rules) ? ruleSetFromContent(rules.files) : ruleSetFromContent(rules);
    if (!meta.author) throw new SwitchError('SW_ERR_CONFIG_INVALID', { path: 'author', reason: 'an author is required' });
    const existing = await this.pool.query<VersionRow>(
      'select version, content_hash, author, comment, created_at from routing_rule_versions where content_hash = $1 order by version limit 1',
      [rs.hash],
    );
    if (existing.rows[0]) return { ...info(existing.rows[0]), created: false };
    const r = await this.pool.query<VersionRow>(
      `insert into routing_rule_versions (content_hash, content, author, comment) values ($1, $2, $3, $4)
       returning version, content_hash, author, comment, created_at`,
      [rs.hash, JSON.stringify(rs.files), meta.author, meta.comment ?? ''],
    );
    return { ...info(r.rows[0]!), created: true };
  }

  async list(limit = 50): Promise<VersionInfo[]> {
    const r = await this.pool.query<VersionRow>(
      'select version, content_hash, author, comment, created_at from routing_rule_versions order by version desc limit $1',
      [limit],
    );
    return r.rows.map(info);
  }

  /** The rule set of a version, validated (a stored version that no longer validates is refused). */
  async get(version: number): Promise<RuleSet> {
    const r = await this.pool.query<{ content: unknown; content_hash: string }>('select content, content_hash from routing_rule_versions where version = $1', [
      version,
    ]);
    const row = r.rows[0];
    if (!row) throw new SwitchError('SW_ERR_RULES_VERSION_NOT_FOUND', { version });
    const rs = ruleSetFromContent(row.content, version);
    if (rs.hash !== row.content_hash) {
      throw new SwitchError('SW_ERR_RULES_INVALID', { file: '(stored)', rule: `version ${version}`, path: '/', reason: 'content does not match its hash' });
    }
    return rs;
  }

  async active(): Promise<ActiveInfo | null> {
    const r = await this.pool.query<{ version: string; activated_at: Date; activated_by: string }>(
      'select version, activated_at, activated_by from routing_active_version',
    );
    const row = r.rows[0];
    return row ? { version: Number(row.version), activatedAt: row.activated_at, activatedBy: row.activated_by } : null;
  }

  async activeRuleSet(): Promise<RuleSet> {
    const a = await this.active();
    if (!a) throw new SwitchError('SW_ERR_RULES_NO_ACTIVE_VERSION');
    return this.get(a.version);
  }

  /** Make `version` active (it must validate), audit it and notify every instance. */
  async activate(version: number, meta: { actor: string; comment?: string }, kind: 'activate' | 'rollback' = 'activate'): Promise<ActiveInfo> {
    await this.get(version); // exists and validates: an invalid set is never activated
    const c = await this.pool.connect();
    try {
      await c.query('begin');
      const prev = await c.query<{ version: string }>('select version from routing_active_version for update');
      const previous = prev.rows[0] ? Number(prev.rows[0].version) : null;
      const r = await c.query<{ version: string; activated_at: Date; activated_by: string }>(
        `insert into routing_active_version (singleton, version, activated_by) values (true, $1, $2)
         on conflict (singleton) do update set version = excluded.version, activated_at = now(), activated_by = excluded.activated_by
         returning version, activated_at, activated_by`,
        [version, meta.actor],
      );
      await c.query('insert into routing_activations (version, previous, kind, actor, comment) values ($1, $2, $3, $4, $5)', [
        version,
        previous,
        kind,
        meta.actor,
        meta.comment ?? '',
      ]);
      await c.query(`select pg_notify($1, json_build_object('schema', current_schema(), 'version', $2::bigint)::text)`, [RULES_CHANNEL, version]);
      await c.query('commit');
      const row = r.rows[0]!;
      return { version: Number(row.version), activatedAt: row.activated_at, activatedBy: row.activated_by };
    } catch (e) {
      await c.query('rollback').catch(() => undefined);
      throw e;
    } finally {
      c.release();
    }
  }

  /** Re-activate the version that was active before the current one. */
  async rollback(meta: { actor: string; comment?: string }): Promise<ActiveInfo> {
    const r = await this.pool.query<{ previous: string | null }>('select previous from routing_activations order by id desc limit 1');
    const prev = r.rows[0]?.previous;
    if (prev === undefined || prev === null) throw new SwitchError('SW_ERR_RULES_VERSION_NOT_FOUND', { version: 'previous' });
    return this.activate(Number(prev), meta, 'rollback');
  }

  async history(limit = 50): Promise<{ version: number; previous: number | null; kind: string; actor: string; comment: string; at: Date }[]> {
    const r = await this.pool.query<{ version: string; previous: string | null; kind: string; actor: string; comment: string; at: Date }>(
      'select version, previous, kind, actor, comment, at from routing_activations order by id desc limit $1',
      [limit],
    );
    return r.rows.map((x) => ({ ...x, version: Number(x.version), previous: x.previous === null ? null : Number(x.previous) }));
  }
}

function isRuleSet(v: unknown): v is RuleSet {
  return !!v && typeof v === 'object' && 'files' in v && 'hash' in v;
}

export interface RulesWatcherOptions {
  pool: pg.Pool;
  /** Safety-net poll of the active version (ms). Default 1000. */
  pollMs?: number;
  logger?: VersionLogger;
  /**
   * Awaited with a newly activated version before it is swapped in (errors are logged; the swap goes ahead): what the
   * new rules route to (a new acquirer's link) is made ready before they can route there.
   */
  prepare?: (next: CompiledRules) => Promise<void>;
  onChange?: (next: CompiledRules, previous: CompiledRules | null) => void;
}

/**
 * Follows the active version: LISTEN on a dedicated pool client (reconnecting), plus a poll. `current()` is a
 * plain field read: swapping never blocks or disturbs decisions in flight.
 */
export class RulesWatcher {
  private compiled: CompiledRules | null = null;
  private readonly store: RuleVersionStore;
  private readonly log: VersionLogger;
  private listener: pg.PoolClient | undefined;
  private schema = '';
  private poll: NodeJS.Timeout | undefined;
  private reconnect: NodeJS.Timeout | undefined;
  private closed = false;
  private loading: Promise<void> | undefined;

  private constructor(private readonly o: RulesWatcherOptions) {
    this.store = new RuleVersionStore(o.pool);
    this.log = o.logger ?? createLogger({ name: 'rules-watcher' });
  }

  static async start(o: RulesWatcherOptions): Promise<RulesWatcher> {
    const w = new RulesWatcher(o);
    await w.refresh();
    await w.listen().catch((e: unknown) => w.scheduleReconnect(e));
    w.poll = setInterval(() => void w.refresh().catch(() => undefined), o.pollMs ?? 1000);
    w.poll.unref();
    return w;
  }

  /** The compiled active rules. Throws SW_ERR_RULES_NO_ACTIVE_VERSION until a version is active. */
  current(): CompiledRules {
    if (!this.compiled) throw new SwitchError('SW_ERR_RULES_NO_ACTIVE_VERSION');
    return this.compiled;
  }

  get version(): number | null {
    return this.compiled?.version ?? null;
  }

  /** Load the active version if it differs from the one in use. */
  refresh(): Promise<void> {
    this.loading ??= this.doRefresh().finally(() => {
      this.loading = undefined;
    });
    return this.loading;
  }

  private async doRefresh(): Promise<void> {
    const a = await this.store.active();
    if (!a || a.version === this.compiled?.version) return;
    const rs = await this.store.get(a.version);
    const next = compileRuleSet(rs);
    if (this.o.prepare) {
      await this.o.prepare(next).catch((e: unknown) => this.log.warn({ err: errorSummary(e), version: a.version }, 'preparing rules version failed'));
    }
    const prev = this.compiled;
    this.compiled = next; // atomic swap
    this.log.info({ event: 'rules_activated', version: a.version, hash: rs.hash }, `routing rules version ${a.version} in use`);
    this.o.onChange?.(next, prev);
  }

  private async listen(): Promise<void> {
    if (this.closed) return;
    const c = await this.o.pool.connect();
    this.listener = c;
    // An error can come after close() released the client (the server going away at shutdown), or twice:
    // the client goes back to the pool once, whatever happens (a second release throws out of this handler).
    c.on('error', (e) => {
      if (this.listener !== c) return;
      this.listener = undefined;
      c.release(e);
      this.scheduleReconnect(e);
    });
    c.on('notification', (n) => {
      if (n.channel !== RULES_CHANNEL || !n.payload) return;
      try {
        const p = JSON.parse(n.payload) as { schema?: string };
        if (p.schema !== this.schema) return;
      } catch {
        return;
      }
      void this.refresh().catch((e: unknown) => this.log.warn({ err: errorSummary(e) }, 'rules refresh failed'));
    });
    const r = await c.query<{ s: string }>('select current_schema() as s');
    this.schema = r.rows[0]!.s;
    await c.query(`listen ${RULES_CHANNEL}`);
    // A notification may have been missed while (re)connecting.
    await this.refresh();
  }

  private scheduleReconnect(e: unknown): void {
    if (this.closed || this.reconnect) return;
    this.log.warn({ err: errorSummary(e) }, 'rules LISTEN connection lost; polling until it is back');
    this.reconnect = setTimeout(() => {
      this.reconnect = undefined;
      void this.listen().catch((err: unknown) => this.scheduleReconnect(err));
    }, 1000);
    this.reconnect.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.poll) clearInterval(this.poll);
    if (this.reconnect) clearTimeout(this.reconnect);
    if (this.loading) await this.loading.catch(() => undefined);
    const c = this.listener;
    this.listener = undefined;
    if (c) {
      await c.query(`unlisten ${RULES_CHANNEL}`).catch(() => undefined);
      c.release();
    }
  }
}
