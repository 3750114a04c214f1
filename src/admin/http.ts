/** Shared pieces of the admin plugins: context, error helpers, JSON-safe values, common schemas. */
import type { FastifyRequest } from 'fastify';
import { SwitchError } from '../errors.js';
import type { RuleVersionStore } from '../routing/versions.js';
import type { AuditLog } from './audit.js';
import type { AdminDeps } from './deps.js';
import type { Permission, Principal } from './auth.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Needed to call the route; absent = public (health, metrics, docs, console files). */
    permission?: Permission;
    /** A heavy request (validate, evaluate, backtest): counted against the token's per-minute limit. */
    heavy?: string;
  }
  interface FastifyRequest {
    principal: Principal | null;
  }
}

export interface AdminContext {
  deps: AdminDeps;
  audit: AuditLog;
  rules: RuleVersionStore;
}

export interface PluginOpts {
  ctx: AdminContext;
}

export const badRequest = (path: string, reason: string): SwitchError => new SwitchError('SW_ERR_ADMIN_BAD_REQUEST', { path, reason });
export const notFound = (what: string, id: string | number): SwitchError => new SwitchError('SW_ERR_ADMIN_NOT_FOUND', { what, id: safeId(String(id)) });
export const notConfigured = (area: string): SwitchError => new SwitchError('SW_ERR_ADMIN_NOT_CONFIGURED', { area });

/** An id echoed in an error: long digit runs (a PAN typed by mistake) are masked, length capped. */
export function safeId(s: string): string {
  return s.replace(/[0-9]{12,19}/g, (d) => d.slice(0, 6) + '*'.repeat(d.length - 10) + d.slice(-4)).slice(0, 80);
}

/** Values ready for JSON: bigints as strings, dates as ISO strings. */
export function plain<T>(v: T): unknown {
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Date) return v.toISOString();
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === 'object') {
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (x !== undefined) o[k] = plain(x);
    return o;
  }
  return v;
}

/** The caller, as set by the auth hook on every route with a permission. */
export function who(req: FastifyRequest): Principal {
  if (!req.principal) throw new SwitchError('SW_ERR_ADMIN_UNAUTHORIZED', { reason: 'no authenticated caller' });
  return req.principal;
}

export const errorSchema = {
  type: 'object',
  properties: {
    code: { type: 'string', description: 'stable SW_ERR_* code' },
    message: { type: 'string' },
    problems: { type: 'array', items: { type: 'object', additionalProperties: true } },
  },
  required: ['code', 'message'],
} as const;

/** Standard error responses for a route's schema. */
export const errors = (...codes: number[]): Record<number, typeof errorSchema> => Object.fromEntries(codes.map((c) => [c, errorSchema]));

export const limitQuery = { type: 'integer', minimum: 1, maximum: 500, default: 50 } as const;
