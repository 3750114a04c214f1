/**
 * Admin tokens (docs/admin.md, "Tokens and roles"): who holds which role, until when, and whether it was revoked;
 * an operator revokes a token (audited), refused from then on by every instance.
 */
import type { FastifyPluginAsync } from 'fastify';
import { errors, notFound, who, type PluginOpts } from '../http.js';

const tokenSchema = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    role: { type: 'string' },
    expiresAt: { type: 'string', nullable: true },
    expired: { type: 'boolean' },
    revoked: {
      type: 'object',
      nullable: true,
      properties: { by: { type: 'string' }, at: { type: 'string' }, reason: { type: 'string' } },
    },
  },
} as const;

interface RevokedRow {
  sha256: string;
  reason: string;
  revoked_by: string;
  revoked_at: Date;
}

export const tokensPlugin: FastifyPluginAsync<PluginOpts> = async (app, { ctx }) => {
  const revokedRows = async (): Promise<Map<string, RevokedRow>> => {
    const q = await ctx.deps.pool.query<RevokedRow>('select sha256, reason, revoked_by, revoked_at from admin_revoked_tokens');
    return new Map(q.rows.map((r) => [r.sha256, r]));
  };
  const view = (t: (typeof ctx.deps.tokens)[number], r: RevokedRow | undefined) => ({
    name: t.name,
    role: t.role,
    expiresAt: t.expiresAt ?? null,
    expired: t.expiresAt !== undefined && Date.parse(t.expiresAt) <= Date.now(),
    revoked: r ? { by: r.revoked_by, at: r.revoked_at.toISOString(), reason: r.reason } : null,
  });

  app.get(
    '/',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['tokens'],
        summary: 'The configured tokens: holder, role, expiry, revocation (never a token or its hash)',
        response: { 200: { type: 'object', properties: { tokens: { type: 'array', items: tokenSchema } } }, ...errors(401) },
      },
    },
    async () => {
      const revoked = await revokedRows();
      return { tokens: ctx.deps.tokens.map((t) => view(t, revoked.get(t.sha256))) };
    },
  );

  app.post<{ Params: { name: string }; Body: { reason: string } }>(
    '/:name/revoke',
    {
      config: { permission: 'ops' },
      schema: {
        tags: ['tokens'],
        summary: 'Revoke a token on every instance; audited',
        params: { type: 'object', properties: { name: { type: 'string', pattern: '^[A-Za-z0-9._@-]{1,64}$' } }, required: ['name'] },
        body: {
          type: 'object',
          properties: { reason: { type: 'string', minLength: 1, maxLength: 500 } },
          required: ['reason'],
          additionalProperties: false,
        },
        response: { 200: tokenSchema, ...errors(400, 401, 403, 404) },
      },
    },
    async (req) => {
      const p = who(req);
      const t = ctx.deps.tokens.find((x) => x.name === req.params.name);
      if (!t) throw notFound('token', req.params.name);
      await ctx.audit.change(
        { actor: p.name, role: p.role, action: 'token.revoke', target: `token ${t.name}`, detail: { name: t.name, role: t.role, reason: req.body.reason } },
        () =>
          ctx.deps.pool.query(`insert into admin_revoked_tokens (sha256, name, reason, revoked_by) values ($1, $2, $3, $4) on conflict (sha256) do nothing`, [
            t.sha256,
            t.name,
            req.body.reason,
            p.name,
          ]),
      );
      return view(t, (await revokedRows()).get(t.sha256));
    },
  );
};
