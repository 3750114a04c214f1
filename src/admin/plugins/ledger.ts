/** Ledger: account balances, posting plans, reconciliation as JSON or CSV. */
import type { FastifyPluginAsync } from 'fastify';
import { cutoversOf, reconToCsv } from '../../ledger/recon.js';
import { badRequest, errors, notConfigured, notFound, plain, type PluginOpts } from '../http.js';

const dateOnly = { type: 'string', pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' } as const;

export const ledgerPlugin: FastifyPluginAsync<PluginOpts> = async (app, { ctx }) => {
  const src = () => {
    if (!ctx.deps.ledger) throw notConfigured('ledger');
    return ctx.deps.ledger;
  };
  app.get<{ Params: { account: string } }>(
    '/accounts/:account/balances',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['ledger'],
        summary: 'Balances of one account (code, e.g. merchant:SHOP1:978); amounts in minor units as strings',
        params: { type: 'object', properties: { account: { type: 'string', pattern: '^[\\x21-\\x7e]{1,200}$' } }, required: ['account'] },
        response: {
          200: {
            type: 'object',
            properties: {
              accountId: { type: 'integer' },
              code: { type: 'string' },
              currency: { type: 'integer' },
              minorUnit: { type: 'integer' },
              posted: { type: 'string' },
              debitsPending: { type: 'string' },
              creditsPending: { type: 'string' },
              minAvailable: { type: 'string' },
              maxAvailable: { type: 'string' },
            },
          },
          ...errors(400, 401, 404, 501),
        },
      },
    },
    async (req) => plain(await src().balances(req.params.account)),
  );

  app.get<{ Params: { planId: string } }>(
    '/plans/:planId',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['ledger'],
        summary: 'One posting plan with its postings',
        params: { type: 'object', properties: { planId: { type: 'string', pattern: '^[\\x21-\\x7e]{1,128}$' } }, required: ['planId'] },
        response: { 200: { type: 'object', additionalProperties: true }, ...errors(400, 401, 404, 501) },
      },
    },
    async (req) => {
      const p = await src().plan(req.params.planId);
      if (!p) throw notFound('plan', req.params.planId);
      return plain(p);
    },
  );

  app.get<{ Querystring: { from?: string; to?: string; format?: 'json' | 'csv' } }>(
    '/reconciliation',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['ledger'],
        summary:
          "The books per settlement business day (the acquirers' cut-overs in the active rules), acquirer, terminal, merchant, currency: authorized, captured, released, refunded, reversed, fees and net (JSON, or CSV with format=csv or Accept: text/csv)",
        querystring: {
          type: 'object',
          properties: { from: dateOnly, to: dateOnly, format: { type: 'string', enum: ['json', 'csv'] } },
          additionalProperties: false,
        },
        response: {
          200: { type: 'object', properties: { rows: { type: 'array', items: { type: 'object', additionalProperties: true } } } },
          ...errors(400, 401, 501),
        },
      },
    },
    async (req, reply) => {
      const range: { from?: string; to?: string } = {};
      for (const k of ['from', 'to'] as const) {
        const v = req.query[k];
        if (v === undefined) continue;
        if (Number.isNaN(Date.parse(`${v}T00:00:00Z`))) throw badRequest(`querystring/${k}`, 'must be a valid date (YYYY-MM-DD)');
        range[k] = v;
      }
      const active = await ctx.rules.activeRuleSet().catch(() => null);
      const rows = await src().reconcile({ ...range, cutovers: cutoversOf(active?.files.acquirers.acquirers ?? []) });
      const csv = req.query.format === 'csv' || (req.query.format === undefined && /text\/csv/.test(req.headers.accept ?? ''));
      if (csv) {
        return reply
          .type('text/csv; charset=utf-8')
          .header('content-disposition', 'attachment; filename="reconciliation.csv"')
          .serializer((x: unknown) => x as string)
          .send(reconToCsv(rows));
      }
      return { rows: plain(rows) };
    },
  );

  app.get(
    '/settlement-runs',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['ledger'],
        summary:
          'The last settlement reconciliation (ledger:recon --settlement) per acquirer, newest first: the day, the file, how many items matched, the breaks by kind and the first 1,000 of them',
        response: {
          200: { type: 'object', properties: { runs: { type: 'array', items: { type: 'object', additionalProperties: true } } } },
          ...errors(401, 501),
        },
      },
    },
    async () => ({ runs: await src().settlementRuns() }),
  );
};
