/**
 * Trying the ordered candidates of a decision within one authorization. Only failures where the request
 * certainly never reached the acquirer move on to the next route (link not ready or closed, connection
 * refused, breaker open, local in-flight cap): after a timeout or a connection lost with the request in
 * flight the acquirer may have approved, so the switch must stop and reverse instead of paying twice.
 * Every attempt is registered with the failure detector (start at dispatch, finish or fail at the end).
 */
import { isSwitchError } from '../errors.js';
import type { FailureDetector, FailureKind } from './detector.js';
import type { RouteChoice } from './types.js';

/**
 * - `unsent`: never left the switch and says nothing about the acquirer (breaker open, local caps): next
 *   route, not counted by the detector.
 * - `fast`: never left, and the acquirer is unreachable (refused, link down): next route, counted at once.
 * - `timeout` / `error`: may have reached the acquirer: stop here.
 */
export type AttemptClass = 'unsent' | 'fast' | 'timeout' | 'error';

const UNSENT_CODES = new Set(['EOPENBREAKER', 'SW_ERR_LINK_INFLIGHT_LIMIT', 'SW_ERR_LINK_BACKPRESSURE', 'SW_ERR_LINK_DUPLICATE_KEY', 'SW_ERR_LINK_PACK_FAILED', 'SW_ERR_LINK_MISSING_KEY_FIELD']);
const FAST_CODES = new Set(['ECONNREFUSED', 'SW_ERR_LINK_NOT_READY', 'SW_ERR_LINK_CLOSED', 'ENOTCONN', 'EHOSTUNREACH', 'ENETUNREACH']);

/** Default classification by error code (SwitchError codes of src/net, Node socket codes, opossum). */
export function classifyAttemptError(err: unknown): AttemptClass {
  const code = isSwitchError(err) ? err.code : (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string') {
    if (UNSENT_CODES.has(code)) return 'unsent';
    if (FAST_CODES.has(code)) return 'fast';
    if (code === 'SW_ERR_LINK_TIMEOUT' || code === 'ETIMEDOUT' || code === 'ETIMEOUT') return 'timeout';
  }
  return 'error';
}

export interface AttemptLog {
  terminal: string;
  acquirer: string;
  outcome: 'ok' | AttemptClass;
  /** Error code when the attempt failed (never a message with values). */
  code?: string;
}

export type FailoverResult<T> =
  | { ok: true; route: RouteChoice; value: T; attempts: AttemptLog[] }
  | { ok: false; kind: 'exhausted' | 'timeout' | 'error'; route: RouteChoice | null; error: unknown; attempts: AttemptLog[] };

export interface FailoverOptions {
  detector?: FailureDetector;
  /** Time limit registered with the detector per route (the acquirer's response timeout). */
  timeoutMs?: (route: RouteChoice) => number;
  classify?: (err: unknown) => AttemptClass;
  /** At most this many routes are tried. Default: all. */
  maxAttempts?: number;
}

export async function dispatchWithFailover<T>(
  routes: readonly RouteChoice[],
  send: (route: RouteChoice) => Promise<T>,
  o: FailoverOptions = {},
): Promise<FailoverResult<T>> {
  const classify = o.classify ?? classifyAttemptError;
  const attempts: AttemptLog[] = [];
  const max = Math.min(routes.length, o.maxAttempts ?? routes.length);
  let lastError: unknown = null;
  for (let i = 0; i < max; i++) {
    const route = routes[i]!;
    const token = o.detector?.start([route.acquirer, route.terminal], o.timeoutMs?.(route));
    try {
      const value = await send(route);
      if (token) o.detector!.finish(token);
      attempts.push({ terminal: route.terminal, acquirer: route.acquirer, outcome: 'ok' });
      return { ok: true, route, value, attempts };
    } catch (err) {
      const cls = classify(err);
      const code = isSwitchError(err) ? err.code : (err as { code?: unknown } | null)?.code;
      const log: AttemptLog = { terminal: route.terminal, acquirer: route.acquirer, outcome: cls };
      if (typeof code === 'string') log.code = code;
      attempts.push(log);
      if (token) {
        if (cls === 'unsent') token.settled = true; // not the acquirer's fault: not counted
        else o.detector!.fail(token, cls as FailureKind);
      }
      lastError = err;
      if (cls === 'timeout' || cls === 'error') return { ok: false, kind: cls, route, error: err, attempts };
    }
  }
  return { ok: false, kind: 'exhausted', route: null, error: lastError, attempts };
}
