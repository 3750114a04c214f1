/** Liveness, readiness and the Prometheus endpoint. */
import type { FastifyPluginAsync } from 'fastify';
import { registry as defaultRegistry } from '../../metrics/index.js';
import type { PluginOpts } from '../http.js';

export const healthPlugin: FastifyPluginAsync<PluginOpts> = async (app, { ctx }) => {
  const { deps } = ctx;
  app.get(
    '/health/live',
    {
      schema: {
        tags: ['health'],
        summary: 'The process is up',
        security: [],
        response: { 200: { type: 'object', properties: { status: { type: 'string' } } } },
      },
    },
    async () => ({ status: 'ok' }),
  );

  const readySchema = {
    type: 'object',
    properties: { ready: { type: 'boolean' }, checks: { type: 'object', additionalProperties: { type: 'boolean' } } },
  } as const;
  app.get(
    '/health/ready',
    {
      schema: {
        tags: ['health'],
        summary: 'Ready to serve: database reachable, a rules version active, extra checks',
        security: [],
        response: { 200: readySchema, 503: readySchema },
      },
    },
    async (_req, reply) => {
      const checks: Record<string, boolean> = {};
      checks.database = await deps.pool.query('select 1').then(
        () => true,
        () => false,
      );
      checks.rules = checks.database
        ? await ctx.rules.active().then(
            (a) => a !== null,
            () => false,
          )
        : false;
      if (deps.readiness) {
        try {
          Object.assign(checks, await deps.readiness());
        } catch {
          checks.readiness = false;
        }
      }
      const ready = Object.values(checks).every(Boolean);
      return reply.code(ready ? 200 : 503).send({ ready, checks });
    },
  );

  app.get(
    '/api/whoami',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['health'],
        summary: 'The caller: token name and role',
        response: { 200: { type: 'object', properties: { name: { type: 'string' }, role: { type: 'string' } } } },
      },
    },
    async (req) => ({ name: req.principal?.name ?? '', role: req.principal?.role ?? '' }),
  );

  const registry = deps.registry ?? defaultRegistry;
  app.get(
    '/metrics',
    {
      ...(deps.metricsAuth ? { config: { permission: 'read' as const } } : {}),
      schema: { tags: ['health'], summary: 'Prometheus metrics (text exposition format)', ...(deps.metricsAuth ? {} : { security: [] }) },
    },
    async (_req, reply) => {
      const body = await registry.metrics();
      return reply.type(registry.contentType).send(body);
    },
  );
};
