/** The risk-team console: static files from src/admin/console/, no build step. */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import type { FastifyPluginAsync } from 'fastify';
import type { PluginOpts } from '../http.js';

export const CONSOLE_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'console');
const FILES: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
};

export const consolePlugin: FastifyPluginAsync<PluginOpts> = async (app) => {
  app.get('/', { schema: { hide: true } }, async (_req, reply) => reply.redirect('/console/'));
  app.get<{ Params: { file?: string } }>('/console/:file?', { schema: { hide: true } }, async (req, reply) => {
    const file = req.params.file || 'index.html';
    const type = FILES[file];
    if (!type) return reply.code(404).send({ code: 'SW_ERR_ADMIN_NOT_FOUND', message: 'admin API: console file not found' });
    const body = await readFile(join(CONSOLE_DIR, file));
    return reply
      .type(type)
      .header('cache-control', 'no-store')
      .header('x-content-type-options', 'nosniff')
      .header('content-security-policy', "default-src 'self'; style-src 'self'; script-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
      .send(body);
  });
};
