/**
 * npm run send -- --pan 4111111111111111 --amount 12.34 --currency 978 --merchant SHOP1 --terminal T1 (see USAGE)
 *
 * Builds one request from the flags, sends it, prints request and response readably with the PAN masked.
 * Exit code 0 when an answer came back (whatever its response code), 2 when none did or on a usage error.
 */
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { maskMessage } from '../../src/iso8583/mask.js';
import { isSwitchError } from '../../src/errors.js';
import { framerByName } from '../../src/wire/framer.js';
import { parseCli } from '../../src/cli/args.js';
import { PspClient } from './client.js';
import { buildAuthorization, CONNECTION_FLAGS, CONNECTION_USAGE, describeResponseCode, formatMessage } from './common.js';

export const SEND_USAGE = `usage: npm run send -- [--pan N] [--amount 12.34] [options]

Sends one request to the switch (npm start's PSP port by default) and prints it and the answer, PAN masked.

options:
  --pan N              DE2 (default 4111111111111111; a PAN ending in 0002 is declined by the built-in simulators)
${CONNECTION_USAGE}
  --terminal ID        DE41 (default TERM0001)
  --mti MTI            0100 (default), 0200, …
  --stan N             DE11 (default: the next of the client's counter)
  --expiry YYMM        DE14
  --json               one JSON object instead of the readable text
  -h, --help           this text
exit codes: 0 an answer came back (whatever its code), 2 no answer or a usage error
`;

export const SEND_FLAGS = {
  ...CONNECTION_FLAGS,
  json: { type: 'boolean', default: false },
  terminal: { type: 'string' },
  mti: { type: 'string' },
  stan: { type: 'string' },
  expiry: { type: 'string' },
} as const;

export interface SendOptions {
  host: string;
  port: number;
  dialect: string;
  framer: string;
  timeoutMs: number;
  json: boolean;
  pan?: string;
  amount?: string;
  currency?: string;
  merchant?: string;
  terminal?: string;
  mti?: string;
  stan?: string;
  expiry?: string;
}

export function parseSendArgs(argv: string[]): SendOptions {
  const { values } = parseArgs({ args: argv, options: SEND_FLAGS, strict: true });
  const o: SendOptions = {
    host: values.host,
    port: Number(values.port),
    dialect: values.dialect,
    framer: values.framer,
    timeoutMs: Number(values.timeout),
    json: values.json,
  };
  for (const k of ['pan', 'amount', 'currency', 'merchant', 'terminal', 'mti', 'stan', 'expiry'] as const) {
    const v = values[k];
    if (v !== undefined) o[k] = v;
  }
  return o;
}

/** Sends once; returns the text to print and the exit code. */
export async function runSend(o: SendOptions): Promise<{ out: string; code: number }> {
  const client = await PspClient.connect({ host: o.host, port: o.port, dialect: o.dialect, framer: framerByName(o.framer), timeoutMs: o.timeoutMs });
  try {
    const stan = o.stan ? o.stan.padStart(6, '0') : client.stan.next();
    const req = buildAuthorization({
      stan,
      ...(o.pan ? { pan: o.pan } : {}),
      ...(o.amount ? { amount: o.amount } : {}),
      ...(o.currency ? { currency: o.currency } : {}),
      ...(o.merchant ? { merchant: o.merchant } : {}),
      ...(o.terminal ? { terminal: o.terminal } : {}),
      ...(o.mti ? { mti: o.mti } : {}),
      ...(o.expiry ? { expiry: o.expiry } : {}),
    });
    const t0 = performance.now();
    const resp = await client.send(req);
    const ms = Math.round((performance.now() - t0) * 10) / 10;
    const rc = resp.getString(39);
    if (o.json) {
      return { out: JSON.stringify({ request: maskMessage(req), response: maskMessage(resp), latency_ms: ms }), code: 0 };
    }
    const out = [
      `→ ${req.mti} to ${o.host}:${o.port} (${o.dialect}, ${o.framer})`,
      formatMessage(req, client.codec),
      `← ${resp.mti} in ${ms} ms: ${rc ?? '??'} ${describeResponseCode(rc)}`,
      formatMessage(resp, client.codec),
    ].join('\n');
    return { out, code: 0 };
  } finally {
    await client.close();
  }
}

async function main(): Promise<void> {
  parseCli({ name: 'send', usage: SEND_USAGE, options: SEND_FLAGS }); // --help, unknown options
  try {
    const { out, code } = await runSend(parseSendArgs(process.argv.slice(2)));
    process.stdout.write(out + '\n');
    process.exitCode = code;
  } catch (e) {
    process.stderr.write(`send failed: ${isSwitchError(e) ? `${e.code}: ${e.message}` : e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 2;
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) void main();
