/** Transactions: search by RRN, STAN, terminal, merchant, masked PAN and time; one with events and routing explanation. */
import type { FastifyPluginAsync } from 'fastify';
import { badRequest, errors, notConfigured, notFound, type PluginOpts } from '../http.js';
import type { TransactionFilter } from '../deps.js';

export const txSummarySchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    at: { type: 'string' },
    psp: { type: 'string' },
    mti: { type: 'string' },
    stan: { type: 'string' },
    rrn: { type: 'string', nullable: true },
    terminal: { type: 'string' },
    merchant: { type: 'string' },
    panMasked: { type: 'string' },
    amountMinor: { type: 'string' },
    currency: { type: 'string' },
    responseCode: { type: 'string', nullable: true },
    class: { type: 'string', nullable: true },
    acquirer: { type: 'string', nullable: true },
    routedTerminal: { type: 'string', nullable: true },
    state: { type: 'string' },
  },
} as const;

/** Only a masked PAN is accepted: a full PAN in a URL would end up in proxies' and browsers' logs. */
export const MASKED_PAN_RE = /^[0-9]{6}\*{2,9}[0-9]{4}$/;

interface Query {
  rrn?: string;
  stan?: string;
  terminal?: string;
  merchant?: string;
  pan?: string;
  from?: string;
  to?: string;
  limit: number;
}

export const transactionsPlugin: FastifyPluginAsync<PluginOpts> = async (app, { ctx }) => {
  const src = () => {
    if (!ctx.deps.transactions) throw notConfigured('transactions');
    return ctx.deps.transactions;
  };
  app.get<{ Querystring: Query }>(
    '/',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['transactions'],
        summary: 'Search transactions, newest first',
        querystring: {
          type: 'object',
          properties: {
            rrn: { type: 'string', pattern: '^[0-9A-Za-z]{1,12}$' },
            stan: { type: 'string', pattern: '^[0-9]{6}$' },
            terminal: { type: 'string', pattern: '^[\\x20-\\x7e]{1,16}$' },
            merchant: { type: 'string', pattern: '^[\\x20-\\x7e]{1,15}$' },
            pan: { type: 'string', maxLength: 19, description: 'masked PAN: first 6, asterisks, last 4 (e.g. 411111******1111)' },
            from: { type: 'string', format: 'date-time' },
            to: { type: 'string', format: 'date-time' },
            limit: { type: 'integer', minimum: 1, maximum: 500, default: 50 },
          },
          additionalProperties: false,
        },
        response: { 200: { type: 'object', properties: { transactions: { type: 'array', items: txSummarySchema } } }, ...errors(400, 401, 501) },
      },
    },
    async (req) => {
      const q = req.query;
      const f: TransactionFilter = { limit: q.limit };
      if (q.pan !== undefined) {
        if (!MASKED_PAN_RE.test(q.pan))
          throw badRequest('querystring/pan', 'must be a masked PAN: first 6 digits, asterisks, last 4 digits (a full PAN is never accepted)');
        f.panMasked = q.pan;
      }
      if (q.rrn !== undefined) f.rrn = q.rrn;
      if (q.stan !== undefined) f.stan = q.stan;
      if (q.terminal !== undefined) f.terminal = q.terminal;
      if (q.merchant !== undefined) f.merchant = q.merchant;
      if (q.from !== undefined) f.from = new Date(q.from);
      if (q.to !== undefined) f.to = new Date(q.to);
      if (f.from && f.to && f.from > f.to) throw badRequest('querystring/from', 'must not be after to');
      return { transactions: await src().search(f) };
    },
  );

  app.get<{ Params: { id: string } }>(
    '/:id',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['transactions'],
        summary: 'One transaction with its event history and routing explanation',
        params: { type: 'object', properties: { id: { type: 'string', pattern: '^[A-Za-z0-9._:-]{1,64}$' } }, required: ['id'] },
        response: {
          200: {
            type: 'object',
            properties: {
              ...txSummarySchema.properties,
              events: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: { at: { type: 'string' }, type: { type: 'string' }, detail: { type: 'object', additionalProperties: true } },
                },
              },
              explanation: { type: 'object', nullable: true, additionalProperties: true },
            },
          },
          ...errors(400, 401, 404, 501),
        },
      },
    },
    async (req) => {
      const tx = await src().get(req.params.id);
      if (!tx) throw notFound('transaction', req.params.id);
      return tx;
    },
  );
};
