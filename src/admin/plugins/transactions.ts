/**
 * Transactions (docs/admin.md, "Transaction explorer"): search by RRN, STAN, terminal, merchant, masked PAN or last
 * 4, acquirer, route, response code and time; one with its events, messages (masked) and routing explanation; and
 * "block this card": its card token added to the blocklist through a new rules version (no PAN is ever typed).
 */
import type { FastifyPluginAsync } from 'fastify';
import { SwitchError } from '../../errors.js';
import { badRequest, errors, notConfigured, notFound, who, type PluginOpts } from '../http.js';
import { activateOrPropose } from '../activation.js';
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
  last4?: string;
  acquirer?: string;
  routedTerminal?: string;
  responseCode?: string;
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
            last4: { type: 'string', pattern: '^[0-9]{4}$', description: "the card's last 4 digits" },
            acquirer: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,64}$' },
            routedTerminal: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,64}$', description: 'the route (terminals.yaml id)' },
            responseCode: { type: 'string', pattern: '^[0-9A-Z]{2}$' },
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
      if (q.last4 !== undefined) f.last4 = q.last4;
      if (q.acquirer !== undefined) f.acquirer = q.acquirer;
      if (q.routedTerminal !== undefined) f.routedTerminal = q.routedTerminal;
      if (q.responseCode !== undefined) f.responseCode = q.responseCode;
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
              messages: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: { leg: { type: 'string' }, mti: { type: 'string' }, fields: { type: 'object', additionalProperties: { type: 'string' } } },
                },
              },
              cardToken: { type: 'string', nullable: true },
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

  app.post<{ Params: { id: string }; Body: { reason: string } }>(
    '/:id/block-card',
    {
      config: { permission: 'rules' },
      schema: {
        tags: ['transactions'],
        summary:
          "Block this transaction's card: a new rules version with its card token in risk.yaml blocked.tokens, then activated (or proposed, with maker-checker); audited",
        params: { type: 'object', properties: { id: { type: 'string', pattern: '^[A-Za-z0-9._:-]{1,64}$' } }, required: ['id'] },
        body: { type: 'object', properties: { reason: { type: 'string', minLength: 1, maxLength: 500 } }, required: ['reason'], additionalProperties: false },
        response: {
          200: { type: 'object', additionalProperties: true },
          202: { type: 'object', additionalProperties: true },
          ...errors(400, 401, 403, 404, 409, 501),
        },
      },
    },
    async (req, reply) => {
      const p = who(req);
      const tx = await src().get(req.params.id);
      if (!tx) throw notFound('transaction', req.params.id);
      if (!tx.cardToken) throw new SwitchError('SW_ERR_ADMIN_CONFLICT', { what: 'transaction', id: tx.id, reason: 'it has no card to block' });
      const active = await ctx.rules.active();
      if (!active) throw notConfigured('rules');
      const base = await ctx.rules.get(active.version);
      const files = JSON.parse(JSON.stringify(base.files)) as typeof base.files;
      const blocked = (files.risk.blocked ??= {});
      const tokens = (blocked.tokens ??= []);
      if (tokens.includes(tx.cardToken)) return { blocked: true, changed: false, version: active.version };
      tokens.push(tx.cardToken);
      const comment = `block the card of ${tx.panMasked} (transaction ${tx.id}): ${req.body.reason}`;
      const v = await ctx.rules.create(files, { author: p.name, comment });
      await ctx.audit.record({
        actor: p.name,
        role: p.role,
        action: 'rules.create',
        target: `rules version ${v.version}`,
        beforeHash: base.hash,
        afterHash: v.hash,
        detail: { version: v.version, base: active.version, comment, blockedCard: tx.panMasked, transaction: tx.id },
      });
      const activation = await activateOrPropose(ctx, p, v.version, comment);
      return reply.code(activation.status).send({ blocked: activation.status === 200, version: v.version, activation: activation.body });
    },
  );
};
