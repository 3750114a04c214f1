/**
 * Manual controls (docs/admin.md, "Manual controls"; docs/routing.md): drain, force down or force up a terminal or
 * an acquirer, with a reason and an optional expiry, and lift it. Operators only; each change audited before it
 * is made. In force on every instance within a second (src/routing/manual-controls.ts).
 */
import type { FastifyPluginAsync } from 'fastify';
import { errors, limitQuery, notConfigured, notFound, who, type PluginOpts } from '../http.js';
import { stateHash } from '../audit.js';
import type { ControlState, ControlTargetKind } from '../../routing/manual-controls.js';

const controlSchema = {
  type: 'object',
  properties: {
    id: { type: 'integer' },
    targetKind: { type: 'string', enum: ['acquirer', 'terminal'] },
    target: { type: 'string' },
    state: { type: 'string', enum: ['drain', 'down', 'up'] },
    reason: { type: 'string' },
    actor: { type: 'string' },
    createdAt: { type: 'string' },
    expiresAt: { type: 'string', nullable: true },
    clearedAt: { type: 'string', nullable: true },
    clearedBy: { type: 'string', nullable: true },
  },
} as const;

const targetParams = {
  type: 'object',
  properties: { kind: { type: 'string', enum: ['acquirer', 'terminal'] }, id: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,64}$' } },
  required: ['kind', 'id'],
} as const;

interface Target {
  kind: ControlTargetKind;
  id: string;
}

export const controlsPlugin: FastifyPluginAsync<PluginOpts> = async (app, { ctx }) => {
  const src = () => {
    if (!ctx.deps.controls) throw notConfigured('manual controls');
    return ctx.deps.controls;
  };

  app.get<{ Querystring: { limit: number } }>(
    '/',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['controls'],
        summary: 'Manual controls in force, and the latest ones set or lifted',
        querystring: { type: 'object', properties: { limit: limitQuery }, additionalProperties: false },
        response: {
          200: { type: 'object', properties: { active: { type: 'array', items: controlSchema }, history: { type: 'array', items: controlSchema } } },
          ...errors(400, 401, 501),
        },
      },
    },
    async (req) => ({ active: src().list(), history: await src().history(req.query.limit) }),
  );

  app.put<{ Params: Target; Body: { state: ControlState; reason: string; ttlSeconds?: number } }>(
    '/:kind/:id',
    {
      config: { permission: 'ops' },
      schema: {
        tags: ['controls'],
        summary: 'Drain, force down or force up a terminal or an acquirer (replacing its control); audited',
        params: targetParams,
        body: {
          type: 'object',
          properties: {
            state: { type: 'string', enum: ['drain', 'down', 'up'] },
            reason: { type: 'string', minLength: 1, maxLength: 500 },
            ttlSeconds: { type: 'integer', minimum: 1, maximum: 31_536_000, description: 'lapses by itself after this long; absent: until lifted' },
          },
          required: ['state', 'reason'],
          additionalProperties: false,
        },
        response: { 200: controlSchema, ...errors(400, 401, 403, 501) },
      },
    },
    async (req) => {
      const p = who(req);
      const { kind, id } = req.params;
      const before =
        src()
          .list()
          .find((c) => c.targetKind === kind && c.target === id) ?? null;
      const ttl = req.body.ttlSeconds;
      const expiresAt = ttl === undefined ? undefined : new Date(Date.now() + ttl * 1000);
      const detail = { state: req.body.state, reason: req.body.reason, expiresAt: expiresAt?.toISOString() ?? null };
      return ctx.audit.change(
        {
          actor: p.name,
          role: p.role,
          action: `control.${req.body.state}`,
          target: `${kind} ${id}`,
          beforeHash: before ? stateHash(before) : null,
          afterHash: stateHash(detail),
          detail,
        },
        () =>
          src().set({
            targetKind: kind,
            target: id,
            state: req.body.state,
            reason: req.body.reason,
            actor: p.name,
            ...(expiresAt ? { expiresAt } : {}),
          }),
      );
    },
  );

  app.delete<{ Params: Target }>(
    '/:kind/:id',
    {
      config: { permission: 'ops' },
      schema: {
        tags: ['controls'],
        summary: 'Lift the control of a terminal or an acquirer; audited',
        params: targetParams,
        response: { 200: controlSchema, ...errors(400, 401, 403, 404, 501) },
      },
    },
    async (req) => {
      const p = who(req);
      const { kind, id } = req.params;
      const before = src()
        .list()
        .find((c) => c.targetKind === kind && c.target === id);
      if (!before) throw notFound('control of', `${kind} ${id}`);
      const lifted = await ctx.audit.change(
        {
          actor: p.name,
          role: p.role,
          action: 'control.lift',
          target: `${kind} ${id}`,
          beforeHash: stateHash(before),
          afterHash: null,
          detail: { lifted: before.state },
        },
        () => src().clear(kind, id, p.name),
      );
      if (!lifted) throw notFound('control of', `${kind} ${id}`);
      return lifted;
    },
  );
};
