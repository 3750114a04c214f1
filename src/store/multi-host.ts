/**
 * Multi-host PostgreSQL URLs, as libpq takes them (docs/deploy.md, "Database failover"):
 *   postgres://user:pw@db1:5432,db2:5432/switch?target_session_attrs=read-write
 * node-postgres connects to one host only, so the switch finds the host itself: the hosts are tried in order
 * and, with `target_session_attrs=read-write` (or `primary`), a host counts only if it is not in recovery
 * (`pg_is_in_recovery()`), so after a standby is promoted new connections go to it. The host found is kept
 * until a connection to it fails or finds it read-only; then the hosts are tried again.
 *
 * While no host qualifies (the primary stopped, the standby not yet promoted) a connection fails at once with
 * SW_ERR_DB_UNAVAILABLE naming every host and why: the switch answers PSPs 91 quickly instead of waiting
 * (docs/faults.md F33), and the pools' next connections find the new primary by themselves.
 */
import pg from 'pg';
import { SwitchError } from '../errors.js';

export interface HostPort {
  host: string;
  port: number;
}

export interface MultiHostUrl {
  hosts: HostPort[];
  /** target_session_attrs=read-write or primary: only a server not in recovery will do. */
  readWrite: boolean;
  /** The URL for one of the hosts (without target_session_attrs, which node-postgres does not know). */
  urlFor(h: HostPort): string;
}

const URL_RE = /^(postgres(?:ql)?:\/\/)([^@/?#]*@)?([^/?#]*)(.*)$/;

function hostPort(s: string): HostPort {
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(s) ?? /^([^:]*)(?::(\d+))?$/.exec(s);
  return { host: m?.[1] || 'localhost', port: m?.[2] ? Number(m[2]) : 5432 };
}

/**
 * The URL's hosts and whether it asks for a read-write server; null for a URL of one host that does not
 * (node-postgres takes it as it is).
 */
export function parseMultiHost(url: string): MultiHostUrl | null {
  const m = URL_RE.exec(url);
  if (!m) return null;
  const [, scheme, userinfo = '', hostsPart = '', tail = ''] = m;
  const qAt = tail.indexOf('?');
  const pathPart = qAt < 0 ? tail : tail.slice(0, qAt);
  const params = new URLSearchParams(qAt < 0 ? '' : tail.slice(qAt + 1));
  const attrs = params.get('target_session_attrs');
  const hosts = hostsPart.split(',').filter((h) => h !== '');
  if (hosts.length <= 1 && attrs === null) return null;
  if (attrs !== null && !['any', 'read-write', 'primary'].includes(attrs)) {
    throw new SwitchError('SW_ERR_CONFIG_INVALID', {
      path: 'database.url',
      reason: `target_session_attrs=${attrs} is not supported (any, read-write, primary)`,
    });
  }
  params.delete('target_session_attrs');
  const query = params.toString();
  const list = hosts.length > 0 ? hosts.map(hostPort) : [{ host: 'localhost', port: 5432 }];
  const bracket = (h: string) => (h.includes(':') ? `[${h}]` : h);
  return {
    hosts: list,
    readWrite: attrs === 'read-write' || attrs === 'primary',
    urlFor: (h) => `${scheme}${userinfo}${bracket(h.host)}:${h.port}${pathPart}${query ? `?${query}` : ''}`,
  };
}

/** Finds and remembers the host new connections go to. */
export class HostLocator {
  private current: HostPort | null = null;
  private finding: Promise<HostPort> | null = null;

  constructor(
    private readonly m: MultiHostUrl,
    private readonly o: { connectTimeoutMs?: number } = {},
  ) {}

  get hosts(): readonly HostPort[] {
    return this.m.hosts;
  }

  get readWrite(): boolean {
    return this.m.readWrite;
  }

  /** The host to connect to: the one found last, else the first that qualifies now. */
  target(): Promise<HostPort> {
    if (this.current) return Promise.resolve(this.current);
    this.finding ??= this.find().finally(() => (this.finding = null));
    return this.finding;
  }

  /** The host failed (a connection refused or lost, or it turned read-only): try them all again next time. */
  forget(h: HostPort): void {
    if (this.current && this.current.host === h.host && this.current.port === h.port) this.current = null;
  }

  private async find(): Promise<HostPort> {
    const why: string[] = [];
    for (const h of this.m.hosts) {
      const c = new pg.Client({ connectionString: this.m.urlFor(h), connectionTimeoutMillis: this.o.connectTimeoutMs ?? 3000 });
      c.on('error', () => undefined);
      try {
        await c.connect();
        if (this.m.readWrite) {
          const r = await c.query<{ r: boolean }>('select pg_is_in_recovery() as r');
          if (r.rows[0]?.r) {
            why.push(`${h.host}:${h.port} is read-only (a standby)`);
            continue;
          }
        }
        this.current = h;
        return h;
      } catch (e) {
        why.push(`${h.host}:${h.port} ${(e as { code?: string }).code ?? (e as Error).message}`);
      } finally {
        await c.end().catch(() => undefined);
      }
    }
    throw new SwitchError('SW_ERR_DB_UNAVAILABLE', {
      target: this.m.hosts.map((h) => `${h.host}:${h.port}`).join(','),
      reason: `no ${this.m.readWrite ? 'read-write ' : ''}server: ${why.join('; ')}`,
    });
  }
}

type ConnectCallback = ((err: Error) => void) | ((err: null, c: pg.Client) => void);

/**
 * A pg.Client class whose connections go to the locator's host; a pool made with it (`Client` option)
 * follows a failover by itself. A connection that finds its host read-only, or cannot reach it, makes the
 * locator look again and fails (the pool's caller sees one failed query, the next connection goes right).
 */
export function clientFor(locator: HostLocator): typeof pg.Client {
  return class MultiHostClient extends pg.Client {
    override connect(): Promise<pg.Client>;
    override connect(callback: ConnectCallback): void;
    override connect(callback?: ConnectCallback): Promise<pg.Client> | void {
      const run = async (): Promise<pg.Client> => {
        const h = await locator.target();
        this.host = h.host;
        this.port = h.port;
        try {
          await super.connect();
        } catch (e) {
          locator.forget(h);
          throw e;
        }
        if (locator.readWrite) {
          const r = await super.query<{ r: boolean }>('select pg_is_in_recovery() as r');
          if (r.rows[0]?.r) {
            locator.forget(h);
            await this.end().catch(() => undefined);
            throw new SwitchError('SW_ERR_DB_UNAVAILABLE', { target: `${h.host}:${h.port}`, reason: 'the server is read-only now (a standby)' });
          }
        }
        return this;
      };
      if (!callback) return run();
      const cb = callback as (err: Error | null, c?: pg.Client) => void;
      run().then(
        (c) => cb(null, c),
        (e: unknown) => cb(e instanceof Error ? e : new Error(String(e))),
      );
    }
  };
}
