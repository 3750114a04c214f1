import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import { parse as parseYaml } from 'yaml';
import { SwitchError } from '../../src/errors.js';

/** When a rule applies. All given conditions must hold. Amounts are DE4 in minor units. */
export interface RuleMatch {
  /** MTIs the rule applies to (default: 0100 and 0200). */
  mti?: string[];
  amountMin?: number;
  amountMax?: number;
  /** DE2 ends with this. */
  panSuffix?: string;
  /** DE41 equals this. */
  terminal?: string;
  /** DE3 starts with this. */
  processingCode?: string;
}

export interface Rule {
  when?: RuleMatch;
  /** DE39 to answer with (default: behaviour.defaultResponseCode). */
  respond?: string;
  /** answer (default), drop = never answer, reset = reset the connection instead of answering. */
  action?: 'answer' | 'drop' | 'reset';
  /** Extra delay before answering, on top of the latency distribution. */
  delayMs?: number;
  /** DE4 of the answer, in minor units (a partial approval, 10, names the amount approved this way). */
  approveAmount?: number;
  /** The available balance an approved balance inquiry (processing code 30) answers in DE54, minor units (default 100000). */
  balance?: number;
}

export type Latency =
  | { distribution: 'fixed'; ms: number }
  | { distribution: 'uniform'; minMs: number; maxMs: number }
  | { distribution: 'normal'; meanMs: number; stddevMs: number }
  | { distribution: 'exponential'; meanMs: number };

export interface OutageWindow {
  /** Start, in ms after the simulator started (or after the behaviour was set, for windows set at runtime). */
  startMs: number;
  durationMs: number;
  /** down: connections reset and new ones refused; silent: everything read, nothing answered. */
  mode: 'down' | 'silent';
}

export interface Faults {
  /** Probability that a financial request is never answered. */
  neverAnswer?: number;
  /** Probability that an answer is held back by delayMs more. */
  answerLate?: { probability: number; delayMs: number };
  /** Probability that a request makes the simulator reset (RST) its connection instead of answering. */
  resetConnections?: number;
  /** Accept connections but never read from them (half-open peer). */
  acceptNoRead?: boolean;
  /** Probability that an answer (not to 0800) is replaced by a frame of random bytes (valid length, garbage inside). */
  garbageFrames?: number;
  /** Probability that an answer is written in several pieces with pauses between them. */
  partialFrames?: number;
  /** Do not answer echoes (0800 DE70=301). */
  ignoreEchoes?: boolean;
  outages?: OutageWindow[];
}

export interface Behaviour {
  /** DE39 for requests no rule matches (default "00"). */
  defaultResponseCode: string;
  /** First match wins. */
  rules: Rule[];
  latency: Latency;
  faults: Faults;
}

/** TLS of the ISO 8583 port in a config file: PEM file paths (docs/network.md, "Acquirer link TLS"). */
export interface SimulatorFileTls {
  cert: string;
  key: string;
  /** CAs a client certificate must lead to; with requestCert. */
  ca?: string;
  requestCert?: boolean;
  minVersion?: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';
  maxVersion?: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';
  ciphers?: string;
}

export interface SimulatorFileConfig {
  listen?: { host?: string; port?: number };
  tls?: SimulatorFileTls;
  dialect?: string;
  framer?: { header?: 'binary2' | 'ascii4' | 'bcd2'; tpdu?: boolean };
  control?: { host?: string; port?: number } | false;
  seed?: number;
  behaviour?: Partial<Behaviour>;
  /** PIN check of DE52 (simulators/acquirer/pin.ts): the zone PIN key in clear hex, a test peer's only. */
  pin?: { zpk: string; pins?: Record<string, string>; pin?: string; wrongPinCode?: string };
}

export const DEFAULT_BEHAVIOUR: Behaviour = {
  defaultResponseCode: '00',
  rules: [],
  latency: { distribution: 'fixed', ms: 0 },
  faults: {},
};

// a 1987 response code, or a 3-digit ISO 8583:1993 action code a 1993 dialect sends as it is
const rc = { type: 'string', pattern: '^([0-9A-Z]{2}|[0-9]{3})$' } as const;
const prob = { type: 'number', minimum: 0, maximum: 1 } as const;
const ms = { type: 'number', minimum: 0 } as const;

const behaviourSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    defaultResponseCode: rc,
    rules: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        properties: {
          when: {
            type: 'object',
            additionalProperties: false,
            properties: {
              mti: { type: 'array', items: { type: 'string', pattern: '^[0-9]{4}$' } },
              amountMin: ms,
              amountMax: ms,
              panSuffix: { type: 'string', pattern: '^[0-9]{1,8}$' },
              terminal: { type: 'string' },
              processingCode: { type: 'string', pattern: '^[0-9]{1,6}$' },
            },
          },
          respond: rc,
          action: { enum: ['answer', 'drop', 'reset'] },
          delayMs: ms,
          approveAmount: { type: 'integer', minimum: 0, maximum: 999_999_999_999 },
          balance: { type: 'integer', minimum: 0, maximum: 999_999_999_999 },
        },
      },
    },
    latency: {
      oneOf: [
        { type: 'object', additionalProperties: false, required: ['distribution', 'ms'], properties: { distribution: { const: 'fixed' }, ms } },
        {
          type: 'object',
          additionalProperties: false,
          required: ['distribution', 'minMs', 'maxMs'],
          properties: { distribution: { const: 'uniform' }, minMs: ms, maxMs: ms },
        },
        {
          type: 'object',
          additionalProperties: false,
          required: ['distribution', 'meanMs', 'stddevMs'],
          properties: { distribution: { const: 'normal' }, meanMs: ms, stddevMs: ms },
        },
        {
          type: 'object',
          additionalProperties: false,
          required: ['distribution', 'meanMs'],
          properties: { distribution: { const: 'exponential' }, meanMs: ms },
        },
      ],
    },
    faults: {
      type: 'object',
      additionalProperties: false,
      properties: {
        neverAnswer: prob,
        answerLate: { type: 'object', additionalProperties: false, required: ['probability', 'delayMs'], properties: { probability: prob, delayMs: ms } },
        resetConnections: prob,
        acceptNoRead: { type: 'boolean' },
        garbageFrames: prob,
        partialFrames: prob,
        ignoreEchoes: { type: 'boolean' },
        outages: {
          type: 'array',
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['startMs', 'durationMs', 'mode'],
            properties: { startMs: ms, durationMs: ms, mode: { enum: ['down', 'silent'] } },
          },
        },
      },
    },
  },
} as const;

const tlsVersion = { enum: ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'] } as const;

const fileSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    listen: { type: 'object', additionalProperties: false, properties: { host: { type: 'string' }, port: { type: 'integer', minimum: 0, maximum: 65535 } } },
    tls: {
      type: 'object',
      additionalProperties: false,
      required: ['cert', 'key'],
      properties: {
        cert: { type: 'string', minLength: 1 },
        key: { type: 'string', minLength: 1 },
        ca: { type: 'string', minLength: 1 },
        requestCert: { type: 'boolean' },
        minVersion: tlsVersion,
        maxVersion: tlsVersion,
        ciphers: { type: 'string', minLength: 1 },
      },
    },
    dialect: { type: 'string' },
    framer: { type: 'object', additionalProperties: false, properties: { header: { enum: ['binary2', 'ascii4', 'bcd2'] }, tpdu: { type: 'boolean' } } },
    control: {
      oneOf: [
        { const: false },
        { type: 'object', additionalProperties: false, properties: { host: { type: 'string' }, port: { type: 'integer', minimum: 0, maximum: 65535 } } },
      ],
    },
    seed: { type: 'integer' },
    behaviour: behaviourSchema,
    pin: {
      type: 'object',
      additionalProperties: false,
      required: ['zpk'],
      properties: {
        zpk: { type: 'string', pattern: '^([0-9A-Fa-f]{32}|[0-9A-Fa-f]{48})$' },
        pins: { type: 'object', propertyNames: { pattern: '^[0-9]{8,19}$' }, additionalProperties: { type: 'string', pattern: '^[0-9]{4,12}$' } },
        pin: { type: 'string', pattern: '^[0-9]{4,12}$' },
        wrongPinCode: rc,
      },
    },
  },
} as const;

const ajv = new Ajv({ allErrors: false, strict: false });
const validateBehaviourFn = ajv.compile(behaviourSchema);
const validateFileFn = ajv.compile(fileSchema);

function check(fn: typeof validateBehaviourFn, value: unknown, root: string): void {
  if (!fn(value)) {
    const e = fn.errors?.[0];
    const path = `${root}${e?.instancePath ? e.instancePath.replace(/\//g, '.') : ''}`;
    const reason = e
      ? `${e.message ?? 'invalid'}${e.params && 'additionalProperty' in e.params ? ` (${String(e.params.additionalProperty)})` : ''}`
      : 'invalid';
    throw new SwitchError('SW_ERR_CONFIG_INVALID', { path, reason });
  }
}

/** Validates a (partial) behaviour; unknown keys are rejected. */
export function validateBehaviour(b: unknown, root = 'behaviour'): asserts b is Partial<Behaviour> {
  check(validateBehaviourFn, b, root);
}

/** Merges a partial behaviour over a full one; `faults` is merged key by key, everything else replaced. */
export function mergeBehaviour(base: Behaviour, patch: Partial<Behaviour>): Behaviour {
  return {
    defaultResponseCode: patch.defaultResponseCode ?? base.defaultResponseCode,
    rules: patch.rules ?? base.rules,
    latency: patch.latency ?? base.latency,
    faults: patch.faults ? { ...base.faults, ...patch.faults } : base.faults,
  };
}

export function parseSimulatorConfig(text: string): SimulatorFileConfig {
  let v: unknown;
  try {
    v = parseYaml(text);
  } catch (e) {
    throw new SwitchError('SW_ERR_CONFIG_INVALID', { path: '(yaml)', reason: e instanceof Error ? e.message.split('\n')[0] : 'parse error' });
  }
  check(validateFileFn, v ?? {}, 'config');
  return (v ?? {}) as SimulatorFileConfig;
}

export function loadSimulatorConfig(file: string): SimulatorFileConfig {
  return parseSimulatorConfig(readFileSync(file, 'utf8'));
}
