/**
 * The admin server: fastify, one plugin per area, JSON Schema on every route, OpenAPI at /docs/json and
 * Swagger UI at /docs, the risk-team console at /console/. Default bind 127.0.0.1:8080.
 *
 *   /health/live, /health/ready        public
 *   /metrics                           public, or any role with metricsAuth (admin.metricsAccess "token")
 *   /docs, /docs/*                     public, or any role with docsAuth (admin.docsAccess "token")
 *   /api/acquirers                     viewer+
 *   /api/rules/...                     reads and validate/evaluate/backtest: viewer+; create/activate: risk-editor;
 *                                      rollback: risk-editor or operator
 *   /api/transactions                  viewer+
 *   /api/ledger/...                    viewer+
 *   /api/saf/...                       reads viewer+; retry: operator
 *   /api/audit                         viewer+
 *
 * Optionally over TLS (admin.tls: src/admin/tls.ts). docs/admin.md has the settings, docs/security.md the reasons.
 */
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { errorSummary, isSwitchError, renderError, SwitchError } from '../errors.js';
import { RuleSetInvalidError } from '../routing/rules-loader.js';
import { RuleVersionStore, migrateRouting } from '../routing/versions.js';
import { registry as defaultRegistry } from '../metrics/index.js';
import { AuditLog, migrateAdmin } from './audit.js';
import { allowed, authenticate, type Permission } from './auth.js';
import { loadAdminTls, type AdminTlsConfig, type AdminTlsOptions } from './tls.js';
import type { AdminDeps } from './deps.js';
import type { AdminContext } from './http.js';
import { healthPlugin } from './plugins/health.js';
import { acquirersPlugin } from './plugins/acquirers.js';
import { rulesPlugin } from './plugins/rules.js';
import { transactionsPlugin } from './plugins/transactions.js';
import { ledgerPlugin } from './plugins/ledger.js';
import { safPlugin } from './plugins/saf.js';
import { controlsPlugin } from './plugins/controls.js';
import { tokensPlugin } from './plugins/tokens.js';
import { trafficPlugin } from './plugins/traffic.js';
import { HeavyRequestLimit } from './rate-limit.js';
import { auditPlugin } from './plugins/audit.js';
import { consolePlugin } from './plugins/console.js';

export const API_VERSION = '1';

export interface BuildOptions {
  /** Passed to fastify (default: no request logging; errors go to deps.logger). */
  bodyLimit?: number;
  /** Serve HTTPS with this certificate and key (loadAdminTls reads and checks them); absent: plain HTTP. */
  https?: AdminTlsOptions;
}

/** The Swagger UI and the OpenAPI document: every route the UI plugin registers under /docs, its static files too. */
const isDocsRoute = (url: string | undefined): boolean => url === '/docs' || (url?.startsWith('/docs/') ?? false);

export async function buildAdminApp(deps: AdminDeps, opts: BuildOptions = {}): Promise<FastifyInstance> {
  if (deps.migrate !== false) {
    await migrateAdmin(deps.pool);
    await migrateRouting(deps.pool);
  }
  const ctx: AdminContext = { deps, audit: new AuditLog(deps.pool), rules: deps.rules ?? new RuleVersionStore(deps.pool) };
  const app = Fastify({
    logger: false,
    bodyLimit: opts.bodyLimit ?? 1024 * 1024,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true, allErrors: false } },
    return503OnClosing: true,
    ...(opts.https ? { https: { cert: opts.https.cert, key: opts.https.key, minVersion: opts.https.minVersion } } : {}),
  });
  app.decorateRequest('principal', null);
  const heavyLimit = new HeavyRequestLimit(deps.heavyRequestsPerMinute ?? 30);

  app.addHook('onRequest', async (req, reply) => {
    const perm: Permission | undefined = req.routeOptions.config?.permission ?? (deps.docsAuth && isDocsRoute(req.routeOptions.url) ? 'read' : undefined);
    if (!perm) return;
    const h = req.headers.authorization;
    const m = typeof h === 'string' ? /^Bearer ([\x21-\x7e]{1,512})$/.exec(h) : null;
    if (!m) {
      void reply.header('www-authenticate', 'Bearer');
      throw new SwitchError('SW_ERR_ADMIN_UNAUTHORIZED', { reason: h ? 'Authorization header must be "Bearer <token>"' : 'a bearer token is required' });
    }
    const entry = authenticate(deps.tokens, m[1]!);
    const refuse = (reason: string): never => {
      void reply.header('www-authenticate', 'Bearer error="invalid_token"');
      throw new SwitchError('SW_ERR_ADMIN_UNAUTHORIZED', { reason });
    };
    if (!entry) return refuse('the token is not valid');
    if (entry.expiresAt && Date.parse(entry.expiresAt) <= Date.now()) return refuse(`the token expired at ${entry.expiresAt}`);
    // revoked on any instance: one key probe per request, so a revocation holds everywhere at once
    const revoked = await deps.pool.query('select 1 from admin_revoked_tokens where sha256 = $1', [entry.sha256]);
    if (revoked.rowCount) return refuse('the token was revoked');
    const p = { name: entry.name, role: entry.role };
    if (!allowed(p.role, perm)) throw new SwitchError('SW_ERR_ADMIN_FORBIDDEN', { role: p.role, action: `${req.method} ${req.routeOptions.url ?? ''}` });
    const heavy = req.routeOptions.config?.heavy;
    if (heavy) heavyLimit.take(p.name, heavy);
    req.principal = p;
  });

  // Access log: the route template (never the raw URL, which may hold an id typed by mistake), status, time, actor.
  app.addHook('onResponse', async (req, reply) => {
    deps.logger?.info(
      {
        event: 'admin_request',
        method: req.method,
        route: req.routeOptions.url ?? '(no route)',
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime * 10) / 10,
        actor: req.principal?.name ?? null,
      },
      'admin request',
    );
  });

  app.setErrorHandler((err: FastifyError | SwitchError | Error, req, reply) => {
    const fe = err as FastifyError;
    if (fe.validation && fe.validation.length > 0) {
      const v = fe.validation[0]!;
      const missing = (v.params as { missingProperty?: string } | undefined)?.missingProperty;
      const where = `${fe.validationContext ?? 'body'}${v.instancePath || ''}${missing ? `/${missing}` : ''}`;
      return reply
        .code(400)
        .send({ code: 'SW_ERR_ADMIN_BAD_REQUEST', message: renderError('SW_ERR_ADMIN_BAD_REQUEST', { path: where, reason: v.message ?? 'invalid' }) });
    }
    if (err instanceof RuleSetInvalidError) {
      return reply.code(err.httpStatus).send({ code: err.code, message: err.message, problems: err.problems });
    }
    if (isSwitchError(err)) {
      // the status is the code's own, from the registry (src/errors.ts)
      const status = err.httpStatus;
      if (status >= 500) deps.logger?.error({ err: errorSummary(err), route: req.routeOptions.url }, 'admin request failed');
      return reply.code(status).send({ code: err.code, message: err.message });
    }
    const sc = typeof fe.statusCode === 'number' ? fe.statusCode : 500;
    if (sc >= 400 && sc < 500) {
      // fastify's own 4xx (body not JSON, media type, body too large): never echo the body
      const reason =
        fe.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE'
          ? 'unsupported content type'
          : fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE'
            ? 'body too large'
            : fe.code === 'FST_ERR_CTP_EMPTY_JSON_BODY'
              ? 'body is empty'
              : fe.code?.startsWith('FST_ERR_CTP') || err instanceof SyntaxError
                ? 'body is not valid JSON'
                : 'bad request';
      return reply.code(sc).send({ code: 'SW_ERR_ADMIN_BAD_REQUEST', message: renderError('SW_ERR_ADMIN_BAD_REQUEST', { path: 'body', reason }) });
    }
    deps.logger?.error({ err: errorSummary(err), route: req.routeOptions.url }, 'admin request failed');
    return reply.code(500).send({ code: 'SW_ERR_ADMIN_INTERNAL', message: renderError('SW_ERR_ADMIN_INTERNAL', { reason: 'see the server log' }) });
  });

  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split('?')[0] ?? '';
    const e = new SwitchError('SW_ERR_ADMIN_NOT_FOUND', { what: 'route', id: `${req.method} ${path.replace(/[0-9]{12,19}/g, '[number]').slice(0, 80)}` });
    return reply.code(404).send({ code: e.code, message: e.message });
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'ISO 8583 switch admin API',
        version: API_VERSION,
        description: 'Rules, acquirers, transactions, ledger, SAF and audit. Bearer tokens with roles viewer, risk-editor, operator.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  await app.register(healthPlugin, { ctx });
  await app.register(acquirersPlugin, { ctx, prefix: '/api/acquirers' });
  await app.register(rulesPlugin, { ctx, prefix: '/api/rules' });
  await app.register(transactionsPlugin, { ctx, prefix: '/api/transactions' });
  await app.register(ledgerPlugin, { ctx, prefix: '/api/ledger' });
  await app.register(safPlugin, { ctx, prefix: '/api/saf' });
  await app.register(controlsPlugin, { ctx, prefix: '/api/controls' });
  await app.register(tokensPlugin, { ctx, prefix: '/api/tokens' });
  await app.register(trafficPlugin, { ctx, prefix: '/api/traffic' });
  await app.register(auditPlugin, { ctx, prefix: '/api/audit' });
  await app.register(consolePlugin, { ctx });
  void defaultRegistry;
  return app;
}

export interface AdminServer {
  app: FastifyInstance;
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Where and how the admin server listens: the `admin` part of the switch config fits (src/switch/config.ts). */
export interface AdminListenOptions {
  host?: string;
  port?: number;
  /** HTTPS with these PEM files; absent: plain HTTP. */
  tls?: AdminTlsConfig;
  /** "token": /metrics needs a bearer token of any role (as deps.metricsAuth). Default open. */
  metricsAccess?: 'open' | 'token';
  /** "token": /docs needs a bearer token of any role (as deps.docsAuth). Default open. */
  docsAccess?: 'open' | 'token';
}

/**
 * Build and listen (default 127.0.0.1:8080; port 0 picks a free one). With `tls`, the files are read and
 * checked first: one that cannot be used is SW_ERR_ADMIN_TLS naming it, before anything listens.
 */
export async function startAdminServer(deps: AdminDeps, listen: AdminListenOptions = {}): Promise<AdminServer> {
  const https = listen.tls ? await loadAdminTls(listen.tls) : undefined;
  const app = await buildAdminApp(
    {
      ...deps,
      metricsAuth: deps.metricsAuth === true || listen.metricsAccess === 'token',
      docsAuth: deps.docsAuth === true || listen.docsAccess === 'token',
    },
    https ? { https } : {},
  );
  const host = listen.host ?? '127.0.0.1';
  try {
    await app.listen({ host, port: listen.port ?? 8080 });
  } catch (e) {
    await app.close().catch(() => undefined);
    throw e;
  }
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : (listen.port ?? 8080);
  const url = `${https ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}`;
  return { app, url, port, close: () => app.close() };
}
