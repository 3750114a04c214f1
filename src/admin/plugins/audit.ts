/** The audit log of changes made through the admin API. */
import type { FastifyPluginAsync } from 'fastify';
import { errors, limitQuery, type PluginOpts } from '../http.js';

export const auditPlugin: FastifyPluginAsync<PluginOpts> = async (app, { ctx }) => {
  app.get<{ Querystring: { limit: number; actor?: string; action?: string; before?: number } }>(
    '/',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['audit'],
        summary: 'Audit entries, newest first (who, when, what, hashes before and after)',
        querystring: {
          type: 'object',
          properties: {
            limit: limitQuery,
            actor: { type: 'string', maxLength: 64 },
            action: { type: 'string', maxLength: 64 },
            before: { type: 'integer', minimum: 1, description: 'entries with a smaller id (paging)' },
          },
          additionalProperties: false,
        },
        response: {
          200: {
            type: 'object',
            properties: {
              entries: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    id: { type: 'integer' },
                    at: { type: 'string' },
                    actor: { type: 'string' },
                    role: { type: 'string' },
                    action: { type: 'string' },
                    target: { type: 'string' },
                    beforeHash: { type: 'string', nullable: true },
                    afterHash: { type: 'string', nullable: true },
                    detail: { type: 'object', additionalProperties: true },
                  },
                },
              },
            },
          },
          ...errors(400, 401),
        },
      },
    },
    async (req) => {
      const q = req.query;
      return {
        entries: await ctx.audit.list({
          limit: q.limit,
          ...(q.actor ? { actor: q.actor } : {}),
          ...(q.action ? { action: q.action } : {}),
          ...(q.before ? { beforeId: q.before } : {}),
        }),
      };
    },
  );
};
