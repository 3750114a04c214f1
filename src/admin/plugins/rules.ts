/**
 * Rule versions for the risk team: list, show (files as objects and YAML), diff, validate (problems with
 * YAML lines), evaluate a sample authorization, backtest against recent traffic, store a new version,
 * activate and roll back. Every change is audited with the content hashes before and after.
 */
import type { FastifyPluginAsync } from 'fastify';
import { SwitchError } from '../../errors.js';
import { compileRuleSet, type CompiledRules } from '../../routing/compiler.js';
import { RoutingEngine } from '../../routing/engine.js';
import { backtest, contextFromJson, type BacktestResult } from '../../routing/backtest.js';
import { RuleSetInvalidError, ruleSetFromContent, validateRuleFiles, hashRuleFiles, type RuleProblem } from '../../routing/rules-loader.js';
import type { RuleFiles, RuleSet } from '../../routing/types.js';
import { errors, limitQuery, notConfigured, notFound, plain, who, type AdminContext, type PluginOpts } from '../http.js';
import { PendingActivations } from '../pending-activations.js';
import { activateAudited, activateOrPropose, activeHash } from '../activation.js';
import { diffRuleFiles, filesToYaml, parseRulesInput, withLines, type ProblemView } from '../rules-text.js';

const pendingSchema = {
  type: 'object',
  properties: {
    id: { type: 'integer' },
    version: { type: 'integer' },
    comment: { type: 'string' },
    proposedBy: { type: 'string' },
    proposedAt: { type: 'string' },
    decision: { type: 'string', nullable: true },
    decidedBy: { type: 'string', nullable: true },
    decidedAt: { type: 'string', nullable: true },
  },
} as const;

const versionParam = { type: 'object', properties: { version: { type: 'integer', minimum: 1 } }, required: ['version'] } as const;

const rulesInputProps = {
  version: { type: 'integer', minimum: 1, description: 'a stored version (when no files are given; default: the active one)' },
  base: { type: 'integer', minimum: 1, description: 'version that supplies the files not given (default: the active one)' },
  files: {
    type: 'object',
    maxProperties: 10,
    description: 'rule files by name (acquirers, terminals, merchants, bins, routing, risk): YAML text or parsed object',
    additionalProperties: {
      anyOf: [
        { type: 'string', maxLength: 500_000 },
        { type: 'object', additionalProperties: true },
      ],
    },
  },
} as const;

const problemSchema = {
  type: 'object',
  properties: {
    file: { type: 'string' },
    rule: { type: 'string' },
    path: { type: 'string' },
    reason: { type: 'string' },
    kind: { type: 'string' },
    ref: { type: 'string' },
    line: { type: 'integer' },
  },
} as const;

const versionInfoSchema = {
  type: 'object',
  properties: {
    version: { type: 'integer' },
    hash: { type: 'string' },
    author: { type: 'string' },
    comment: { type: 'string' },
    createdAt: { type: 'string' },
    active: { type: 'boolean' },
  },
} as const;

const activeSchema = {
  type: 'object',
  properties: {
    version: { type: 'integer' },
    hash: { type: 'string' },
    activatedAt: { type: 'string' },
    activatedBy: { type: 'string' },
    changed: { type: 'boolean' },
  },
} as const;

interface RulesInput {
  version?: number;
  base?: number;
  files?: Record<string, unknown>;
}

class RulesInvalid extends RuleSetInvalidError {
  constructor(views: ProblemView[]) {
    super(views as unknown as RuleProblem[]);
  }
}

async function baseFiles(ctx: AdminContext, base: number | undefined): Promise<RuleFiles | null> {
  if (base !== undefined) return (await ctx.rules.get(base)).files;
  const a = await ctx.rules.active();
  return a ? (await ctx.rules.get(a.version)).files : null;
}

/** Validate a request's files; problems carry YAML lines for files given as text. */
async function check(ctx: AdminContext, input: RulesInput): Promise<{ problems: ProblemView[]; content: Record<string, unknown> }> {
  const parsed = parseRulesInput(input.files ?? {}, await baseFiles(ctx, input.base));
  if (parsed.problems.length > 0) return { problems: parsed.problems, content: parsed.content };
  const copy = JSON.parse(JSON.stringify(parsed.content)) as Record<string, unknown>;
  return { problems: withLines(validateRuleFiles(copy), parsed.texts), content: parsed.content };
}

/** The rule set a request names: its files (over a base), a stored version, or the active version. */
async function candidate(ctx: AdminContext, input: RulesInput): Promise<{ rs: RuleSet; compiled: CompiledRules }> {
  let rs: RuleSet;
  if (input.files && Object.keys(input.files).length > 0) {
    const { problems, content } = await check(ctx, input);
    if (problems.length > 0) throw new RulesInvalid(problems);
    rs = ruleSetFromContent(content);
  } else if (input.version !== undefined) {
    rs = await ctx.rules.get(input.version);
  } else {
    rs = await ctx.rules.activeRuleSet();
  }
  return { rs, compiled: compileRuleSet(rs) };
}

const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;

/** One paragraph a risk analyst can read. */
export function backtestSummary(r: BacktestResult): string {
  if (r.total === 0) return 'No recent traffic to replay.';
  const delta = r.approvalRateDelta * 100;
  const sign = delta > 0 ? '+' : '';
  const moves = r.transitions
    .slice(0, 3)
    .map((t) => `${t.from} → ${t.to} (${t.count})`)
    .join(', ');
  return (
    `Of ${r.total} recent authorizations, ${r.changed} (${pct(r.changed / r.total)}) would be routed differently. ` +
    `Expected approval rate ${pct(r.expectedApprovalRate)} against ${pct(r.baselineApprovalRate)} observed (${sign}${delta.toFixed(1)} points).` +
    (moves ? ` Largest moves: ${moves}.` : '')
  );
}

export const rulesPlugin: FastifyPluginAsync<PluginOpts> = async (app, { ctx }) => {
  const { rules: store, audit } = ctx;
  const pendings = new PendingActivations(ctx.deps.pool);

  app.get<{ Querystring: { limit: number } }>(
    '/versions',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['rules'],
        summary: 'Rule versions, newest first, and the active one',
        querystring: { type: 'object', properties: { limit: limitQuery }, additionalProperties: false },
        response: {
          200: { type: 'object', properties: { active: { ...activeSchema, nullable: true }, versions: { type: 'array', items: versionInfoSchema } } },
          ...errors(400, 401),
        },
      },
    },
    async (req) => {
      const [versions, active] = await Promise.all([store.list(req.query.limit), store.active()]);
      const activeHash = active ? (versions.find((v) => v.version === active.version)?.hash ?? (await store.get(active.version)).hash) : null;
      return plain({
        active: active ? { ...active, hash: activeHash } : null,
        versions: versions.map((v) => ({ ...v, active: v.version === active?.version })),
      });
    },
  );

  app.get<{ Params: { version: number } }>(
    '/versions/:version',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['rules'],
        summary: 'One version: its files as objects and as YAML',
        params: versionParam,
        response: {
          200: {
            type: 'object',
            properties: {
              ...versionInfoSchema.properties,
              files: { type: 'object', additionalProperties: true },
              yaml: { type: 'object', additionalProperties: { type: 'string' } },
            },
          },
          ...errors(400, 401, 404),
        },
      },
    },
    async (req) => {
      const rs = await store.get(req.params.version);
      const info = (await store.list(1000)).find((v) => v.version === req.params.version);
      const active = await store.active();
      return plain({
        ...info,
        version: req.params.version,
        hash: rs.hash,
        active: active?.version === req.params.version,
        files: rs.files,
        yaml: filesToYaml(rs.files),
      });
    },
  );

  app.get<{ Querystring: { from: number; to?: number } }>(
    '/diff',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['rules'],
        summary: 'Line diff of two versions (to: default the active one), per file, as YAML',
        querystring: {
          type: 'object',
          properties: { from: { type: 'integer', minimum: 1 }, to: { type: 'integer', minimum: 1 } },
          required: ['from'],
          additionalProperties: false,
        },
        response: {
          200: {
            type: 'object',
            properties: {
              from: { type: 'integer' },
              to: { type: 'integer' },
              files: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    file: { type: 'string' },
                    changed: { type: 'boolean' },
                    added: { type: 'integer' },
                    removed: { type: 'integer' },
                    lines: { type: 'array', items: { type: 'object', properties: { op: { type: 'string' }, text: { type: 'string' } } } },
                  },
                },
              },
            },
          },
          ...errors(400, 401, 404, 409),
        },
      },
    },
    async (req) => {
      let to = req.query.to;
      if (to === undefined) {
        const a = await store.active();
        if (!a) throw new SwitchError('SW_ERR_RULES_NO_ACTIVE_VERSION');
        to = a.version;
      }
      const [a, b] = await Promise.all([store.get(req.query.from), store.get(to)]);
      return { from: req.query.from, to, files: diffRuleFiles(a.files, b.files) };
    },
  );

  app.post<{ Body: RulesInput }>(
    '/validate',
    {
      config: { permission: 'read', heavy: 'validate' },
      schema: {
        tags: ['rules'],
        summary: 'Validate rule files (YAML text or objects over a base version); problems name file, rule, path and line',
        body: { type: 'object', properties: { base: rulesInputProps.base, files: rulesInputProps.files }, required: ['files'], additionalProperties: false },
        response: {
          200: { type: 'object', properties: { valid: { type: 'boolean' }, hash: { type: 'string' }, problems: { type: 'array', items: problemSchema } } },
          ...errors(400, 401, 404),
        },
      },
    },
    async (req) => {
      const { problems, content } = await check(ctx, req.body);
      if (problems.length > 0) return { valid: false, problems };
      return { valid: true, hash: hashRuleFiles(content as unknown as RuleFiles), problems: [] };
    },
  );

  app.post<{ Body: RulesInput & { context: unknown } }>(
    '/evaluate',
    {
      config: { permission: 'read', heavy: 'evaluate' },
      schema: {
        tags: ['rules'],
        summary: 'Decide one sample authorization under a version or edited files: decision and explanation',
        body: {
          type: 'object',
          properties: {
            ...rulesInputProps,
            context: {
              type: 'object',
              additionalProperties: true,
              description:
                '{ bin, cardToken, amountMinor, currency, mcc?, merchantId, psp, at?, kind?, authentication? { entryMode, eci, threeDs }, metadata? }',
            },
          },
          required: ['context'],
          additionalProperties: false,
        },
        response: { 200: { type: 'object', additionalProperties: true }, ...errors(400, 401, 404, 409, 422) },
      },
    },
    async (req) => {
      const context = contextFromJson(req.body.context, '/context');
      const { compiled } = await candidate(ctx, req.body);
      const d = await new RoutingEngine({ rules: compiled }).decide(context);
      return plain(d);
    },
  );

  app.post<{ Body: RulesInput & { limit: number; seed: number; minSamples: number } }>(
    '/backtest',
    {
      config: { permission: 'read', heavy: 'backtest' },
      schema: {
        tags: ['rules'],
        summary: 'Re-decide recent traffic under a version or edited files; changed routes and expected approval rate',
        body: {
          type: 'object',
          properties: {
            ...rulesInputProps,
            limit: { type: 'integer', minimum: 1, maximum: 100_000, default: 1000 },
            seed: { type: 'integer', minimum: 0, default: 1 },
            minSamples: { type: 'integer', minimum: 1, default: 20 },
          },
          additionalProperties: false,
        },
        response: { 200: { type: 'object', additionalProperties: true }, ...errors(400, 401, 404, 409, 422, 501) },
      },
    },
    async (req) => {
      if (!ctx.deps.traffic) throw notConfigured('backtest traffic');
      const { compiled } = await candidate(ctx, req.body);
      const past = await ctx.deps.traffic.recent(req.body.limit);
      const r = await backtest(compiled, past, { seed: req.body.seed, minSamples: req.body.minSamples });
      return { ...r, summary: backtestSummary(r) };
    },
  );

  app.post<{ Body: { base?: number; files: Record<string, unknown>; comment?: string } }>(
    '/versions',
    {
      config: { permission: 'rules' },
      schema: {
        tags: ['rules'],
        summary: 'Store edited files (over a base version) as a new immutable version; audited',
        body: {
          type: 'object',
          properties: { base: rulesInputProps.base, files: rulesInputProps.files, comment: { type: 'string', maxLength: 500 } },
          required: ['files'],
          additionalProperties: false,
        },
        response: {
          200: { ...versionInfoSchema, properties: { ...versionInfoSchema.properties, created: { type: 'boolean' } } },
          201: { ...versionInfoSchema, properties: { ...versionInfoSchema.properties, created: { type: 'boolean' } } },
          ...errors(400, 401, 403, 404, 422),
        },
      },
    },
    async (req, reply) => {
      const p = who(req);
      const { problems, content } = await check(ctx, req.body);
      if (problems.length > 0) throw new RulesInvalid(problems);
      const v = await store.create(content, { author: p.name, comment: req.body.comment ?? '' });
      if (v.created) {
        await audit.record({
          actor: p.name,
          role: p.role,
          action: 'rules.create',
          target: `rules version ${v.version}`,
          beforeHash: null,
          afterHash: v.hash,
          detail: { version: v.version, base: req.body.base ?? null, comment: v.comment },
        });
      }
      return reply.code(v.created ? 201 : 200).send(plain({ ...v, active: false }));
    },
  );

  app.post<{ Params: { version: number }; Body: { comment?: string } }>(
    '/versions/:version/activate',
    {
      config: { permission: 'rules' },
      schema: {
        tags: ['rules'],
        summary: 'Make a version active on every instance (with maker-checker: propose it for an approver); audited',
        params: versionParam,
        body: { type: 'object', properties: { comment: { type: 'string', maxLength: 500 } }, additionalProperties: false },
        response: { 200: activeSchema, 202: pendingSchema, ...errors(400, 401, 403, 404, 422) },
      },
    },
    async (req, reply) => {
      const r = await activateOrPropose(ctx, who(req), req.params.version, req.body?.comment ?? '');
      return reply.code(r.status).send(r.body);
    },
  );

  app.get(
    '/pending',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['rules'],
        summary: 'Activations waiting for an approver, and the latest decided ones',
        response: {
          200: {
            type: 'object',
            properties: {
              makerChecker: { type: 'boolean' },
              pending: { type: 'array', items: pendingSchema },
              decided: { type: 'array', items: pendingSchema },
            },
          },
          ...errors(401),
        },
      },
    },
    async () => ({ makerChecker: ctx.deps.makerChecker === true, ...(await pendings.list(20)) }),
  );

  for (const decision of ['approve', 'reject'] as const) {
    app.post<{ Params: { id: number } }>(
      `/pending/:id/${decision}`,
      {
        config: { permission: 'approve' },
        schema: {
          tags: ['rules'],
          summary: decision === 'approve' ? 'Approve a proposed activation: it is made now; audited' : 'Reject a proposed activation; audited',
          params: { type: 'object', properties: { id: { type: 'integer', minimum: 1 } }, required: ['id'] },
          response: { 200: { type: 'object', additionalProperties: true }, ...errors(400, 401, 403, 404, 409, 422) },
        },
      },
      async (req) => {
        const p = who(req);
        const open = await pendings.get(req.params.id);
        if (!open) throw notFound('pending activation', req.params.id);
        if (open.proposedBy === p.name) throw new SwitchError('SW_ERR_ADMIN_SAME_PERSON', { actor: p.name });
        // claimed once, whichever instance or approver gets here first
        const decided = await pendings.decide(open.id, decision === 'approve' ? 'approved' : 'rejected', p.name);
        if (!decided) throw new SwitchError('SW_ERR_ADMIN_CONFLICT', { what: 'pending activation', id: open.id, reason: 'it was decided already' });
        if (decision === 'reject') {
          await audit.record({
            actor: p.name,
            role: p.role,
            action: 'rules.reject',
            target: `rules version ${open.version}`,
            detail: { version: open.version, pending: open.id, proposedBy: open.proposedBy },
          });
          return { pending: decided };
        }
        return { pending: decided, active: await activateAudited(ctx, p, open.version, open.comment, open.proposedBy) };
      },
    );
  }

  app.post<{ Body: { comment?: string } }>(
    '/rollback',
    {
      config: { permission: 'rules-rollback' },
      schema: {
        tags: ['rules'],
        summary: 'Re-activate the version active before the current one; audited',
        body: { type: 'object', properties: { comment: { type: 'string', maxLength: 500 } }, additionalProperties: false },
        response: { 200: activeSchema, ...errors(400, 401, 403, 404) },
      },
    },
    async (req) => {
      const p = who(req);
      const before = await activeHash(store);
      const previous = (await store.history(1))[0]?.previous ?? null;
      if (previous === null) throw new SwitchError('SW_ERR_RULES_VERSION_NOT_FOUND', { version: 'previous' });
      const after = (await store.get(previous)).hash;
      const comment = req.body?.comment ?? '';
      const a = await audit.change(
        {
          actor: p.name,
          role: p.role,
          action: 'rules.rollback',
          target: `rules version ${previous}`,
          beforeHash: before?.hash ?? null,
          afterHash: after,
          detail: { version: previous, previous: before?.version ?? null, comment },
        },
        () => store.activate(previous, { actor: p.name, comment }, 'rollback'),
      );
      return plain({ ...a, hash: after, changed: true });
    },
  );

  app.get<{ Querystring: { limit: number } }>(
    '/activations',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['rules'],
        summary: 'Activation and rollback history, newest first',
        querystring: { type: 'object', properties: { limit: limitQuery }, additionalProperties: false },
        response: {
          200: {
            type: 'object',
            properties: {
              activations: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    version: { type: 'integer' },
                    previous: { type: 'integer', nullable: true },
                    kind: { type: 'string' },
                    actor: { type: 'string' },
                    comment: { type: 'string' },
                    at: { type: 'string' },
                  },
                },
              },
            },
          },
          ...errors(400, 401),
        },
      },
    },
    async (req) => plain({ activations: await store.history(req.query.limit) }),
  );

  void notFound;
};
