/** Store-and-forward queue and dead letters: list, and retry a dead letter (operator; audited). */
import type { FastifyPluginAsync } from 'fastify';
import { errors, limitQuery, notConfigured, notFound, who, type PluginOpts } from '../http.js';
import { stateHash } from '../audit.js';

const entrySchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    txId: { type: 'string', nullable: true },
    acquirer: { type: 'string' },
    mti: { type: 'string' },
    attempts: { type: 'integer' },
    state: { type: 'string' },
    nextAttemptAt: { type: 'string', nullable: true },
    lastError: { type: 'string', nullable: true },
    createdAt: { type: 'string' },
  },
} as const;

export const safPlugin: FastifyPluginAsync<PluginOpts> = async (app, { ctx }) => {
  const src = () => {
    if (!ctx.deps.saf) throw notConfigured('SAF');
    return ctx.deps.saf;
  };
  const listSchema = { type: 'object', properties: { entries: { type: 'array', items: entrySchema } } } as const;
  const q = { type: 'object', properties: { limit: limitQuery }, additionalProperties: false } as const;
  app.get<{ Querystring: { limit: number } }>(
    '/',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['saf'],
        summary: 'Pending SAF entries (reversal advices), oldest first',
        querystring: q,
        response: { 200: listSchema, ...errors(400, 401, 501) },
      },
    },
    async (req) => ({ entries: await src().list(req.query.limit) }),
  );

  app.get<{ Querystring: { limit: number } }>(
    '/dead-letters',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['saf'],
        summary: 'Dead letters: SAF entries that expired without an answer',
        querystring: q,
        response: { 200: listSchema, ...errors(400, 401, 501) },
      },
    },
    async (req) => ({ entries: await src().deadLetters(req.query.limit) }),
  );

  app.post<{ Params: { id: string } }>(
    '/dead-letters/:id/retry',
    {
      config: { permission: 'ops' },
      schema: {
        tags: ['saf'],
        summary: 'Put a dead letter back in the SAF queue; audited',
        params: { type: 'object', properties: { id: { type: 'string', pattern: '^[A-Za-z0-9._:-]{1,64}$' } }, required: ['id'] },
        response: { 200: entrySchema, ...errors(400, 401, 403, 404, 409, 501) },
      },
    },
    async (req) => {
      const p = who(req);
      const s = src();
      const before = (await s.deadLetters(500)).find((e) => e.id === req.params.id) ?? null;
      const after = await s.retry(req.params.id);
      if (!after) throw notFound('dead letter', req.params.id);
      await ctx.audit.record({
        actor: p.name,
        role: p.role,
        action: 'saf.retry',
        target: `saf entry ${after.id}`,
        beforeHash: before ? stateHash(before) : null,
        afterHash: stateHash(after),
        detail: { id: after.id, acquirer: after.acquirer, mti: after.mti },
      });
      return after;
    },
  );
};
