/** Acquirers and their links: connections, in-flight, breaker, detector score, last error. */
import type { FastifyPluginAsync } from 'fastify';
import { errors, notConfigured, notFound, type PluginOpts } from '../http.js';

export const acquirerSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    connections: { type: 'object', properties: { ready: { type: 'integer' }, configured: { type: 'integer' } } },
    inFlight: { type: 'integer' },
    linkUp: { type: 'boolean' },
    breaker: { type: 'string', enum: ['closed', 'open', 'half_open', 'unknown'] },
    detector: {
      type: 'object',
      properties: { alive: { type: 'boolean' }, score: { type: 'number' }, volume: { type: 'integer' }, reason: { type: 'string' } },
    },
    lastError: {
      type: 'object',
      nullable: true,
      properties: { code: { type: 'string', nullable: true }, reason: { type: 'string' }, at: { type: 'string' } },
    },
    control: {
      type: 'object',
      nullable: true,
      description: 'an operator\'s drain or forced state in force (docs/admin.md, "Manual controls")',
      properties: { state: { type: 'string' }, reason: { type: 'string' }, actor: { type: 'string' }, expiresAt: { type: 'string', nullable: true } },
    },
  },
} as const;

export const acquirersPlugin: FastifyPluginAsync<PluginOpts> = async (app, { ctx }) => {
  const src = () => {
    if (!ctx.deps.acquirers) throw notConfigured('acquirers');
    return ctx.deps.acquirers;
  };
  app.get(
    '/',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['acquirers'],
        summary: 'Every acquirer link with its health',
        response: { 200: { type: 'object', properties: { acquirers: { type: 'array', items: acquirerSchema } } }, ...errors(401, 501) },
      },
    },
    async () => ({ acquirers: await src().list() }),
  );

  app.get<{ Params: { id: string } }>(
    '/:id',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['acquirers'],
        summary: 'One acquirer link',
        params: { type: 'object', properties: { id: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,64}$' } }, required: ['id'] },
        response: { 200: acquirerSchema, ...errors(400, 401, 404, 501) },
      },
    },
    async (req) => {
      const a = (await src().list()).find((x) => x.id === req.params.id);
      if (!a) throw notFound('acquirer', req.params.id);
      return a;
    },
  );
};
