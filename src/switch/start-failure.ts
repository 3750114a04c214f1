/**
 * Why the switch did not start, as one line naming the cause and the fix (docs/switch.md, "When it does not
 * start"). `npm start` prints `switch failed to start: <line>` on stderr and exits 1; the errors below are
 * mapped to a start-up code of src/errors.ts, anything else is `SW_ERR_START_FAILED` with its own message.
 */
import { SwitchError, isSwitchError } from '../errors.js';

const LISTENERS: Record<string, { what: string; env: string; key: string; hostEnv: string; hostKey: string }> = {
  psp: { what: 'PSP', env: 'PSP_PORT', key: 'psp.port', hostEnv: 'PSP_HOST', hostKey: 'psp.host' },
  admin: { what: 'admin', env: 'ADMIN_PORT', key: 'admin.port', hostEnv: 'ADMIN_HOST', hostKey: 'admin.host' },
};

const RULE_CODES = new Set(['SW_ERR_RULES_INVALID', 'SW_ERR_RULES_READ', 'SW_ERR_RULES_REFERENCE', 'SW_ERR_LEDGER_FEES_INVALID']);
/** Already say what to do. */
const PASS_THROUGH = new Set([
  'SW_ERR_DB_EMBEDDED_FAILED',
  'SW_ERR_PAN_HASH_KEY',
  'SW_ERR_ADMIN_TLS',
  'SW_ERR_ADMIN_TOKEN_FILE',
  'SW_ERR_LINK_TLS_FILE',
  'SW_ERR_LINK_TLS_CONFIG',
  'SW_ERR_NET_TLS_CONFIG',
]);

const oneLine = (s: string): string => s.replace(/\s+/g, ' ').trim();

/** The start-up failure `e` as a SwitchError whose message is the line to print. */
export function startFailure(e: unknown, o: { rulesDir?: string } = {}): SwitchError {
  if (isSwitchError(e)) {
    if (e.code.startsWith('SW_ERR_START_') || PASS_THROUGH.has(e.code)) return e;
    const p = e.params;
    switch (e.code) {
      case 'SW_ERR_NET_LISTEN_FAILED': {
        const l = LISTENERS[String(p.server)];
        if (!l) break;
        if (p.reason === 'EADDRINUSE') return new SwitchError('SW_ERR_START_PORT_IN_USE', { what: l.what, port: p.port, env: l.env, key: l.key }, { cause: e });
        return new SwitchError(
          'SW_ERR_START_LISTEN',
          { what: l.what, host: p.host, port: p.port, reason: p.reason, env: `${l.hostEnv}/${l.env}`, key: `${l.hostKey}/${l.key}` },
          { cause: e },
        );
      }
      case 'SW_ERR_DB_UNAVAILABLE':
        return new SwitchError('SW_ERR_START_DATABASE', { target: p.target, reason: p.reason }, { cause: e });
      case 'SW_ERR_DB_LOGIN_REFUSED':
        return new SwitchError('SW_ERR_START_DATABASE_LOGIN', { target: p.target, reason: p.reason }, { cause: e });
      case 'SW_ERR_REDIS_UNAVAILABLE':
        return new SwitchError('SW_ERR_START_REDIS', { target: p.target, reason: p.reason }, { cause: e });
      case 'SW_ERR_CONFIG_INVALID': {
        const unknown = /^unknown key/.test(String(p.reason));
        const fix = unknown ? 'remove it or correct its spelling: docs/switch.md lists every key' : 'docs/switch.md lists every key and its values';
        return new SwitchError('SW_ERR_START_CONFIG', { path: p.path, reason: p.reason, fix }, { cause: e });
      }
      default:
        if (RULE_CODES.has(e.code)) return new SwitchError('SW_ERR_START_RULES', { dir: o.rulesDir ?? 'rules', reason: e.message }, { cause: e });
    }
    return new SwitchError('SW_ERR_START_FAILED', { reason: `${e.code}: ${oneLine(e.message)}` }, { cause: e });
  }
  const err = e as { code?: string; message?: string } | undefined;
  const text = oneLine(err?.message ?? String(e));
  return new SwitchError(
    'SW_ERR_START_FAILED',
    { reason: err?.code && !text.includes(err.code) ? `${err.code}: ${text}` : text || 'unknown error' },
    { cause: e },
  );
}

/** `switch failed to start: <cause> (<fix>) [CODE]`: one line. */
export function startFailureLine(e: unknown, o: { rulesDir?: string } = {}): string {
  const f = startFailure(e, o);
  return `switch failed to start: ${oneLine(f.message)} [${f.code}]`;
}
