/** Charts' data (docs/admin.md, "Charts"): volume, approval rate and p95 latency per acquirer, route or rule over the last hour or day. */
import type { FastifyPluginAsync } from 'fastify';
import { errors, notConfigured, type PluginOpts } from '../http.js';
import type { TrafficSeriesQuery } from '../../read-model.js';

export const trafficPlugin: FastifyPluginAsync<PluginOpts> = async (app, { ctx }) => {
  app.get<{ Querystring: { by: TrafficSeriesQuery['by']; window: TrafficSeriesQuery['window'] } }>(
    '/series',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['traffic'],
        summary: 'Volume, approval rate and p95 latency per bucket (5 min over the hour, 1 h over the day), per acquirer, route or rule',
        querystring: {
          type: 'object',
          properties: {
            by: { type: 'string', enum: ['acquirer', 'terminal', 'rule'], default: 'acquirer' },
            window: { type: 'string', enum: ['hour', 'day'], default: 'hour' },
          },
          additionalProperties: false,
        },
        response: { 200: { type: 'object', additionalProperties: true }, ...errors(400, 401, 501) },
      },
    },
    async (req) => {
      const t = ctx.deps.traffic;
      if (!t?.series) throw notConfigured('traffic series');
      return t.series({ by: req.query.by, window: req.query.window });
    },
  );
};
